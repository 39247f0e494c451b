"""After a kill: what a run finds on start and puts right before it measures anything.

A run can be killed at any instant (``kill -9``, a lost runner). Every effect after an evaluation note
is re-derivable from the notes, so on start the tool

* removes its own stale checkouts and temporary folders: each is created by :func:`owned_tempdir`
  with an owner file naming the process; a folder whose process is gone is removed, and git forgets
  worktrees whose folder is gone (``git worktree prune``);
* names a stale ``refs/notes/autoresearch.lock`` (left by a git killed while writing a note) and clears
  it where that is provably safe (:func:`check_ref_locks`);
* records evaluations that were measured but could not be written as notes (:func:`save_unrecorded`,
  :func:`replay_unrecorded`);
* keeps the run logs under a size budget (:func:`prune_logs`).

The loop then reconciles the notes with the refs they imply (archive refs of discarded candidates,
the working branch of a kept one).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ci_autoresearch import git
from ci_autoresearch.errors import GitError
from ci_autoresearch.history.state import state_dir

OWNER_FILE = ".autoresearch-owner"
TEMP_PREFIX = "autoresearch-"
LOCK_MIN_AGE = 2.0
"""Seconds a lock file must have existed before it can be judged stale (a git may be starting)."""
LOG_BUDGET_BYTES = 512 * 1024 * 1024
"""Run logs under the state directory's ``runs`` beyond this are removed, oldest first."""

Say = Callable[[str], None]


def _say_nothing(_: str) -> None:
    return None


# --- owned temporary folders -------------------------------------------------------------------------


def _start_time(pid: int) -> str | None:
    """The start time of ``pid`` (clock ticks since boot, Linux), or None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().decode("ascii", "replace").rsplit(")", 1)[-1].split()
    except OSError:
        return None
    return fields[19] if len(fields) > 19 else None


def _owner() -> dict[str, object]:
    return {"pid": os.getpid(), "start": _start_time(os.getpid()), "host": socket.gethostname()}


def _owner_gone(owner: object) -> bool:
    """True when the process that wrote ``owner`` is provably gone (same host, pid dead or reused)."""
    if not isinstance(owner, dict) or owner.get("host") != socket.gethostname():
        return False
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    start = _start_time(pid)
    if start is not None:
        return owner.get("start") is not None and start != owner.get("start")
    if Path("/proc/self").exists():
        return True  # /proc works and has no such process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def remove_tree(path: Path) -> None:
    """``shutil.rmtree`` that also removes what a candidate made read-only; errors are ignored."""

    def retry(func: Callable[..., object], name: str, _exc: object) -> None:
        with contextlib.suppress(OSError):
            Path(name).parent.chmod(stat.S_IRWXU)
            if not Path(name).is_symlink():
                Path(name).chmod(stat.S_IRWXU)
            func(name)

    if path.is_symlink() or not path.is_dir():
        with contextlib.suppress(OSError):
            path.unlink()
        return
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=retry)
    else:
        shutil.rmtree(path, onerror=retry)


@contextlib.contextmanager
def owned_tempdir(prefix: str = TEMP_PREFIX) -> Iterator[Path]:
    """A temporary folder with an owner file, removed afterwards; a later run removes it if we die."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        (path / OWNER_FILE).write_text(json.dumps(_owner()))
        yield path
    finally:
        remove_tree(path)


def prune_stale(repo: Path | None, *, say: Say = _say_nothing) -> list[Path]:
    """Remove temporary folders of ours whose process is gone, and the worktrees registered in them.

    Returns the folders removed. Folders without an owner file, or of a live process, are left alone.
    """
    removed: list[Path] = []
    root = Path(tempfile.gettempdir())
    try:
        entries = [p for p in root.iterdir() if p.name.startswith(TEMP_PREFIX)]
    except OSError:
        entries = []
    for folder in entries:
        try:
            owner = json.loads((folder / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if _owner_gone(owner):
            remove_tree(folder)
            removed.append(folder)
    if repo is not None:
        _prune_worktrees(repo, removed)
    if removed:
        say(f"removed {len(removed)} checkout folder(s) left by an interrupted run: {removed[0]}")
    return removed


def _prune_worktrees(repo: Path, removed: list[Path]) -> None:
    paths = git.worktree_paths(repo)
    if paths is None:
        return
    inside = [str(p) for p in removed]
    for path in paths:
        if any(path == p or path.startswith(p + os.sep) for p in inside):
            git.worktree_remove(repo, path)
    git.worktree_prune(repo)


# --- one measuring process per repository ---------------------------------------------------------

_HELD: dict[str, list[int]] = {}  # lock file → [fd, depth]: reentrant within this process


@contextlib.contextmanager
def repo_lock(repo: Path) -> Iterator[None]:
    """Hold ``<git dir>/ci-autoresearch.lock`` (``flock``) while measuring in or writing to ``repo``.

    The repository guard takes any change to the refs during a candidate run for the candidate's, and
    puts it back: a second ci-autoresearch process writing notes meanwhile would lose them. So one
    process measures in a repository at a time; another stops at once with a :class:`GitError` naming
    the holder. The kernel releases the lock when its process dies: it is never stale.
    """
    path = str(git.common_dir(repo) / "ci-autoresearch.lock")
    held = _HELD.get(path)
    if held is not None:
        held[1] += 1
        try:
            yield
        finally:
            held[1] -= 1
        return
    import fcntl  # noqa: PLC0415 - POSIX only, like the rest of the process handling

    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
        os.close(fd)
        raise GitError(
            f"{path}: another ci-autoresearch process (pid {holder}) is measuring in this repository",
            hint="run one at a time; the lock goes away with that process",
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    _HELD[path] = [fd, 1]
    try:
        yield
    finally:
        del _HELD[path]
        os.close(fd)  # closing the only descriptor releases the flock


# --- stale ref locks ---------------------------------------------------------------------------------


def _git_processes_in(places: list[Path]) -> list[int] | None:
    """Pids of git processes that may be working in ``places``; None when that cannot be known."""
    proc = Path("/proc")
    if not (proc / "self").exists():
        return None
    found: list[int] = []
    me = os.getpid()
    texts = [str(p) for p in places]
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue  # gone meanwhile
        if not (comm == "git" or comm.startswith("git-")):
            continue
        try:
            cwd = str((entry / "cwd").readlink())
        except PermissionError:
            return None  # another user's git: where it works cannot be seen
        except OSError:
            continue  # gone meanwhile, or a zombie: it holds nothing
        if any(cwd == t or cwd.startswith(t + os.sep) or t in cmdline for t in texts):
            found.append(int(entry.name))
    return found


def check_ref_locks(repo: Path, refs: list[str], *, say: Say = _say_nothing) -> None:
    """Name a stale lock of one of ``refs`` and remove it when it is provably stale.

    A ``<ref>.lock`` file is left when a git process is killed while it updates the ref; then every
    later update fails. It is provably stale when it is older than :data:`LOCK_MIN_AGE` seconds and no
    git process is working in this repository (none runs with its working directory inside it or its
    path on the command line; on Linux, ``/proc``). Then it is removed, and said so; otherwise a
    :class:`GitError` names the file and what holds it, before anything is measured.
    """
    for ref in refs:
        lock = git.git_path(repo, f"{ref}.lock")
        try:
            age = time.time() - lock.stat().st_mtime
        except FileNotFoundError:
            continue
        busy = _git_processes_in([repo.resolve(), git.common_dir(repo)])
        if age >= LOCK_MIN_AGE and busy == []:
            try:
                lock.unlink()
            except FileNotFoundError:
                continue
            except OSError as err:
                raise GitError(
                    f"{lock}: a stale lock of {ref} that cannot be removed ({err.strerror})"
                ) from None
            say(
                f"removed the stale lock {lock} (left by a git process that was killed; none is running here)"
            )
            continue
        if busy:
            why = f"git process {busy[0]} is working in this repository"
        elif busy is None:
            why = "whether a git process holds it cannot be checked here"
        else:
            why = f"it is only {age:.1f} s old"
        raise GitError(
            f"{lock}: {ref} is locked ({why})",
            hint="if no git command is running in this repository, delete the file and run again",
        )


# --- evaluations that could not be recorded -----------------------------------------------------------


def unrecorded_dir(repo: Path) -> Path:
    return state_dir(repo) / "unrecorded"


def save_unrecorded(repo: Path, key: str, line: str) -> Path:
    """Keep an evaluation (one JSON line) that could not be written as a note; returns the file."""
    folder = unrecorded_dir(repo)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key.replace(':', '-')[:120]}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(line + "\n")
    tmp.replace(path)
    return path


def replay_unrecorded(repo: Path, record: Callable[[str], bool], *, say: Say = _say_nothing) -> int:
    """Hand every kept evaluation line to ``record`` (which returns False when it is already in the
    notes) and delete its file; returns how many were recorded now."""
    folder = unrecorded_dir(repo)
    if not folder.is_dir():
        return 0
    done = 0
    for path in sorted(folder.glob("*.json")):
        try:
            line = path.read_text().strip()
        except OSError:
            continue
        if record(line):
            done += 1
        path.unlink()
    if done:
        say(f"recorded {done} evaluation(s) measured by an earlier run that could not write its notes")
    return done


# --- logs ----------------------------------------------------------------------------------------------


def _size(path: Path) -> int:
    total = 0
    for entry in path.rglob("*"):
        with contextlib.suppress(OSError):
            if entry.is_file() and not entry.is_symlink():
                total += entry.stat().st_size
    return total


def prune_logs(root: Path, *, budget: int = LOG_BUDGET_BYTES, keep: int = 1) -> list[Path]:
    """Remove the oldest run-log folders under ``root`` until the rest fit in ``budget`` bytes.

    The newest ``keep`` folders always stay. Returns the folders removed.
    """
    try:
        folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    except OSError:
        return []
    sizes = {p: _size(p) for p in folders}
    total = sum(sizes.values())
    removed = []
    for folder in folders[: max(0, len(folders) - keep)]:
        if total <= budget:
            break
        remove_tree(folder)
        total -= sizes[folder]
        removed.append(folder)
    return removed


__all__ = [
    "OWNER_FILE",
    "check_ref_locks",
    "owned_tempdir",
    "prune_logs",
    "prune_stale",
    "remove_tree",
    "replay_unrecorded",
    "repo_lock",
    "save_unrecorded",
]
