"""A benchmark worker process (worker mode): started by :func:`start_worker`, spoken to line by line.

The same shell, session and environment as a measured run (:mod:`ci_autoresearch.measure.runner`), with
a line-based conversation over its stdin and stdout (``docs/worker-protocol.md``); the conversation is
:mod:`ci_autoresearch.measure.worker`, its lines are read by :mod:`ci_autoresearch.measure.worker_lines`.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ci_autoresearch.errors import MeasurementError
from ci_autoresearch.measure.runner import (
    LEFTOVER_GRACE,
    SHELL,
    TERM_GRACE,
    last_line,
    read_log,
    signal_group,
    terminate_group,
)


class WorkerGone(Exception):
    """The worker closed its output: it exited (``returncode``; None if it could not be reaped)."""

    def __init__(self, returncode: int | None) -> None:
        super().__init__(f"the worker exited ({returncode})")
        self.returncode = returncode


class WorkerSilent(Exception):
    """The worker did not answer within the time allowed; it has been killed."""

    def __init__(self, timeout: float) -> None:
        super().__init__(f"no answer within {timeout:g} s")
        self.timeout = timeout


@dataclass(frozen=True, kw_only=True)
class WorkerExit:
    """How a worker ended: its exit status (negative: a signal) and its peak RSS in bytes (the largest
    single process among the worker and the children it waited for)."""

    returncode: int
    max_rss: int


class WorkerProcess:
    """A worker started by :func:`start_worker`: one line to its stdin, one line back from its stdout.

    Its stderr goes to ``stderr_path``. :meth:`close` ends it (end of input, then SIGTERM and SIGKILL
    to its process group if it does not exit); :meth:`kill` ends it at once. Use it as a context
    manager so that it never outlives the caller, Ctrl-C included.
    """

    def __init__(self, proc: subprocess.Popen[bytes], *, command: str, stderr_path: Path) -> None:
        self._proc = proc
        self.command = command
        self.stderr_path = stderr_path
        self._buffer = b""
        self._exit: WorkerExit | None = None
        assert proc.stdin is not None and proc.stdout is not None
        self._stdin = proc.stdin
        self._stdout = proc.stdout.fileno()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def send(self, line: str) -> None:
        """Write ``line`` and a newline; a worker that has gone away is reported by the next read."""
        with contextlib.suppress(BrokenPipeError, ValueError):
            self._stdin.write(line.encode() + b"\n")
            self._stdin.flush()

    def read_line(self, timeout: float) -> str:
        """The next line the worker writes (without its newline), waiting at most ``timeout`` seconds.

        Raises :class:`WorkerGone` when the worker closes its output first (it is reaped, so its
        exit status is known) and :class:`WorkerSilent` on timeout (it is killed first).
        """
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise WorkerSilent(timeout)
            ready, _, _ = select.select([self._stdout], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._stdout, 65536)
            if not chunk:
                exit_ = self._reap(TERM_GRACE)
                raise WorkerGone(exit_.returncode if exit_ else None)
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode("utf-8", errors="replace").rstrip("\r")

    def stderr_tail(self) -> str:
        """The last non-empty line the worker wrote to stderr (at most 200 characters)."""
        try:
            return last_line(read_log(self.stderr_path))[:200]
        except OSError:
            return ""

    def close(self, timeout: float) -> WorkerExit:
        """End of input; wait up to ``timeout`` seconds for the worker to exit, then end its group."""
        with contextlib.suppress(OSError):
            self._stdin.close()
        exit_ = self._reap(timeout)
        if exit_ is None:
            terminate_group(self._proc.pid, TERM_GRACE)
            exit_ = self._reap(TERM_GRACE) or self._reap_killed()
        terminate_group(self._proc.pid, LEFTOVER_GRACE)
        return exit_

    def kill(self) -> None:
        """SIGKILL the worker's process group and reap it."""
        if self._exit is None:
            signal_group(self._proc.pid, signal.SIGKILL)
            self._reap_killed()
        terminate_group(self._proc.pid, 0.0)

    def _reap(self, timeout: float) -> WorkerExit | None:
        if self._exit is not None:
            return self._exit
        deadline = time.monotonic() + timeout
        with _exit_watch(self._proc.pid) as wait:
            while True:
                try:
                    pid, status, rusage = os.wait4(self._proc.pid, os.WNOHANG)
                except ChildProcessError:  # reaped elsewhere: gone, status unknown
                    pid, status, rusage = self._proc.pid, 0, None
                if pid:
                    rss_unit = 1 if sys.platform == "darwin" else 1024
                    self._exit = WorkerExit(
                        returncode=os.waitstatus_to_exitcode(status),
                        max_rss=rusage.ru_maxrss * rss_unit if rusage is not None else 0,
                    )
                    self._proc.returncode = self._exit.returncode  # Popen must not reap or warn
                    return self._exit
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                wait(left)

    def _reap_killed(self) -> WorkerExit:
        signal_group(self._proc.pid, signal.SIGKILL)
        exit_ = self._reap(60.0)
        if exit_ is None:  # pragma: no cover - SIGKILL not delivered within a minute
            exit_ = WorkerExit(returncode=-int(signal.SIGKILL), max_rss=0)
            self._exit = exit_
        return exit_

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._exit is None:
            self.kill()
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                stream.close()


POLL_SECONDS = 0.005
"""How often a worker's exit is looked for where the system cannot say when it happens."""


@contextmanager
def _exit_watch(pid: int) -> Iterator[Callable[[float], None]]:
    """``wait(seconds)``: until process ``pid`` may have exited, at most ``seconds``. On Linux a pidfd
    says the moment it exits (a round's workers are reaped as soon as they end); elsewhere, or when
    the pidfd cannot be had, short sleeps."""
    opener = getattr(os, "pidfd_open", None)
    try:
        fd = opener(pid) if opener is not None else None
    except OSError:  # gone already, or no pidfd here
        fd = None
    if fd is None:
        yield lambda seconds: time.sleep(min(seconds, POLL_SECONDS))
        return

    def wait(seconds: float) -> None:
        select.select([fd], [], [], seconds)

    try:
        yield wait
    finally:
        os.close(fd)


def start_worker(
    command: str, *, cwd: Path, env: Mapping[str, str], log_dir: Path, name: str
) -> WorkerProcess:
    """Start a worker (``docs/worker-protocol.md``): ``command`` with ``/bin/sh -c`` in a new session.

    stdin and stdout are pipes (the conversation), stderr goes to ``log_dir/{name}.stderr.log``.
    ``env`` is used as is: callers pass it through :func:`scrub_env`, as for every benchmark command.
    :class:`MeasurementError` only when the shell cannot be started at all.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = log_dir / f"{name}.stderr.log"
    with open(stderr_path, "wb") as err:
        try:
            proc = subprocess.Popen(
                [SHELL, "-c", command],
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise MeasurementError(f"cannot start `{command}` in {cwd}: {exc.strerror or exc}") from exc
    return WorkerProcess(proc, command=command, stderr_path=stderr_path)


def available_cpus() -> tuple[int, ...]:
    """The CPUs this process may run on, where the system says (Linux); else ()."""
    getter = getattr(os, "sched_getaffinity", None)
    return tuple(sorted(getter(0))) if getter is not None else ()


@contextmanager
def on_cpu(cpu: int) -> Iterator[None]:
    """Run this process on ``cpu`` alone meanwhile -- so do the processes it starts meanwhile, which
    inherit the affinity and keep it -- and restore its own afterwards. Where the system refuses (the
    CPU went away, a container's limits changed), nothing is pinned: pinning helps, it is not needed."""
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:
        yield
        return
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


__all__ = [
    "WorkerExit",
    "WorkerGone",
    "WorkerProcess",
    "WorkerSilent",
    "available_cpus",
    "on_cpu",
    "start_worker",
]
