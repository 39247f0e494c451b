"""The event that started the job: ``$GITHUB_EVENT_NAME`` and the payload at ``$GITHUB_EVENT_PATH``.

The payload is untrusted input of bounded size: loaded once, its fields checked against the types the tool
reads (one line naming the file and the key when one is wrong), then read through the typed views below
(``PullInfo``, ``PushInfo``, ``DispatchInfo``, ``WorkflowRunInfo``): the one place that parses it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci_autoresearch import bounds
from ci_autoresearch.errors import BadInputError

MAX_EVENT_BYTES = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB


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


def pull_request_action(event: Mapping[str, Any]) -> tuple[str, str | None]:
    """What happened to the pull request (``opened``, ``labeled``, …) and, for ``labeled``, the label
    added (None when the payload names none)."""
    label = event.get("label")
    added = str(label.get("name", "")) if isinstance(label, dict) else None
    return str(event.get("action", "")), added


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


def default_branch(event: Mapping[str, Any]) -> str:
    """The repository's default branch as the payload names it; ``main`` when it names none."""
    repository = event.get("repository")
    default = repository.get("default_branch") if isinstance(repository, dict) else None
    return str(default or "main")
