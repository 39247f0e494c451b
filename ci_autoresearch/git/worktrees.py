"""Work trees: temporary detached worktrees, moving the checked-out branch, making a repository."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path

from ci_autoresearch.git._command import run_git


@contextlib.contextmanager
def worktree(repo: Path, sha: str, path: Path) -> Iterator[Path]:
    """A detached worktree of ``sha`` at ``path``, removed afterwards even on error or Ctrl-C."""
    run_git(repo, "worktree", "add", "--detach", "--force", "--quiet", "--", str(path), sha)
    try:
        yield path
    finally:
        worktree_remove(repo, str(path))
        worktree_prune(repo)


def worktree_paths(repo: Path) -> list[str] | None:
    """The paths of ``repo``'s worktrees (the main one first); None when git cannot list them."""
    res = run_git(repo, "worktree", "list", "--porcelain", check=False)
    if res.returncode != 0:
        return None
    lines = res.stdout.splitlines()
    return [line.removeprefix("worktree ") for line in lines if line.startswith("worktree ")]


def worktree_remove(repo: Path, path: str) -> None:
    """Remove the worktree at ``path`` even with changes in it (nothing happens when it is not one)."""
    run_git(repo, "worktree", "remove", "--force", "--", path, check=False)


def worktree_prune(repo: Path) -> None:
    """Forget worktrees whose folder is gone."""
    run_git(repo, "worktree", "prune", check=False)


def merge_ff_only(repo: Path, sha: str) -> None:
    """Move the checked-out branch (and its work tree) forward to ``sha``; :class:`GitError` otherwise."""
    run_git(repo, "merge", "--ff-only", "--quiet", sha)


def init(path: Path, *, branch: str, env: Mapping[str, str]) -> None:
    """A new repository at ``path`` whose first branch is ``branch``."""
    run_git(path, "init", "--quiet", f"--initial-branch={branch}", env=env)


def init_without_template(path: Path) -> None:
    """A new repository at ``path`` made without any template: no hooks, no sample files."""
    run_git(path, "init", "--quiet", "--template=")


def checkout_detached(repo: Path, sha: str) -> None:
    """Check out commit ``sha`` with a detached ``HEAD``."""
    run_git(repo, "checkout", "--quiet", "--detach", sha)


def add_all(repo: Path, *, env: Mapping[str, str]) -> None:
    """Stage every change of the work tree, new and deleted files included."""
    run_git(repo, "add", "-A", env=env)


def commit(repo: Path, message: str, *, env: Mapping[str, str], all_tracked: bool = False) -> None:
    """Commit the index (with ``all_tracked``: every change to tracked files) with ``message``."""
    run_git(repo, "commit", "--quiet", *(["-a"] if all_tracked else []), "-m", message, env=env)


def tag(repo: Path, name: str, *, env: Mapping[str, str]) -> None:
    """A lightweight tag ``name`` on ``HEAD``."""
    run_git(repo, "tag", name, env=env)


def checkout(repo: Path, branch: str, *, env: Mapping[str, str], start: str | None = None) -> None:
    """Check out ``branch``; with ``start``, a new branch made there."""
    new = ["-b", branch, start] if start is not None else [branch]
    run_git(repo, "checkout", "--quiet", *new, env=env)
