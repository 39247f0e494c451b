"""Where the tool keeps its working files: one place, inside the git directory.

Run logs, the local forge's records and reports, the history cache and the proposal generators' ledgers
live under ``<git common dir>/autoresearch/`` (``.git/autoresearch/`` in a plain clone), so they never
show up as untracked files in the user's repository, are shared by every worktree of it, and go away
with the clone. Nothing there is a source of truth: git notes are.
"""

from __future__ import annotations

from pathlib import Path

from ci_autoresearch import git

STATE_DIR_NAME = "autoresearch"


def state_dir(repo: Path) -> Path:
    """The directory of the tool's working files for ``repo`` (created on first use by the writers)."""
    return git.common_dir(repo) / STATE_DIR_NAME


def runs_dir(repo: Path) -> Path:
    """Where the logs of every measured process go, one folder per command invocation."""
    return state_dir(repo) / "runs"
