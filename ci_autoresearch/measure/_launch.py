"""Start a benchmark from a small process and report what it cost. Run as a script, never imported.

Why: Linux keeps a process's peak RSS across ``exec``, so a command forked straight from a large
process (the CLI with everything imported, or pytest) would report the parent's size as its own
``max_rss``. Forked from this launcher (``python -S -I``, a few MB), the command's peak is its own.
The launcher also times the command itself, so its own start-up is not counted as the benchmark's.

It also owns the command's whole process tree (see :mod:`ci_autoresearch.measure.procs`): it is a child
subreaper, so processes the command detached (``setsid``, double forks) stay below it; it removes them
when the command ends, when the tool sends :data:`procs.STOP_SIGNAL`, and when the tool dies.

usage: python -S -I _launch.py REPORT_FILE PARENT_PID PROGRAM [ARG ...]
REPORT_FILE gets ``{"status", "wall", "utime", "stime", "maxrss_kib"}`` when the command has ended.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from ci_autoresearch.measure import procs

LEFTOVER_GRACE = 0.5
"""Seconds processes left behind by the command get between SIGTERM and SIGKILL."""


def main() -> None:
    report, parent, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    stopping: list[bool] = []

    def stop(*_: object) -> None:
        # The tool asks for an end (timeout, interruption) or died: kill everything below us now.
        # No reaping here: the main thread waits for the command's own status.
        stopping.append(True)
        procs.kill_descendants(os.getpid(), grace=0.0)

    # A timeout sends SIGTERM to the whole group: let the command decide how to die and report that.
    # (A handler, not SIG_IGN: handlers are reset by exec, so the command keeps the default.)
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.signal(procs.STOP_SIGNAL, stop)
    procs.become_subreaper()
    procs.die_with_parent(procs.STOP_SIGNAL)
    if os.getppid() != parent or stopping:  # the tool is already gone, or already asked us to stop
        os._exit(125)
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: become the command
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    if stopping:
        os.kill(pid, signal.SIGKILL)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    with open(report + ".tmp", "w") as fh:
        fh.write(
            '{"status": %d, "wall": %r, "utime": %r, "stime": %r, "maxrss_kib": %d}'
            % (status, wall, usage.ru_utime, usage.ru_stime, usage.ru_maxrss)
        )
    os.replace(report + ".tmp", report)
    # What the command left running (background jobs, daemons that called setsid) ends with it.
    procs.kill_descendants(os.getpid(), grace=0.0 if stopping else LEFTOVER_GRACE, reap=True)
    code = os.waitstatus_to_exitcode(status)
    if code < 0:  # killed by a signal: die the same way, so the caller sees it too
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


main()
