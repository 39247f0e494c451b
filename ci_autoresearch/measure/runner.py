"""The one place that starts processes.

Three entry points:

* :func:`run_measured` runs a benchmark (or gate/setup) command: ``/bin/sh -c`` in its own session
  (process group), output straight to log files, timeout applied to the whole group, and the cost of
  the run (wall time, CPU time, peak RSS) measured with ``os.wait4`` by a small launcher process
  (``_launch.py``), so that the peak RSS is the command's own and not inherited from this process.
* :func:`start_worker` starts a benchmark worker (worker mode): the same shell, session and
  environment, with a line-based conversation over its stdin and stdout.
* :func:`run_tool` runs git and other helpers, capturing their text output.

The environment is always passed in. Untrusted code (benchmarks, gates, generators) must get an
environment that went through :func:`scrub_env` (an allow-list); :func:`run_measured` uses the mapping
it is given as is.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import select
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

# What candidate code (benchmark, setup, gate, generator) gets of the caller's environment: an allow-list
# of what toolchains and interpreters need, plus the names a configuration passes on purpose (`pass_env`).
# Anything else -- tokens, the Actions runtime, the action's inputs, the runner's command files
# (GITHUB_ENV, GITHUB_OUTPUT, ...), an ssh agent, registry credentials -- never reaches it.
PASSED_NAMES = frozenset(
    {
        # the shell and the locale
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR", "TMP", "TEMP",
        "COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "SOURCE_DATE_EPOCH",
        "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR",
        # CI detection and the runner's description (not its credentials)
        "CI", "GITHUB_ACTIONS", "RUNNER_OS", "RUNNER_ARCH", "RUNNER_TEMP", "RUNNER_TOOL_CACHE",
        # interpreters and toolchains
        "PYTHONPATH", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE", "PYTHONUTF8", "PYTHONIOENCODING",
        "PYTHONWARNINGS", "VIRTUAL_ENV", "pythonLocation", "Python_ROOT_DIR", "Python2_ROOT_DIR",
        "Python3_ROOT_DIR", "JAVA_HOME", "GOROOT", "GOPATH", "GOCACHE", "GOFLAGS", "CARGO_HOME",
        "RUSTUP_HOME", "RUSTFLAGS", "CARGO_TARGET_DIR", "NODE_PATH",
        "LD_LIBRARY_PATH", "LIBRARY_PATH", "CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "PKG_CONFIG_PATH",
        "CMAKE_PREFIX_PATH", "CC", "CXX", "CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS", "MAKEFLAGS",
        # numeric libraries
        "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
        "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
    }
)  # fmt: skip
PASSED_PREFIXES = ("LC_",)
NEVER_PASSED = frozenset(
    {
        "GITHUB_TOKEN", "GH_TOKEN", "GH_ENTERPRISE_TOKEN", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT",
        "GITHUB_STATE", "GITHUB_STEP_SUMMARY", "SSH_AUTH_SOCK",
    }
)  # fmt: skip
"""Names no configuration can pass to candidate code (``pass_env`` refuses them)."""
NEVER_PASSED_PREFIXES = ("ACTIONS_", "INPUT_", "GIT_CONFIG")
_CREDENTIAL_NAMES = frozenset({"GITHUB_TOKEN", "GH_TOKEN", "GH_ENTERPRISE_TOKEN", "SSH_AUTH_SOCK"})
_SECRET_WORDS = (
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "PRIVATE_KEY",
    "API_KEY",
    "ACCESS_KEY",
)
# user:password@ in a URL, or a long user name (a token used as one: https://<token>@github.com)
_URL_CREDENTIALS = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?:[^/\s@:]+:[^/\s@]+|[^/\s@:]{20,})@")


def never_passed(name: str) -> bool:
    """True for the names :func:`scrub_env` drops even when a configuration asks for them."""
    upper = name.upper()
    return upper in NEVER_PASSED or upper.startswith(NEVER_PASSED_PREFIXES)


def scrub_env(env: Mapping[str, str], pass_env: Sequence[str] = ()) -> dict[str, str]:
    """What candidate code may see of ``env``: the allow-list :data:`PASSED_NAMES` (and ``LC_*``), minus
    any value that carries credentials in a URL (``https://user:pass@host``), plus the names in
    ``pass_env`` (the configuration's explicit opt-in; glob patterns allowed) -- never a name of
    :data:`NEVER_PASSED`, ``ACTIONS_*``, ``INPUT_*`` or ``GIT_CONFIG*``.
    """
    kept: dict[str, str] = {}
    for name, value in env.items():
        if never_passed(name):
            continue
        asked = any(fnmatch.fnmatchcase(name, pattern) for pattern in pass_env)
        allowed = name in PASSED_NAMES or name.startswith(PASSED_PREFIXES)
        if asked or (allowed and not _URL_CREDENTIALS.search(value)):
            kept[name] = value
    return kept


def secrets_in(env: Mapping[str, str], allowed: Sequence[str] = ()) -> list[str]:
    """The names in ``env`` that hold (or look like they hold) a credential: a GitHub token, the Actions
    runtime's tokens, an ssh agent, any name with TOKEN, SECRET, PASSWORD, CREDENTIAL, API_KEY ...,
    and any value with credentials in a URL. Names matching ``allowed`` (glob patterns) are left out.
    """
    found = []
    for name, value in env.items():
        if not value or any(fnmatch.fnmatchcase(name, pattern) for pattern in allowed):
            continue
        upper = name.upper()
        if (
            upper in _CREDENTIAL_NAMES
            or any(word in upper for word in _SECRET_WORDS)
            or (upper.startswith("INPUT_") and "TOKEN" in upper)
            or _URL_CREDENTIALS.search(value)
        ):
            found.append(name)
    return sorted(found)


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


def _signal_group(pgid: int, sig: int) -> bool:
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
    if not _signal_group(pgid, 0):
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


def _terminate_group(pgid: int, grace: float) -> None:
    """SIGTERM the group, wait up to ``grace`` seconds for it to empty, then SIGKILL what is left."""
    if not _signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return
        time.sleep(0.01)
    _signal_group(pgid, signal.SIGKILL)


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


def _read_text(path: Path) -> str:
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
    timed_out = False
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
        pgid = proc.pid  # start_new_session: the launcher leads its own group
        waiter = _Waiter(proc.pid)
        waiter.start()
        try:
            waiter.join(timeout)
            if waiter.is_alive():
                timed_out = True
                _signal_group(pgid, signal.SIGTERM)
                waiter.join(TERM_GRACE)
                if waiter.is_alive():
                    _stop_tree(proc.pid, waiter)
        except BaseException:  # an interruption (SIGINT, SIGTERM, SIGHUP): leave nothing behind
            _stop_tree(proc.pid, waiter)
            proc.returncode = _returncode(waiter.reaped)
            raise
        finally:
            _terminate_group(pgid, LEFTOVER_GRACE)
        if waiter.error is not None:  # pragma: no cover - wait4 failing is a bug, not a user error
            raise waiter.error
        reaped = waiter.reaped
        assert reaped is not None
        # Popen did not wait for its child; tell it the outcome so it neither warns nor reaps.
        proc.returncode = _returncode(reaped)
    cpu_time = 0.0
    max_rss = 0
    wall_time = reaped.end - start
    returncode = proc.returncode
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    rss_unit = 1 if sys.platform == "darwin" else 1024
    launched = _read_report(report_path)
    if launched is not None:  # the launcher's own view of the command: exact, without its start-up
        returncode = os.waitstatus_to_exitcode(int(launched["status"]))
        wall_time = float(launched["wall"])
        cpu_time = float(launched["utime"]) + float(launched["stime"])
        max_rss = int(launched["maxrss_kib"]) * rss_unit
    elif reaped.rusage is not None:  # killed before it could report (timeout): the launcher's rusage
        cpu_time = reaped.rusage.ru_utime + reaped.rusage.ru_stime
        max_rss = reaped.rusage.ru_maxrss * rss_unit
    return RunResult(
        command=command,
        returncode=returncode,
        wall_time=wall_time,
        cpu_time=cpu_time,
        max_rss=max_rss,
        stdout=_read_text(stdout_path),
        stderr=_read_text(stderr_path),
        stdout_path=stdout_path,
        stderr_path=stderr_path,
        timed_out=timed_out,
    )


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
            lines = [x.strip() for x in _read_text(self.stderr_path).splitlines() if x.strip()]
        except OSError:
            return ""
        return lines[-1][:200] if lines else ""

    def close(self, timeout: float) -> WorkerExit:
        """End of input; wait up to ``timeout`` seconds for the worker to exit, then end its group."""
        with contextlib.suppress(OSError):
            self._stdin.close()
        exit_ = self._reap(timeout)
        if exit_ is None:
            _terminate_group(self._proc.pid, TERM_GRACE)
            exit_ = self._reap(TERM_GRACE) or self._reap_killed()
        _terminate_group(self._proc.pid, LEFTOVER_GRACE)
        return exit_

    def kill(self) -> None:
        """SIGKILL the worker's process group and reap it."""
        if self._exit is None:
            _signal_group(self._proc.pid, signal.SIGKILL)
            self._reap_killed()
        _terminate_group(self._proc.pid, 0.0)

    def _reap(self, timeout: float) -> WorkerExit | None:
        if self._exit is not None:
            return self._exit
        deadline = time.monotonic() + timeout
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
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.005)

    def _reap_killed(self) -> WorkerExit:
        _signal_group(self._proc.pid, signal.SIGKILL)
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


def _last_line(*texts: str) -> str:
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
        detail = _last_line(completed.stderr, completed.stdout)
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
    "WorkerExit",
    "WorkerGone",
    "WorkerProcess",
    "WorkerSilent",
    "cap_log",
    "run_measured",
    "run_tool",
    "scrub_env",
    "secrets_in",
    "start_worker",
]
