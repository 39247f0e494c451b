"""The repository itself: where it and its git directory are, its files, what changed, its credentials."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ci_autoresearch.errors import GitError
from ci_autoresearch.git._command import git_out, run_git
from ci_autoresearch.git.refs import merge_base


def toplevel(path: Path) -> Path:
    """The root of the work tree containing ``path``."""
    res = run_git(path, "rev-parse", "--show-toplevel", check=False)
    if res.returncode != 0:
        raise GitError(
            f"{path} is not inside a git repository", hint="run it from your repository, or `git init`"
        )
    return Path(res.stdout.strip())


def common_dir(repo: Path) -> Path:
    """The git directory shared by every worktree of ``repo`` (``.git`` of the main worktree)."""
    return Path(git_out(repo, "rev-parse", "--path-format=absolute", "--git-common-dir"))


def git_dir(repo: Path) -> Path:
    """The git directory of ``repo``'s worktree (absolute; a linked worktree has its own)."""
    return Path(git_out(repo, "rev-parse", "--absolute-git-dir"))


def git_path(repo: Path, name: str) -> Path:
    """Where ``<git dir>/<name>`` is for ``repo`` (``git rev-parse --git-path``), as an absolute path."""
    path = Path(git_out(repo, "rev-parse", "--git-path", name))
    return path if path.is_absolute() else repo / path


def listed_files(repo: Path, patterns: Sequence[str] = ()) -> list[str]:
    """The work tree's files as git lists them: tracked and untracked, not ignored (unsorted); with
    ``patterns``, only those matching them (see :func:`pathspecs`)."""
    limit = ["--", *pathspecs(patterns)] if patterns else []
    out = run_git(repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard", *limit).stdout
    return [p for p in out.split("\0") if p]


def is_dirty(repo: Path) -> bool:
    """True when tracked files have uncommitted changes (untracked files do not count)."""
    return bool(git_out(repo, "status", "--porcelain", "--untracked-files=no"))


def pathspecs(patterns: Sequence[str]) -> list[str]:
    """Repository-relative glob patterns as git pathspecs: ``*`` stays within one folder, ``**`` crosses
    folders, and a folder's name (with or without a trailing ``/``) covers everything below it."""
    return [f":(top,glob){p}" for p in patterns]


def changed_files(repo: Path, base: str, candidate: str, patterns: Sequence[str]) -> list[tuple[str, str]]:
    """``(status, path)`` of the files matching ``patterns`` that the candidate changed since it forked
    from ``base``; status is git's letter (``A`` added, ``M`` modified, ``D`` deleted, ``T`` type
    changed). Renames count as a deletion and an addition."""
    if not patterns:
        return []
    fork = merge_base(repo, base, candidate) or base
    out = run_git(
        repo, "diff", "--name-status", "--no-renames", "-z", fork, candidate, "--", *pathspecs(patterns)
    ).stdout
    fields = out.split("\0")
    return [(fields[i][:1], fields[i + 1]) for i in range(0, len(fields) - 1, 2) if fields[i]]


_CREDENTIAL_KEYS = (
    r"^(http\..*\.extraheader|credential\..*|remote\..*\.(push)?url|url\..*\.(push)?insteadof)$"
)
_URL_WITH_CREDENTIALS = re.compile(r"://(?:[^/\s@:]+:[^/\s@]+|[^/\s@:]{20,})@")


def persisted_credentials(repo: Path) -> list[str]:
    """The keys of the repository's own configuration (includes followed) that hold a credential: what
    ``actions/checkout`` persists (``http.<url>.extraheader``), a credential helper or user name, a URL
    with a password or token in it. A job that runs candidate code must hold none of them."""
    res = run_git(repo, "config", "--local", "--includes", "--get-regexp", _CREDENTIAL_KEYS, check=False)
    found = []
    for line in res.stdout.splitlines():
        key, _, value = line.partition(" ")
        lowered = key.lower()
        header_or_helper = lowered.endswith(".extraheader") or lowered.startswith("credential.")
        if header_or_helper or _URL_WITH_CREDENTIALS.search(value):
            found.append(key)
    return sorted(set(found))
