"""The GitHub Actions runtime: step outputs, the step summary, workflow commands and the command files.

Everything here reads the environment it is given (a ``Mapping[str, str]``) and touches only the files
Actions names in it (``$GITHUB_OUTPUT``, ``$GITHUB_STEP_SUMMARY``) and stdout; the event payload is
read by :mod:`ci_autoresearch.actions.event`.
Workflow commands follow GitHub's toolkit (``@actions/core`` ``command.ts``): data escapes ``%``, CR
and LF; properties escape ``:`` and ``,`` as well.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ci_autoresearch.errors import BadInputError

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
