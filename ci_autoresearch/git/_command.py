"""The one way the tool starts git: :data:`SAFE_OPTIONS` on every command, errors as :class:`GitError`."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

from ci_autoresearch.errors import BadInputError, GitError
from ci_autoresearch.measure.runner import ToolResult, run_tool

# Options of every git command the tool runs. Candidate code may have written the repository's
# configuration or hooks (worktrees share the git directory), so the tool's own commands never run a
# hook, an fsmonitor program, an `ext::` transport or a signing program; nothing here depends on them.
SAFE_OPTIONS = (
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.fsmonitor=false",
    "-c", "protocol.ext.allow=never",
    "-c", "commit.gpgSign=false",
    "-c", "tag.gpgSign=false",
)  # fmt: skip


def run_git(
    repo: Path,
    *args: str,
    check: bool = True,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ToolResult:
    """``git <SAFE_OPTIONS> <args>`` in ``repo``; with ``check``, a failure is a one-line GitError."""
    try:
        return run_tool(["git", *SAFE_OPTIONS, *args], cwd=repo, input=input, check=check, env=env)
    except BadInputError as err:  # name the command as the user would type it
        raise GitError(err.message.replace(f"git {shlex.join(SAFE_OPTIONS)} ", "git ")) from err


def git_out(repo: Path, *args: str) -> str:
    """The stripped standard output of a git command that must succeed."""
    return run_git(repo, *args).stdout.strip()
