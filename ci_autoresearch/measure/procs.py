"""Process trees: no benchmark process outlives its run, even one that called ``setsid``.

A command's process group is not enough to find everything it started: a child that calls ``setsid``
(a daemon, ``nohup setsid …``) leaves the group and, once its parent exits, would be adopted by init and
run on. So the small launcher every command starts from (``_launch.py``) makes itself a *child
subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``, Linux): every orphan below it is re-parented to it instead
of to init, and stays findable as its descendant in ``/proc``. The launcher removes that whole tree when
the command ends (leftover background processes), when the tool asks it to (:data:`STOP_SIGNAL`: a
timeout or an interruption), and when the tool itself dies, even by ``kill -9``
(``prctl(PR_SET_PDEATHSIG)``).

Stdlib only and light (no pathlib, no contextlib: the launcher imports it before every run), imported
by the launcher as well as by the tool. Where ``/proc`` or ``prctl`` do not exist (not Linux), these
functions do what they can: process groups are still killed by the runner.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterable

STOP_SIGNAL = signal.SIGUSR1
"""The signal that asks a launcher to kill its command's whole process tree and finish."""

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_PROC = "/proc"


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes  # noqa: PLC0415 - only the launcher needs it, once

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, value, 0, 0, 0)) == 0
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        return False


def become_subreaper() -> bool:
    """Make this process the reaper of every orphan below it (Linux); False where unsupported."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent(sig: int) -> bool:
    """Have ``sig`` sent to this process when the thread that started it ends (Linux)."""
    return _prctl(_PR_SET_PDEATHSIG, int(sig))


def _table() -> dict[int, tuple[int, str]]:
    """pid → (parent pid, state letter) of every process ``/proc`` shows."""
    table: dict[int, tuple[int, str]] = {}
    try:
        names = os.listdir(_PROC)  # noqa: PTH208 - pathlib would cost the launcher 9 ms per run
    except OSError:
        return table
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"{_PROC}/{name}/stat", "rb") as fh:
                stat = fh.read().decode("ascii", "replace")
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid …": comm may hold spaces and parentheses
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1].isdigit():
            table[int(name)] = (int(fields[1]), fields[0])
    return table


def descendants(root: int) -> list[int]:
    """Every live (not zombie) process below ``root``, parents before children."""
    table = _table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out: list[int] = []
    todo = list(children.get(root, ()))
    while todo:
        pid = todo.pop()
        if table.get(pid, (0, "Z"))[1] not in ("Z", "X"):
            out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def _signal_all(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        try:  # noqa: SIM105 - contextlib would cost the launcher 7 ms per run
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def reap_children() -> None:
    """Collect every finished child of this process (the launcher only: it owns all of them)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_descendants(root: int, *, grace: float, deadline: float = 10.0, reap: bool = False) -> int:
    """End every process below ``root``: SIGTERM, then after ``grace`` seconds SIGKILL, repeated until
    none is left or ``deadline`` seconds have passed. Returns how many processes were signalled.

    Below a subreaper nothing escapes: a process whose parent is killed is re-parented to ``root``
    and found again on the next pass. ``reap``: collect finished children (only when ``root`` is this
    process and owns all of its children, as the launcher does).
    """
    seen: set[int] = set()
    start = time.monotonic()
    tree = descendants(root)
    if tree and grace > 0:
        seen.update(tree)
        _signal_all(tree, signal.SIGTERM)
        while tree and time.monotonic() - start < grace:
            time.sleep(0.01)
            if reap:
                reap_children()
            tree = descendants(root)
    while tree and time.monotonic() - start < deadline:
        seen.update(tree)
        _signal_all(tree, signal.SIGKILL)
        time.sleep(0.005)
        if reap:
            reap_children()
        tree = descendants(root)
    if reap:
        reap_children()
    return len(seen)


def kill_tree(root: int, *, deadline: float = 10.0) -> None:
    """SIGKILL everything below ``root`` (children first, so that a subreaper ``root`` keeps finding
    them), then ``root`` itself. The tool's last resort when a launcher does not answer."""
    kill_descendants(root, grace=0.0, deadline=deadline)
    _signal_all([root], signal.SIGKILL)


__all__ = [
    "STOP_SIGNAL",
    "become_subreaper",
    "descendants",
    "die_with_parent",
    "kill_descendants",
    "kill_tree",
    "reap_children",
]
