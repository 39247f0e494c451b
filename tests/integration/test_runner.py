"""runner.py with real processes: measurements, timeouts on the whole group, scrubbed env, logs, tools.

Timing assertions use effects at least 2x larger than the threshold, so noise cannot flip them.
"""

from __future__ import annotations

import gc
import os
import shlex
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

from ci_autoresearch.errors import BadInputError, MeasurementError, ToolMissingError
from ci_autoresearch.measure import runner
from ci_autoresearch.measure.runner import RunResult, run_measured, run_tool
from ci_autoresearch.measure.scrub import scrub_env, secrets_in

PY = shlex.quote(sys.executable)
MB = 1024 * 1024


def run(
    command: str,
    tmp_path: Path,
    *,
    timeout: float | None = 30,
    env: dict[str, str] | None = None,
    name: str = "run",
) -> RunResult:
    return run_measured(
        command,
        cwd=tmp_path,
        env=env if env is not None else {"PATH": os.environ["PATH"]},
        timeout=timeout,
        log_dir=tmp_path / "logs",
        name=name,
    )


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for a non-reaping init counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def gone_soon(pid: int, within: float = 2.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.01)
    return False


def read_pid(path: Path, within: float = 5.0) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        text = path.read_text().strip() if path.exists() else ""
        if text:
            return int(text)
        time.sleep(0.01)
    raise AssertionError(f"{path} was not written")


# ---------------------------------------------------------------------------------------------- measuring


def test_busy_loop_uses_cpu(tmp_path: Path) -> None:
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    result = run(f"{PY} -c {shlex.quote(busy)}", tmp_path)
    assert result.ok
    assert result.cpu_time > 0.15
    assert result.wall_time > 0.15


def test_sleep_uses_wall_time_not_cpu(tmp_path: Path) -> None:
    result = run("sleep 0.3", tmp_path)
    assert result.ok
    assert result.wall_time >= 0.3
    assert result.cpu_time < 0.1


def test_cpu_time_includes_grandchildren(tmp_path: Path) -> None:
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    result = run(f"sh -c {shlex.quote(f'{PY} -c {shlex.quote(busy)}')}; true", tmp_path)
    assert result.cpu_time > 0.15


def test_max_rss_sees_a_large_allocation(tmp_path: Path) -> None:
    small = run(f"{PY} -c pass", tmp_path, name="small")
    big = run(f"{PY} -c \"b = b'x' * (200 * 1024 * 1024)\"", tmp_path, name="big")
    assert small.ok and big.ok
    assert small.max_rss < 100 * MB
    assert big.max_rss > 150 * MB


def test_output_goes_to_log_files(tmp_path: Path) -> None:
    result = run("echo out; echo err >&2; printf 'METRIC x=1\\n'", tmp_path, name="bench-1")
    assert result.stdout_path == tmp_path / "logs" / "bench-1.stdout.log"
    assert result.stderr_path == tmp_path / "logs" / "bench-1.stderr.log"
    assert result.stdout_path.read_text() == "out\nMETRIC x=1\n" == result.stdout
    assert result.stderr_path.read_text() == "err\n" == result.stderr
    assert result.command == "echo out; echo err >&2; printf 'METRIC x=1\\n'"
    assert not result.timed_out


def test_large_output_does_not_deadlock(tmp_path: Path) -> None:
    result = run(
        f"{PY} -c \"import sys; sys.stdout.write('x' * 5_000_000); sys.stderr.write('y' * 5_000_000)\"",
        tmp_path,
    )
    assert result.ok
    assert len(result.stdout) == len(result.stderr) == 5_000_000


def test_undecodable_output_is_replaced(tmp_path: Path) -> None:
    result = run("printf 'a\\377b'", tmp_path)
    assert result.stdout == "a\ufffdb"


def test_runs_in_cwd_with_stdin_closed(tmp_path: Path) -> None:
    result = run("pwd; cat", tmp_path, timeout=10)
    assert result.ok
    assert result.stdout == f"{tmp_path}\n"


def test_exit_status_and_command_not_found(tmp_path: Path) -> None:
    failed = run("exit 3", tmp_path)
    assert failed.returncode == 3
    assert not failed.ok
    missing = run("no-such-command-xyz --flag", tmp_path)
    assert missing.returncode == 127
    assert not missing.ok
    assert "no-such-command-xyz" in missing.stderr


def test_killed_by_a_signal_is_negative(tmp_path: Path) -> None:
    result = run("kill -9 $$", tmp_path)
    assert result.returncode == -9
    assert not result.timed_out


def test_missing_cwd_is_a_measurement_error(tmp_path: Path) -> None:
    with pytest.raises(MeasurementError) as info:
        run_measured("true", cwd=tmp_path / "nope", env={}, timeout=5, log_dir=tmp_path / "logs", name="x")
    assert str(info.value) == f"cannot start `true` in {tmp_path / 'nope'}: No such file or directory"


def test_no_resource_warning(tmp_path: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run("true", tmp_path)
        run("sleep 5", tmp_path, timeout=0.1)
        gc.collect()
    assert [str(w.message) for w in caught] == []


# ---------------------------------------------------------------------------------------------- process group


def test_timeout_kills_the_whole_group_quickly(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    start = time.monotonic()
    result = run(f"sleep 1000 & echo $! > {pidfile}; wait", tmp_path, timeout=0.5)
    elapsed = time.monotonic() - start
    assert result.timed_out
    assert not result.ok
    assert result.returncode == -signal.SIGTERM
    assert elapsed < 0.5 + runner.TERM_GRACE
    assert result.wall_time >= 0.25  # the command itself ran until the timeout (launcher start-up excluded)
    assert gone_soon(read_pid(pidfile))


def test_timeout_escalates_to_sigkill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "TERM_GRACE", 0.3)
    pidfile = tmp_path / "child.pid"
    start = time.monotonic()
    result = run(f"trap '' TERM; sleep 1000 & echo $! > {pidfile}; wait", tmp_path, timeout=0.3)
    assert time.monotonic() - start < 3.0
    assert result.timed_out
    assert result.returncode == -signal.SIGKILL
    assert gone_soon(read_pid(pidfile))


def test_background_child_does_not_outlive_the_run(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    result = run(f"sleep 1000 & echo $! > {pidfile}", tmp_path)
    assert result.ok
    assert not result.timed_out
    assert gone_soon(read_pid(pidfile))


def test_keyboard_interrupt_kills_the_group_and_propagates(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run(f"sleep 1000 & echo $! > {pidfile}; wait", tmp_path, timeout=20)
    finally:
        timer.cancel()
    assert gone_soon(read_pid(pidfile))


DAEMON = """\
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        open(sys.argv[1], "w").write(str(os.getpid()))
        time.sleep(1000)
    os._exit(0)
time.sleep(0.2)
"""


def test_a_setsid_child_does_not_outlive_the_run(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    result = run(f"setsid sleep 1000 & echo $! > {pidfile}; sleep 0.2", tmp_path)
    assert result.ok
    assert gone_soon(read_pid(pidfile))


def test_a_double_forked_daemon_does_not_outlive_the_run(tmp_path: Path) -> None:
    (tmp_path / "daemon.py").write_text(DAEMON)
    pidfile = tmp_path / "daemon.pid"
    result = run(f"{sys.executable} daemon.py {pidfile}", tmp_path)
    assert result.ok
    assert gone_soon(read_pid(pidfile))


def test_timeout_kills_a_setsid_child_that_ignores_sigterm(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    result = run(
        f"setsid sh -c 'trap \"\" TERM; sleep 1000' & echo $! > {pidfile}; trap '' TERM; sleep 1000",
        tmp_path,
        timeout=0.5,
    )
    assert result.timed_out and result.returncode == -signal.SIGKILL
    assert gone_soon(read_pid(pidfile))


def test_keyboard_interrupt_kills_a_setsid_child_too(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run(f"setsid sleep 1000 & echo $! > {pidfile}; wait", tmp_path, timeout=20)
    finally:
        timer.cancel()
    assert gone_soon(read_pid(pidfile))


def test_logs_are_capped_keeping_both_ends(tmp_path: Path) -> None:
    big = runner.MAX_LOG_BYTES + 3 * 1024 * 1024
    result = run(f"head -c {big} /dev/zero | tr '\\0' x; echo; echo METRIC score=1", tmp_path)
    assert result.ok
    assert result.stdout_path.stat().st_size < runner.MAX_LOG_BYTES + 200
    assert result.stdout.startswith("xxxx") and result.stdout.rstrip().endswith("METRIC score=1")
    assert f"bytes left out: logs are kept to {runner.MAX_LOG_BYTES} bytes" in result.stdout


# ---------------------------------------------------------------------------------------------- environment


def test_scrubbed_env_hides_secrets_from_the_child(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "GITHUB_TOKEN": "s3cr3t-1",
        "MY_SECRET": "s3cr3t-2",
        "API_KEY": "s3cr3t-3",
        "INPUT_X": "s3cr3t-4",
        "ACTIONS_RUNTIME_TOKEN": "s3cr3t-5",
        "db_password": "s3cr3t-6",
        "GITHUB_PAT": "s3cr3t-7",
        "SSH_AUTH_SOCK": "/tmp/s3cr3t-8",
        "DOCKER_AUTH_CONFIG": "s3cr3t-9",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "core.sshCommand",
        "GIT_CONFIG_VALUE_0": "s3cr3t-10",
        "GITHUB_ENV": "/tmp/s3cr3t-11",
        "GITHUB_OUTPUT": "/tmp/s3cr3t-12",
        "REGISTRY_URL": "https://user:s3cr3t-13@registry.example",
        "KEEP_ME": "visible",
        "LANG": "C.UTF-8",
    }
    result = run("env", tmp_path, env=scrub_env(env, pass_env=["KEEP_*"]))
    assert result.ok
    assert "KEEP_ME=visible" in result.stdout.splitlines()
    assert "LANG=C.UTF-8" in result.stdout.splitlines()
    assert "s3cr3t" not in result.stdout
    assert "GIT_CONFIG" not in result.stdout


def test_env_is_used_as_given(tmp_path: Path) -> None:
    result = run('echo "$ONLY_THIS"; echo "${HOME-unset}"', tmp_path, env={"ONLY_THIS": "yes"})
    assert result.stdout == "yes\nunset\n"


def test_scrub_env_rules() -> None:
    env = {
        "GITHUB_TOKEN": "1", "GH_TOKEN": "1", "ACTIONS_CACHE_URL": "1", "actions_lower": "1",
        "INPUT_GITHUB-TOKEN": "1", "NPM_AUTH_TOKEN": "1", "aws_secret_access_key": "1", "PGPASSWORD": "1",
        "SSH_KEY_PATH": "1", "DOCKER_PASSWD": "1", "GOOGLE_CREDENTIALS": "1", "GITHUB_STEP_SUMMARY": "/s",
        "GITHUB_REPOSITORY": "o/r", "MONKEY_COUNT": "3", "SSH_AUTH_SOCK": "/agent",
        "PATH": "/bin", "HOME": "/root", "RUNNER_OS": "Linux", "CI": "true", "LC_ALL": "C",
        "JAVA_HOME": "https://user:pw@example/jdk",  # an allow-listed name holding a credential
    }  # fmt: skip
    assert scrub_env(env) == {
        "PATH": "/bin",
        "HOME": "/root",
        "RUNNER_OS": "Linux",
        "CI": "true",
        "LC_ALL": "C",
    }
    # pass_env passes more, by name or glob; never a token, the runtime, the inputs or the command files
    passed = scrub_env(env, pass_env=["GITHUB_*", "MONKEY_COUNT", "ACTIONS_*", "SSH_AUTH_SOCK", "*TOKEN"])
    assert passed["GITHUB_REPOSITORY"] == "o/r" and passed["MONKEY_COUNT"] == "3"
    assert passed["NPM_AUTH_TOKEN"] == "1"  # asked for by name pattern: the user's explicit choice
    for name in ("GITHUB_TOKEN", "GH_TOKEN", "ACTIONS_CACHE_URL", "actions_lower", "INPUT_GITHUB-TOKEN",
                 "GITHUB_STEP_SUMMARY", "SSH_AUTH_SOCK"):  # fmt: skip
        assert name not in passed


def test_secrets_in_names_what_a_job_must_not_hold() -> None:
    env = {
        "GITHUB_TOKEN": "x", "INPUT_GITHUB-TOKEN": "x", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "x",
        "SSH_AUTH_SOCK": "/agent", "AGENT_API_KEY": "x", "MY_SECRET": "x",
        "MIRROR": "https://ghp_0123456789abcdefghijklmnop@github.com/o/r",
        "PATH": "/bin", "GITHUB_OUTPUT": "/o", "REPO_URL": "ssh://git@github.com/o/r", "MONKEY": "1",
    }  # fmt: skip
    assert secrets_in(env) == sorted(
        ["ACTIONS_ID_TOKEN_REQUEST_TOKEN", "AGENT_API_KEY", "GITHUB_TOKEN", "INPUT_GITHUB-TOKEN", "MIRROR",
         "MY_SECRET", "SSH_AUTH_SOCK"]
    )  # fmt: skip
    assert "AGENT_API_KEY" not in secrets_in(env, allowed=["AGENT_*"])


# ---------------------------------------------------------------------------------------------- run_tool


def test_run_tool_captures_output(tmp_path: Path) -> None:
    result = run_tool(["git", "--version"], cwd=tmp_path)
    assert result.ok
    assert result.argv == ("git", "--version")
    assert result.stdout.startswith("git version ")
    assert run_tool(["cat"], input="hello\n").stdout == "hello\n"
    assert run_tool(["sh", "-c", 'echo "$V"'], env={"V": "from env"}).stdout == "from env\n"


def test_run_tool_failure_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(BadInputError) as info:
        run_tool(
            ["git", "rev-parse", "nope"],
            cwd=tmp_path,
            env={"PATH": os.environ["PATH"], "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)},
        )
    err = info.value
    assert str(err).startswith("`git rev-parse nope` failed (exit 128): fatal: not a git repository")
    assert "\n" not in str(err)
    assert err.exit_code == 2
    assert err.returncode == 128  # type: ignore[attr-defined]
    assert "not a git repository" in err.stderr  # type: ignore[attr-defined]
    assert err.argv == ("git", "rev-parse", "nope")  # type: ignore[attr-defined]


def test_run_tool_uses_last_non_empty_stderr_line() -> None:
    with pytest.raises(BadInputError) as info:
        run_tool(["sh", "-c", "echo first >&2; echo 'it broke' >&2; echo >&2; exit 4"])
    assert (
        str(info.value) == "`sh -c 'echo first >&2; echo '\"'\"'it broke'\"'\"' >&2; echo >&2; exit 4'` "
        "failed (exit 4): it broke"
    )
    with pytest.raises(BadInputError) as info:
        run_tool(["false"])
    assert str(info.value) == "`false` failed (exit 1)"


def test_run_tool_unchecked() -> None:
    result = run_tool(["sh", "-c", "echo out; echo err >&2; exit 5"], check=False)
    assert (result.returncode, result.stdout, result.stderr, result.ok) == (5, "out\n", "err\n", False)


def test_run_tool_missing_program(tmp_path: Path) -> None:
    with pytest.raises(ToolMissingError) as info:
        run_tool(["no-such-tool-xyz", "--version"])
    assert str(info.value) == "no-such-tool-xyz is not installed or not on PATH"
    assert info.value.exit_code == 2
    with pytest.raises(BadInputError) as info2:
        run_tool(["git", "--version"], cwd=tmp_path / "nope")
    assert str(info2.value) == f"cannot run `git --version`: directory {tmp_path / 'nope'} does not exist"


def test_run_tool_timeout() -> None:
    start = time.monotonic()
    with pytest.raises(BadInputError) as info:
        run_tool(["sleep", "5"], timeout=0.2)
    assert time.monotonic() - start < 3
    assert str(info.value) == "`sleep 5` timed out after 0.2 s"
    assert info.value.returncode is None  # type: ignore[attr-defined]
