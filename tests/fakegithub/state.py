"""The fake's state: plain dataclasses, mutated only under the server's lock."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

#: A fixed clock start so that timestamps are reproducible; every event advances it by one second.
EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def fake_sha(*parts: object) -> str:
    """A deterministic 40-hex sha for made-up commits (merges, seeded branches)."""
    return hashlib.sha1("\0".join(map(str, parts)).encode()).hexdigest()


class Clock:
    """Deterministic time: each call to :meth:`now` is one second after the previous one."""

    def __init__(self, start: datetime = EPOCH) -> None:
        self._ticks = itertools.count()
        self._start = start

    def now(self) -> datetime:
        return self._start + timedelta(seconds=next(self._ticks))


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None
    default: bool = False


@dataclass
class Issue:
    """An issue or a pull request (GitHub numbers them together; a PR *is* an issue)."""

    number: int
    id: int
    title: str
    body: str | None
    user: str
    created_at: datetime
    updated_at: datetime
    state: str = "open"  # open | closed
    closed_at: datetime | None = None
    labels: list[str] = field(default_factory=list)  # names, in the order they were added
    # pull request only
    is_pull: bool = False
    head_ref: str = ""
    head_sha: str = ""
    head_owner: str = ""
    head_repo: str = ""  # owner/name of a fork's head repository; empty: the base repository
    base_ref: str = ""
    base_sha: str = ""
    draft: bool = False
    merged: bool = False
    merged_at: datetime | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    maintainer_can_modify: bool = False


@dataclass
class Comment:
    id: int
    issue_number: int
    body: str
    user: str
    created_at: datetime
    updated_at: datetime


@dataclass
class Status:
    id: int
    sha: str
    state: str
    context: str
    description: str | None
    target_url: str | None
    creator: str
    created_at: datetime
    updated_at: datetime


@dataclass
class CheckRun:
    id: int
    head_sha: str
    name: str
    status: str
    conclusion: str | None
    started_at: datetime | None
    completed_at: datetime | None
    details_url: str | None = None
    external_id: str | None = None
    output: dict[str, Any] = field(default_factory=dict)


@dataclass
class WorkflowRun:
    id: int
    name: str
    head_branch: str
    head_sha: str
    run_number: int
    created_at: datetime
    updated_at: datetime
    event: str = "push"
    status: str = "completed"
    conclusion: str | None = "success"
    path: str = ".github/workflows/autoresearch.yml"
    workflow_id: int = 1


@dataclass
class Artifact:
    id: int
    name: str
    data: bytes
    run_id: int
    head_branch: str
    head_sha: str
    created_at: datetime
    expires_at: datetime
    expired: bool = False

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    default_branch: str
    created_at: datetime
    private: bool = False
    refs: dict[str, str] = field(default_factory=dict)  # "refs/heads/main" -> sha
    parents: dict[str, list[str]] = field(default_factory=dict)  # known commit graph: sha -> parents
    messages: dict[str, str] = field(default_factory=dict)  # sha -> commit message, when known
    labels: dict[str, Label] = field(default_factory=dict)  # lower-cased name -> label
    issues: dict[int, Issue] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    statuses: list[Status] = field(default_factory=list)
    check_runs: dict[int, CheckRun] = field(default_factory=dict)
    runs: dict[int, WorkflowRun] = field(default_factory=dict)
    artifacts: dict[int, Artifact] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def branches(self) -> dict[str, str]:
        return {
            ref.removeprefix("refs/heads/"): sha
            for ref, sha in self.refs.items()
            if ref.startswith("refs/heads/")
        }

    def resolve(self, ref: str) -> str | None:
        """A sha for a sha, a branch name, ``heads/x``, ``refs/heads/x`` or a tag; ``None`` if unknown."""
        for candidate in (ref, f"refs/{ref}", f"refs/heads/{ref}", f"refs/tags/{ref}"):
            if candidate in self.refs:
                return self.refs[candidate]
        if len(ref) == 40 and all(c in "0123456789abcdef" for c in ref):
            return ref
        return None

    def ancestors(self, sha: str) -> list[str]:
        """``sha`` and its known ancestors, nearest first (breadth-first over the known graph)."""
        seen: list[str] = []
        queue = [sha]
        while queue:
            current = queue.pop(0)
            if current in seen:
                continue
            seen.append(current)
            queue.extend(self.parents.get(current, []))
        return seen
