"""The GitHub Actions runtime: the event payload, step outputs, the step summary and workflow commands.

Everything here reads the environment it is given (a ``Mapping[str, str]``) and touches only the files
Actions names in it (``$GITHUB_EVENT_PATH``, ``$GITHUB_OUTPUT``, ``$GITHUB_STEP_SUMMARY``) and stdout.
Workflow commands follow GitHub's toolkit (``@actions/core`` ``command.ts``): data escapes ``%``, CR
and LF; properties escape ``:`` and ``,`` as well.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ci_autoresearch import bounds
from ci_autoresearch.errors import BadInputError

MAX_EVENT_BYTES = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB
MAX_SUMMARY_BYTES = 1024 * 1024  # a step summary larger than 1 MiB is refused by the runner
_OUTPUT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")

Level = Literal["error", "warning", "notice"]
Say = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def is_actions(env: Mapping[str, str]) -> bool:
    """True inside a GitHub Actions job (the one place that decides it)."""
    return env.get("GITHUB_ACTIONS") == "true"


def run_url(env: Mapping[str, str]) -> str | None:
    """``$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID``, when all three are set."""
    server = env.get("GITHUB_SERVER_URL", "").rstrip("/")
    repository = env.get("GITHUB_REPOSITORY", "")
    run_id = env.get("GITHUB_RUN_ID", "")
    if not (server and repository and run_id):
        return None
    return f"{server}/{repository}/actions/runs/{run_id}"


# --- the event payload ------------------------------------------------------------------------------


def load_event(env: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """``$GITHUB_EVENT_NAME`` and the JSON object at ``$GITHUB_EVENT_PATH`` (size-limited)."""
    name = env.get("GITHUB_EVENT_NAME", "")
    if not name:
        raise BadInputError(
            "GITHUB_EVENT_NAME is not set: expected the name of the event that started the run"
        )
    raw_path = env.get("GITHUB_EVENT_PATH", "")
    if not raw_path:
        raise BadInputError("GITHUB_EVENT_PATH is not set: expected the path of the event payload (JSON)")
    path = Path(raw_path)
    try:
        text = bounds.read_limited(path, MAX_EVENT_BYTES).decode("utf-8")  # /dev/zero is refused
    except FileNotFoundError:
        raise BadInputError(f"{path}: no such file (GITHUB_EVENT_PATH)") from None
    except bounds.BoundsError as err:
        raise BadInputError(f"{path}: the event payload {err}; refusing to read it") from None
    except (OSError, UnicodeDecodeError) as err:
        raise BadInputError(f"{path}: the event payload cannot be read ({err})") from None
    try:
        event = bounds.loads_json(text)
    except json.JSONDecodeError as err:
        raise BadInputError(
            f"{path}: the event payload is not JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        ) from None
    except bounds.BoundsError as err:
        raise BadInputError(f"{path}: the event payload: {err}") from None
    if not isinstance(event, dict):
        raise BadInputError(f"{path}: (top level): expected a JSON object, got {type(event).__name__}")
    check_event_shape(event, source=str(path))
    return name, event


# The payload fields the tool reads, with their types (``*``: every item of a list). A field of another
# type is bad input named in one line, before any code relies on it (``"repository": "x"``); numbers of
# pull requests and runs must be positive. Absent fields are left to the code that needs them.
_NULL = type(None)
_EVENT_FIELDS: Mapping[str, tuple[type, ...]] = {
    "action": (str,),
    "number": (int,),
    "ref": (str,),
    "before": (str,),
    "after": (str,),
    "deleted": (bool,),
    "inputs": (dict, _NULL),
    "label": (dict,),
    "label.name": (str,),
    "repository": (dict,),
    "repository.full_name": (str,),
    "repository.default_branch": (str,),
    "pull_request": (dict,),
    "pull_request.number": (int,),
    "pull_request.labels": (list,),
    "pull_request.labels.*": (dict,),
    "pull_request.labels.*.name": (str,),
    "pull_request.head": (dict,),
    "pull_request.head.ref": (str,),
    "pull_request.head.sha": (str,),
    "pull_request.head.repo": (dict, _NULL),
    "pull_request.head.repo.full_name": (str,),
    "pull_request.base": (dict,),
    "pull_request.base.ref": (str,),
    "pull_request.base.sha": (str,),
    "pull_request.base.repo": (dict,),
    "pull_request.base.repo.full_name": (str,),
    "workflow_run": (dict,),
    "workflow_run.id": (int,),
    "workflow_run.name": (str, _NULL),
    "workflow_run.event": (str,),
    "workflow_run.status": (str,),
    "workflow_run.conclusion": (str, _NULL),
    "workflow_run.head_branch": (str, _NULL),
    "workflow_run.head_sha": (str,),
    "workflow_run.head_repository": (dict, _NULL),
    "workflow_run.head_repository.full_name": (str,),
    "workflow_run.pull_requests": (list,),
    "workflow_run.pull_requests.*": (dict,),
    "workflow_run.pull_requests.*.number": (int,),
}
_POSITIVE = ("number", "pull_request.number", "workflow_run.id", "workflow_run.pull_requests.*.number")


def check_event_shape(event: Mapping[str, Any], *, source: str) -> None:
    """Refuse a payload whose fields the tool reads (:data:`_EVENT_FIELDS`) have the wrong type, or whose
    pull request or run numbers are not positive; one line naming the file and the key."""
    stack: list[tuple[str, str, Any]] = [("", "", event)]
    while stack:
        pattern, at, node = stack.pop()
        items = list(node.items()) if isinstance(node, dict) else [(i, v) for i, v in enumerate(node)]
        for key, value in items:
            spec = f"{pattern}.{'*' if isinstance(node, list) else key}".lstrip(".")
            kinds = _EVENT_FIELDS.get(spec)
            if kinds is None:
                continue
            where = f"{at}.{key}" if at else str(key)
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                names = " or ".join("null" if k is _NULL else _JSON_NAMES[k] for k in kinds)
                raise BadInputError(f"{source}: {where}: expected {names}, got {_json_name(value)}")
            if spec in _POSITIVE and isinstance(value, int) and not 1 <= value <= bounds.MAX_NUMBER:
                raise BadInputError(f"{source}: {where}: expected a positive integer, got {value}")
            if isinstance(value, dict | list):
                stack.append((spec, where, value))


_JSON_NAMES: Mapping[type, str] = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
}


def _json_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return "null" if value is None else _JSON_NAMES.get(type(value), type(value).__name__)


def _get(
    doc: Any, key: str, kind: type | tuple[type, ...], *, source: str, at: str = "", nullable: bool = False
) -> Any:
    """The value at dotted ``key`` of ``doc`` (found at ``at`` in the file ``source``), checked against
    ``kind``; one clear line naming the file and the full key when it is not."""
    value = doc
    full = f"{at}.{key}" if at else key
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise BadInputError(f"{source}: {full}: missing (is this the payload of the right event?)")
        value = value[part]
    if value is None and nullable:
        return None
    # bool is an int: never accept one where a number is expected
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        names = " or ".join(t.__name__ for t in _as_tuple(kind))
        raise BadInputError(f"{source}: {full}: expected {names}, got {type(value).__name__}")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _branch_of(ref: str) -> str | None:
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None


@dataclass(frozen=True, kw_only=True)
class PullInfo:
    """What a ``pull_request`` (or ``pull_request_target``) payload says about its pull request.

    ``head_repo_full_name`` is ``None`` when the head repository was deleted; ``is_fork`` is true when
    the head lives in another repository than the base (its code is untrusted, its jobs unprivileged).
    """

    number: int
    head_ref: str
    head_sha: str
    base_ref: str
    base_sha: str
    labels: tuple[str, ...]
    head_repo_full_name: str | None
    is_fork: bool


def pull_request_info(event: Mapping[str, Any], *, source: str = "event payload") -> PullInfo:
    """The pull request of a ``pull_request`` event."""
    pr = _get(event, "pull_request", dict, source=source)
    labels = _get(pr, "labels", list, source=source, at="pull_request")
    names = []
    for i, label in enumerate(labels):
        names.append(_get(label, "name", str, source=source, at=f"pull_request.labels.{i}"))
    head_repo = _get(pr, "head.repo", dict, source=source, at="pull_request", nullable=True)
    base_repo_name = _get(pr, "base.repo.full_name", str, source=source, at="pull_request")
    head_repo_name = None
    if head_repo is not None:
        head_repo_name = _get(head_repo, "full_name", str, source=source, at="pull_request.head.repo")
    number = _get(pr, "number", int, source=source, at="pull_request")
    if not 1 <= number <= bounds.MAX_NUMBER:
        raise BadInputError(f"{source}: pull_request.number: expected a positive integer, got {number}")
    return PullInfo(
        number=number,
        head_ref=_get(pr, "head.ref", str, source=source, at="pull_request"),
        head_sha=_get(pr, "head.sha", str, source=source, at="pull_request"),
        base_ref=_get(pr, "base.ref", str, source=source, at="pull_request"),
        base_sha=_get(pr, "base.sha", str, source=source, at="pull_request"),
        labels=tuple(names),
        head_repo_full_name=head_repo_name,
        is_fork=head_repo_name is None or head_repo_name.lower() != base_repo_name.lower(),
    )


@dataclass(frozen=True, kw_only=True)
class PushInfo:
    """A ``push``: the full ref, the branch (``None`` for a tag) and the sha it now points at."""

    ref: str
    branch: str | None
    after: str
    deleted: bool = False


def push_info(event: Mapping[str, Any], *, source: str = "event payload") -> PushInfo:
    ref = _get(event, "ref", str, source=source)
    deleted = event.get("deleted") is True
    return PushInfo(
        ref=ref, branch=_branch_of(ref), after=_get(event, "after", str, source=source), deleted=deleted
    )


@dataclass(frozen=True, kw_only=True)
class DispatchInfo:
    """A ``workflow_dispatch``: the ref it runs on and its inputs (all strings, as Actions passes them)."""

    ref: str
    branch: str | None
    inputs: Mapping[str, str]


def dispatch_info(event: Mapping[str, Any], *, source: str = "event payload") -> DispatchInfo:
    ref = _get(event, "ref", str, source=source)
    raw = _get(event, "inputs", dict, source=source, nullable=True) or {}
    inputs = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
    return DispatchInfo(ref=ref, branch=_branch_of(ref), inputs=inputs)


@dataclass(frozen=True, kw_only=True)
class WorkflowRunInfo:
    """The run a ``workflow_run`` event reports on (the privileged job that posts a fork's results).

    ``pull_numbers`` is empty for fork pull requests (GitHub does not list them): find the PR by
    ``head_repo_full_name`` and ``head_branch`` instead. Everything here is untrusted input.
    """

    id: int
    name: str
    event: str
    status: str
    conclusion: str | None
    head_branch: str | None
    head_sha: str
    head_repo_full_name: str | None
    pull_numbers: tuple[int, ...]


def workflow_run_info(event: Mapping[str, Any], *, source: str = "event payload") -> WorkflowRunInfo:
    run = _get(event, "workflow_run", dict, source=source)
    pulls = _get(run, "pull_requests", list, source=source, at="workflow_run")
    head_repo = _get(run, "head_repository", dict, source=source, at="workflow_run", nullable=True)
    return WorkflowRunInfo(
        id=_get(run, "id", int, source=source, at="workflow_run"),
        name=_get(run, "name", str, source=source, at="workflow_run", nullable=True) or "",
        event=_get(run, "event", str, source=source, at="workflow_run"),
        status=_get(run, "status", str, source=source, at="workflow_run"),
        conclusion=_get(run, "conclusion", str, source=source, at="workflow_run", nullable=True),
        head_branch=_get(run, "head_branch", str, source=source, at="workflow_run", nullable=True),
        head_sha=_get(run, "head_sha", str, source=source, at="workflow_run"),
        head_repo_full_name=None
        if head_repo is None
        else _get(head_repo, "full_name", str, source=source, at="workflow_run"),
        pull_numbers=tuple(
            _get(p, "number", int, source=source, at=f"workflow_run.pull_requests.{i}")
            for i, p in enumerate(pulls)
        ),
    )


# --- files: outputs and the step summary ------------------------------------------------------------


def _new_delimiter() -> str:
    return f"ghadelimiter_{uuid.uuid4()}"


def format_output(name: str, value: str, *, delimiter: Callable[[], str] = _new_delimiter) -> str:
    """One output in the multi-line-safe ``name<<DELIMITER`` form (a delimiter the value does not hold)."""
    if not _OUTPUT_NAME.fullmatch(name):
        raise ValueError(f"invalid output name {name!r}: letters, digits, '_' and '-' only")
    delim = delimiter()
    while delim in value or delim in name:
        delim = delimiter()
    return f"{name}<<{delim}\n{value}\n{delim}\n"


def write_outputs(
    env: Mapping[str, str],
    outputs: Mapping[str, str],
    *,
    warn: Say = _stderr,
    delimiter: Callable[[], str] = _new_delimiter,
) -> bool:
    """Append ``outputs`` to ``$GITHUB_OUTPUT``; False (and one warning line) when it is not set."""
    target = env.get("GITHUB_OUTPUT", "")
    if not target:
        if outputs:
            warn(f"warning: GITHUB_OUTPUT is not set; outputs not written: {', '.join(outputs)}")
        return False
    text = "".join(format_output(name, value, delimiter=delimiter) for name, value in outputs.items())
    _append_file(target, text, what="GITHUB_OUTPUT")
    return True


def _append_file(target: str, text: str, *, what: str) -> None:
    """Append ``text`` to the file Actions named in ``$what``; one clear line when that fails.

    Opened without blocking and refused unless it is a regular file (a FIFO with no reader would block,
    ``/dev/full`` would fail half-way). Called after the work is done and its results saved, so the
    error says so.
    """
    flags = (
        os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    )
    data = text.encode("utf-8")
    try:
        fd = os.open(target, flags, 0o644)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise BadInputError(f"{target} ({what}): not a regular file; nothing written there")
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise BadInputError(
            f"{target} ({what}): cannot be written ({reason}); the results are saved, only this file "
            "was not written"
        ) from None


def append_summary(env: Mapping[str, str], markdown: str, *, warn: Say = _stderr) -> bool:
    """Append ``markdown`` to ``$GITHUB_STEP_SUMMARY`` (cut to 1 MiB); False when it is not set."""
    target = env.get("GITHUB_STEP_SUMMARY", "")
    if not target:
        warn("warning: GITHUB_STEP_SUMMARY is not set; the step summary was not written")
        return False
    data = markdown if markdown.endswith("\n") else markdown + "\n"
    if len(data.encode("utf-8")) > MAX_SUMMARY_BYTES:
        note = "\n\n*(cut: the step summary is limited to 1 MiB)*\n"
        budget = MAX_SUMMARY_BYTES - len(note.encode("utf-8"))
        data = data.encode("utf-8")[:budget].decode("utf-8", errors="ignore") + note
    _append_file(target, data, what="GITHUB_STEP_SUMMARY")
    return True


# --- workflow commands (stdout) ---------------------------------------------------------------------


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


class WorkflowCommand(str):
    """A workflow command this tool made itself (its data escaped): printed as it is. Every other line
    goes through :func:`safe_say`, which makes it inert."""


def safe_say(echo: Say, *, env: Mapping[str, str]) -> Say:
    """``echo`` for lines that may quote untrusted text: the tool's own workflow commands pass, anything
    else that could act as one is made inert (:func:`inert`)."""

    def say(line: str) -> None:
        echo(line if isinstance(line, WorkflowCommand) else inert(line, env=env))

    return say


def annotation(
    level: Level, message: str, *, title: str | None = None, file: str | None = None, line: int | None = None
) -> str:
    """``::error title=…,file=…,line=…::message``, escaped as GitHub's toolkit does (and in its order)."""
    if level not in ("error", "warning", "notice"):
        raise ValueError(f"annotation level must be error, warning or notice, not {level!r}")
    props = [(k, v) for k, v in (("title", title), ("file", file), ("line", line)) if v is not None]
    head = f"::{level}"
    if props:
        head += " " + ",".join(f"{k}={escape_property(str(v))}" for k, v in props)
    return WorkflowCommand(f"{head}::{escape_data(message)}")


@contextmanager
def group(title: str, *, env: Mapping[str, str], say: Say = print) -> Iterator[None]:
    """A collapsible log group in Actions (``::group::`` … ``::endgroup::``); a plain heading elsewhere."""
    if not is_actions(env):
        say(f"== {title}")
        yield
        return
    say(WorkflowCommand(f"::group::{escape_data(title)}"))
    try:
        yield
    finally:
        say(WorkflowCommand("::endgroup::"))


def mask(value: str, *, env: Mapping[str, str], say: Say = print) -> None:
    """Ask the runner to hide ``value`` in the log (each line of a multi-line value on its own).

    Outside Actions nothing is printed: echoing a secret to a terminal or another CI's log would leak it.
    """
    if not is_actions(env):
        return
    for part in value.splitlines():
        if part.strip():
            say(WorkflowCommand(f"::add-mask::{escape_data(part)}"))


# --- the runner's command files, guarded while candidate code runs ----------------------------------

COMMAND_FILES = ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_STATE")
MAX_GUARDED_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class CommandFiles:
    """The runner's command files as they were before candidate code ran.

    Candidate processes never get these variables, but code in a job can find the files (they are named
    in this process's environment, readable through ``/proc``). Writing to ``$GITHUB_ENV`` would set the
    environment of every later step, ``$GITHUB_OUTPUT`` would forge this tool's outputs: after candidate
    code has finished, :meth:`restore` puts each file back as it was and names the ones that changed.
    """

    saved: Mapping[str, tuple[Path, bytes | None]]

    @classmethod
    def snapshot(cls, env: Mapping[str, str]) -> CommandFiles:
        saved: dict[str, tuple[Path, bytes | None]] = {}
        for name in COMMAND_FILES:
            raw = env.get(name, "")
            if not raw:
                continue
            path = Path(raw)
            try:
                if path.stat().st_size > MAX_GUARDED_BYTES:
                    continue
                data: bytes | None = path.read_bytes()
            except FileNotFoundError:
                data = None
            except OSError:
                continue
            saved[name] = (path, data)
        return cls(saved=saved)

    def restore(self) -> list[str]:
        """Put every guarded file back; the names of those candidate code changed."""
        changed = []
        for name, (path, data) in self.saved.items():
            try:
                now = path.read_bytes() if path.exists() else None
            except OSError:
                now = b""
            if now == data:
                continue
            changed.append(name)
            try:
                if data is None:
                    path.unlink(missing_ok=True)
                else:
                    path.write_bytes(data)
            except OSError:
                pass  # reported as changed; the caller makes the evaluation invalid
        return changed


# --- untrusted text in the log ----------------------------------------------------------------------

_COMMAND_LINE = re.compile(r"^\s*::|##\[", re.MULTILINE)


def could_be_command(text: str) -> bool:
    """Whether the runner could read a line of ``text`` as a workflow command (``::name::`` at the start
    of a line, after blanks, or the legacy ``##[name]`` anywhere)."""
    return bool(_COMMAND_LINE.search(text))


def inert(text: str, *, env: Mapping[str, str], token: Callable[[], str] = lambda: uuid.uuid4().hex) -> str:
    """``text`` (echoed commands, candidate output, reasons quoting them) made safe to print in a job log.

    In Actions, when a line of it could be read as a workflow command (``::add-mask::``, ``::error``,
    ``::stop-commands::``…), the whole text is put between ``::stop-commands::<token>`` and
    ``::<token>::`` with a fresh random token the text does not hold, so the runner processes none of it.
    Elsewhere, and for harmless text, it is returned unchanged.
    """
    if not is_actions(env) or not could_be_command(text):
        return text
    stop = token()
    while stop in text:
        stop = token()
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"::stop-commands::{stop}\n{body}::{stop}::" + ("\n" if text.endswith("\n") else "")


def inert_json(text: str, *, env: Mapping[str, str]) -> str:
    """JSON text made safe to print in a job log without changing what it means.

    JSON printed with ``ensure_ascii`` has no raw line break inside a string, and none of its lines
    starts with ``::``; the legacy ``##[command]`` form can only sit inside a string, where ``#`` is
    written ``\\u0023`` instead. Unlike :func:`inert`, nothing is added around it: it still parses.
    """
    return text.replace("##[", "\\u0023#[") if is_actions(env) else text
