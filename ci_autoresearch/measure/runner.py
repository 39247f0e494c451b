"""The one place that starts processes.

Two entry points here, one beside it:

* :func:`run_measured` runs a benchmark (or gate/setup) command: ``/bin/sh -c`` in its own session
  (process group), output straight to log files, timeout applied to the whole group, and the cost of
  the run (wall time, CPU time, peak RSS) measured with ``os.wait4`` by a small launcher process
  (``_launch.py``), so that the peak RSS is the command's own and not inherited from this process.
* :func:`run_tool` runs git and other helpers, capturing their text output.
* :func:`~ci_autoresearch.measure.worker_process.start_worker` starts a benchmark worker (worker mode):
  the same shell, session and environment, with a line-based conversation over its stdin and stdout.

The environment is always passed in. Untrusted code (benchmarks, gates, generators) must get an
environment that went through :func:`~ci_autoresearch.measure.scrub.scrub_env` (an allow-list);
:func:`run_measured` uses the mapping it is given as is.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ci_autoresearch.errors import BadInputError, MeasurementError, ToolMissingError
from ci_autoresearch.measure import procs

if TYPE_CHECKING:
    from resource import struct_rusage

SHELL = "/bin/sh"
LAUNCHER = Path(__file__).with_name("_launch.py")
TERM_GRACE = 2.0
"""Seconds a timed-out process group gets between SIGTERM and SIGKILL."""
LEFTOVER_GRACE = 0.5
"""Seconds processes left behind by a finished command get between SIGTERM and SIGKILL."""
MAX_LOG_BYTES = 16 * 1024 * 1024
"""The most a run's stdout or stderr log keeps (its beginning and its end); the rest is cut after the run."""
STOP_GRACE = 5.0
"""Seconds a launcher gets to kill its command's tree when asked, before the tool kills it all itself."""


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """One finished run of a shell command.

    ``returncode`` follows :mod:`subprocess`: negative when killed by a signal (``-15``, ``-9`` after a
    timeout), 127 when the shell did not find the command.
    ``wall_time``: seconds from spawn to reap (``time.perf_counter``).
    ``cpu_time``: user + system seconds of the shell and every descendant it waited for (``wait4``
    rusage); processes left running in the background are not counted.
    ``max_rss``: bytes; the peak resident set size of the *largest single process* among the shell and
    its waited-for descendants (``ru_maxrss``), not the sum over processes.
    ``stdout``/``stderr``: the text written to ``stdout_path``/``stderr_path`` (undecodable bytes
    replaced).
    """

    command: str
    returncode: int
    wall_time: float
    cpu_time: float
    max_rss: int
    stdout: str
    stderr: str
    stdout_path: Path
    stderr_path: Path
    timed_out: bool

    @property
    def ok(self) -> bool:
        """Exit status 0 and no timeout."""
        return self.returncode == 0 and not self.timed_out


@dataclass(frozen=True, kw_only=True)
class _Reaped:
    status: int
    rusage: struct_rusage | None
    end: float


class _Waiter(threading.Thread):
    """Reaps one child with ``os.wait4`` and records when it ended."""

    def __init__(self, pid: int) -> None:
        super().__init__(name=f"wait4-{pid}", daemon=True)
        self.pid = pid
        self.reaped: _Reaped | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            _, status, rusage = os.wait4(self.pid, 0)
            self.reaped = _Reaped(status=status, rusage=rusage, end=time.perf_counter())
        except ChildProcessError:  # reaped elsewhere: nothing to measure, but it is gone
            self.reaped = _Reaped(status=0, rusage=None, end=time.perf_counter())
        except BaseException as exc:  # pragma: no cover - re-raised in the calling thread
            self.error = exc


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to process group ``pgid``; False when the group has no member left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member changed its credentials; nothing more we may do
        return False
    return True


def _group_alive(pgid: int) -> bool:
    """Whether group ``pgid`` has a member that is not a zombie.

    Zombies count as members for ``killpg``; in containers whose init does not reap orphans they
    never go away, so on Linux ``/proc`` is consulted to ignore them.
    """
    if not signal_group(pgid, 0):
        return False
    proc = Path("/proc")
    if not proc.is_dir():  # pragma: no cover - not Linux
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def terminate_group(pgid: int, grace: float) -> None:
    """SIGTERM the group, wait up to ``grace`` seconds for it to empty, then SIGKILL what is left."""
    if not signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return
        time.sleep(0.01)
    signal_group(pgid, signal.SIGKILL)


def _stop_tree(launcher: int, waiter: _Waiter) -> None:
    """Have the launcher kill its command's whole tree (``setsid`` children included) and finish; kill
    the tree from here if it does not within :data:`STOP_GRACE` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(launcher, procs.STOP_SIGNAL)
    waiter.join(STOP_GRACE)
    if waiter.is_alive():
        procs.kill_tree(launcher)
        waiter.join()


def cap_log(path: Path, limit: int) -> bool:
    """Cut a log longer than ``limit`` bytes to its first and last ``limit / 2`` bytes, with a line
    saying how much was left out between them (the last ``METRIC`` lines stay). True when cut."""
    try:
        size = path.stat().st_size
    except OSError:
        return False
    if size <= limit:
        return False
    half = limit // 2
    tmp = path.with_name(path.name + ".cut")
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        dst.write(src.read(half))
        dst.write(f"\n[… {size - 2 * half} bytes left out: logs are kept to {limit} bytes …]\n".encode())
        src.seek(size - half)
        dst.write(src.read(half))
    tmp.replace(path)
    return True


def read_log(path: Path) -> str:
    cap_log(path, MAX_LOG_BYTES)
    return path.read_bytes().decode("utf-8", errors="replace")


def run_measured(
    command: str,
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float | None,
    log_dir: Path,
    name: str,
) -> RunResult:
    """Run ``command`` with ``/bin/sh -c`` and measure it.

    The command runs in a new session (its own process group) with stdin from ``/dev/null`` and
    stdout/stderr written straight to ``log_dir/{name}.stdout.log`` and ``log_dir/{name}.stderr.log``
    (files, not pipes: a chatty benchmark cannot deadlock us). ``env`` is used as is.

    On timeout the whole process group gets SIGTERM, then SIGKILL after :data:`TERM_GRACE` seconds,
    and the result has ``timed_out=True``. When the command ends normally, any process it left in
    its group (a background child) is terminated the same way. On KeyboardInterrupt the group is
    killed and the interrupt re-raised.

    A command that fails, is not found (exit 127) or times out still gives a :class:`RunResult`;
    the caller decides what that means. :class:`MeasurementError` only when the shell cannot be
    started at all (e.g. ``cwd`` does not exist).
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    stdout_path = log_dir / f"{name}.stdout.log"
    stderr_path = log_dir / f"{name}.stderr.log"
    report_path = log_dir / f".{name}.rusage.json"
    report_path.unlink(missing_ok=True)
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        launcher = [sys.executable, "-S", "-I", str(LAUNCHER), str(report_path), str(os.getpid())]
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(
                [*launcher, SHELL, "-c", command],
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                close_fds=True,
            )
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the command or the environment
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise MeasurementError(f"cannot start `{command[:200]}` in {cwd}: {detail}") from exc
        reaped, timed_out = _wait(proc, timeout)
    cost = _cost(reaped, _read_report(report_path), wall_time=reaped.end - start, returncode=proc.returncode)
    return RunResult(
        command=command,
        returncode=cost.returncode,
        wall_time=cost.wall_time,
        cpu_time=cost.cpu_time,
        max_rss=cost.max_rss,
        stdout=read_log(stdout_path),
        stderr=read_log(stderr_path),
        stdout_path=stdout_path,
        stderr_path=stderr_path,
        timed_out=timed_out,
    )


def _wait(proc: subprocess.Popen[bytes], timeout: float | None) -> tuple[_Reaped, bool]:
    """Wait for the launcher ``proc`` (at most ``timeout`` seconds, then end its group) and reap it;
    leave nothing of its group behind. The reaped launcher, and whether it timed out."""
    timed_out = False
    pgid = proc.pid  # start_new_session: the launcher leads its own group
    waiter = _Waiter(proc.pid)
    waiter.start()
    try:
        waiter.join(timeout)
        if waiter.is_alive():
            timed_out = True
            signal_group(pgid, signal.SIGTERM)
            waiter.join(TERM_GRACE)
            if waiter.is_alive():
                _stop_tree(proc.pid, waiter)
    except BaseException:  # an interruption (SIGINT, SIGTERM, SIGHUP): leave nothing behind
        _stop_tree(proc.pid, waiter)
        proc.returncode = _returncode(waiter.reaped)
        raise
    finally:
        terminate_group(pgid, LEFTOVER_GRACE)
    if waiter.error is not None:  # pragma: no cover - wait4 failing is a bug, not a user error
        raise waiter.error
    reaped = waiter.reaped
    assert reaped is not None
    # Popen did not wait for its child; tell it the outcome so it neither warns nor reaps.
    proc.returncode = _returncode(reaped)
    return reaped, timed_out


@dataclass(frozen=True, kw_only=True)
class _Cost:
    returncode: int
    wall_time: float
    cpu_time: float
    max_rss: int


def _cost(reaped: _Reaped, launched: dict[str, float] | None, *, wall_time: float, returncode: int) -> _Cost:
    """What the run cost: the launcher's own report of the command when it wrote one, else what
    ``wait4`` told of the launcher (``wall_time`` and ``returncode`` as seen from here)."""
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    rss_unit = 1 if sys.platform == "darwin" else 1024
    if launched is not None:  # the launcher's own view of the command: exact, without its start-up
        return _Cost(
            returncode=os.waitstatus_to_exitcode(int(launched["status"])),
            wall_time=float(launched["wall"]),
            cpu_time=float(launched["utime"]) + float(launched["stime"]),
            max_rss=int(launched["maxrss_kib"]) * rss_unit,
        )
    if reaped.rusage is not None:  # killed before it could report (timeout): the launcher's rusage
        return _Cost(
            returncode=returncode,
            wall_time=wall_time,
            cpu_time=reaped.rusage.ru_utime + reaped.rusage.ru_stime,
            max_rss=reaped.rusage.ru_maxrss * rss_unit,
        )
    return _Cost(returncode=returncode, wall_time=wall_time, cpu_time=0.0, max_rss=0)


def _read_report(path: Path) -> dict[str, float] | None:
    try:
        data = json.loads(path.read_text())
        path.unlink()
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _returncode(reaped: _Reaped | None) -> int:
    if reaped is None:  # pragma: no cover - only when wait4 itself failed
        return -int(signal.SIGKILL)
    return os.waitstatus_to_exitcode(reaped.status)


@dataclass(frozen=True, kw_only=True)
class ToolResult:
    """One finished run of a helper program (git, …) with its captured text output."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def last_line(*texts: str) -> str:
    """The last non-empty line (stripped) of the first of ``texts`` that has one; "" if none has."""
    for text in texts:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return ""


def run_tool(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    check: bool = True,
    timeout: float | None = None,
) -> ToolResult:
    """Run a helper program (no shell) and capture its output as text.

    ``env=None`` inherits this process's environment. Raises :class:`ToolMissingError` when
    ``argv[0]`` does not exist; with ``check`` (the default) a non-zero exit raises
    :class:`BadInputError` whose message is one line (the command, its exit status and the last
    non-empty line of its stderr) and which carries ``returncode``, ``stderr`` and ``argv``
    attributes. A timeout raises :class:`BadInputError` too (``returncode`` None).
    """
    args = [str(a) for a in argv]
    shown = shlex.join(args)
    try:
        completed = subprocess.run(
            args,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        if cwd is not None and exc.filename is not None and str(exc.filename) == str(cwd):
            raise BadInputError(f"cannot run `{shown}`: directory {cwd} does not exist") from exc
        raise ToolMissingError(f"{args[0]} is not installed or not on PATH") from exc
    except PermissionError as exc:
        raise ToolMissingError(f"{args[0]} is not executable ({exc.strerror})") from exc
    except ValueError as exc:  # a NUL byte in an argument or the environment: no process can get it
        raise BadInputError(f"cannot run `{shown[:200]}`: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        error = BadInputError(f"`{shown}` timed out after {timeout:g} s")
        _annotate(error, args, None, _as_text(exc.stderr))
        raise error from None
    result = ToolResult(
        argv=tuple(args), returncode=completed.returncode, stdout=completed.stdout, stderr=completed.stderr
    )
    if check and completed.returncode != 0:
        detail = last_line(completed.stderr, completed.stdout)
        message = f"`{shown}` failed (exit {completed.returncode})"
        error = BadInputError(f"{message}: {detail}" if detail else message)
        _annotate(error, args, completed.returncode, completed.stderr)
        raise error
    return result


def _as_text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data


def _annotate(error: BadInputError, argv: list[str], returncode: int | None, stderr: str) -> None:
    """Attach what callers (git.py) inspect to a failed tool run's error."""
    error.argv = tuple(argv)  # type: ignore[attr-defined]
    error.returncode = returncode  # type: ignore[attr-defined]
    error.stderr = stderr  # type: ignore[attr-defined]


__all__ = [
    "LEFTOVER_GRACE",
    "MAX_LOG_BYTES",
    "TERM_GRACE",
    "RunResult",
    "ToolResult",
    "cap_log",
    "last_line",
    "read_log",
    "run_measured",
    "run_tool",
    "signal_group",
    "terminate_group",
]
