"""Helpers shared by the integration tests: real git repositories and running the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean environment for child processes: the source tree importable, git identity fixed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "ACTIONS_"))}
    env.update(GIT_ENV)
    env["PYTHONPATH"] = str(ROOT)
    env["PATH"] = python_path(env.get("PATH", ""))
    env.pop("CI", None)
    env["HOME"] = env.get("HOME", "/tmp")
    if extra:
        env.update(extra)
    return env


def python_path(path: str) -> str:
    """``path`` with the directory of the Python running the tests in front, as an activated venv has it.

    The benchmarks of the test repositories run ``python3``: this makes it the interpreter itself, not
    a version manager's shim (a pyenv shim is a shell script that starts pyenv first, which made every
    benchmark run several times slower than the process it measures)."""
    first = str(Path(sys.executable).parent)
    return first if not path else f"{first}{os.pathsep}{path}"


def git(repo: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    out = subprocess.run(
        ["git", *args], cwd=repo, env=base_env(env), check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def make_repo(path: Path, files: Mapping[str, str], *, branch: str = "main") -> Path:
    """A real git repository at ``path`` with ``files`` committed on ``branch``."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", branch)
    git(path, "config", "user.name", "Test")
    git(path, "config", "user.email", "test@example.invalid")
    write_files(path, files)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def write_files(repo: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        p = repo / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def commit_branch(
    repo: Path, branch: str, files: Mapping[str, str], *, start: str = "main", message: str | None = None
) -> str:
    """Commit ``files`` on ``branch`` (made from ``start`` when new) and return its sha.

    ``start`` is checked out again afterwards."""
    exists = (
        subprocess.run(
            ["git", "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
            cwd=repo,
            env=base_env(),
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    git(repo, "checkout", "-q", *([branch] if exists else ["-b", branch, start]))
    write_files(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message or f"candidate {branch}")
    sha = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", start)
    return sha


def cli(
    args: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI (``python -m ci_autoresearch``) as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "ci_autoresearch", *args],
        cwd=cwd,
        env=base_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
