"""The terminal side of the commands, in process: how a command ends (one line, its exit code), the
progress line, and the shared pieces the commands are made of (where the configuration is, offline
arguments, the job's forge)."""

from __future__ import annotations

import io
import signal
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ci_autoresearch.actions import job
from ci_autoresearch.app import workspace
from ci_autoresearch.app.compare import offline_arguments
from ci_autoresearch.console import ProgressPrinter, exit_codes, last_word
from ci_autoresearch.errors import BadInputError, MeasurementError
from ci_autoresearch.interrupt import Interrupted
from ci_autoresearch.measure.progress import Progress

ACTIONS = {"GITHUB_ACTIONS": "true"}


def ending(raised: BaseException, *, debug: bool = False) -> tuple[int, str]:
    """The exit code and stderr of a command that raises ``raised`` inside :func:`exit_codes`."""

    @click.command()
    def command() -> None:
        with exit_codes(click.get_current_context(), debug=debug):
            raise raised

    result = CliRunner().invoke(command, [])
    return result.exit_code, result.stderr


def test_an_error_ends_with_one_line_and_its_exit_code() -> None:
    assert ending(BadInputError("x.yml: benchmark.command: expected a string", hint="see docs")) == (
        2,
        "error: x.yml: benchmark.command: expected a string (see docs)\n",
    )
    assert ending(MeasurementError("the benchmark failed")) == (3, "error: the benchmark failed\n")


def test_a_bug_is_one_line_with_exit_1_and_a_traceback_only_under_debug() -> None:
    code, err = ending(ValueError("oops"))
    assert (code, err.count("\n")) == (1, 1)
    assert err.startswith("internal error: ValueError: oops (rerun with --debug")

    @click.command()
    def buggy() -> None:
        with exit_codes(click.get_current_context(), debug=True):
            raise ValueError("oops")

    debugged = CliRunner().invoke(buggy, [])
    assert isinstance(debugged.exception, ValueError)  # raised as is: the traceback is shown


def test_an_interruption_exits_128_plus_the_signal() -> None:
    stop = Interrupted(signal.SIGTERM)
    stop.partial = "out.json"
    code, err = ending(stop)
    assert code == 143
    assert err == (
        "interrupted by SIGTERM: its processes were stopped and checkouts removed; "
        "what was measured is in out.json\n"
    )
    assert ending(KeyboardInterrupt())[0] == 130


def test_click_exits_pass_through() -> None:
    assert ending(click.exceptions.Exit(2)) == (2, "")


def test_last_word_is_one_line_that_cannot_be_a_workflow_command(capsys: pytest.CaptureFixture[str]) -> None:
    last_word("error: a\r\nb\n::error::x ##[warning]y")
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "\\n::error::x" in err
    assert "##[warning]" not in err


def test_progress_is_one_line_per_round_off_a_terminal() -> None:
    stream = io.StringIO()
    show = ProgressPrinter(stream, env={})
    show(Progress(phase="warmup", round=1, total=2))
    show(Progress(phase="round", round=3, total=10, message="extending"))
    show(Progress(phase="gate", message="pytest -q"))
    show(Progress(phase="setup"))
    show(Progress(phase="done"))
    assert stream.getvalue() == "warm-up 1/2\nround 3/10  extending\ngate: pytest -q\nsetup\n"
    quiet = io.StringIO()
    ProgressPrinter(quiet, env={}, quiet=True)(Progress(phase="setup"))
    assert quiet.getvalue() == ""


def test_progress_lines_in_actions_are_inert() -> None:
    stream = io.StringIO()
    ProgressPrinter(stream, env=ACTIONS)(Progress(phase="gate", message="true\n::error::x"))
    assert stream.getvalue().startswith("::stop-commands::")


def test_the_default_configuration_is_at_the_repository_root(tmp_path: Path) -> None:
    assert workspace.config_path(tmp_path, None) == tmp_path / ".autoresearch.yml"
    assert workspace.config_path(tmp_path, Path("other.yml")) == Path("other.yml")
    assert workspace.load_if_present(tmp_path, None) is None


def test_logs_go_next_to_out(tmp_path: Path) -> None:
    assert workspace.log_dir(tmp_path, tmp_path / "r.json", "bench") == tmp_path / "r.json.logs"


def test_two_result_files_are_an_offline_comparison(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "b.json").write_text("{}")
    assert offline_arguments(None, "a.json", "b.json")
    assert not offline_arguments(None, "main", "feature")  # refs, named as unknown by compare
    with pytest.raises(BadInputError, match=r"^c\.json: expected a result file"):
        offline_arguments(None, "a.json", "c.json")


def test_the_job_forge_needs_a_token_unless_it_is_a_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    env = {**ACTIONS, "GITHUB_REPOSITORY": "o/r"}
    assert job.github_forge_if_token(env, dry_run=False) is None
    with pytest.raises(BadInputError, match="no GitHub token"):
        job.github_forge(env, dry_run=False)
    dry = job.github_forge_if_token(env, dry_run=True)
    assert dry is not None
    assert dry.client is None
    assert capsys.readouterr().out == ""


def test_the_job_token_is_masked_before_the_forge_is_used(capsys: pytest.CaptureFixture[str]) -> None:
    env = {**ACTIONS, "GITHUB_REPOSITORY": "o/r", "INPUT_GITHUB-TOKEN": "s3cr3t"}
    forge = job.github_forge_if_token(env, dry_run=False)
    assert forge is not None
    assert forge.client is not None
    assert capsys.readouterr().out == "::add-mask::s3cr3t\n"
