"""Start a benchmark from a small process and report what it cost. Run as a script, never imported.

Why: Linux keeps a process's peak RSS across ``exec``, so a command forked straight from a large
process (the CLI with everything imported, or pytest) would report the parent's size as its own
``max_rss``. Forked from this launcher (``python -S -I``, a few MB), the command's peak is its own.
The launcher also times the command itself, so its own start-up is not counted as the benchmark's.

usage: python -S -I _launch.py REPORT_FILE PROGRAM [ARG ...]
REPORT_FILE gets ``{"status", "wall", "utime", "stime", "maxrss_kib"}`` when the command has ended.
"""

import os
import signal
import sys
import time


def main() -> None:
    report, argv = sys.argv[1], sys.argv[2:]
    # A timeout sends SIGTERM to the whole group: let the command decide how to die and report that.
    # (A handler, not SIG_IGN: handlers are reset by exec, so the command keeps the default.)
    signal.signal(signal.SIGTERM, lambda *_: None)
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: become the command
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    with open(report + ".tmp", "w") as fh:
        fh.write(
            '{"status": %d, "wall": %r, "utime": %r, "stime": %r, "maxrss_kib": %d}'
            % (status, wall, usage.ru_utime, usage.ru_stime, usage.ru_maxrss)
        )
    os.replace(report + ".tmp", report)
    code = os.waitstatus_to_exitcode(status)
    if code < 0:  # killed by a signal: die the same way, so the caller sees it too
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


main()
