"""Bounds where input enters: each cause of an exit 1 or a hang found by the attacker's pass, one test each.

Causes (issue 12): numbers that overflow (1e400, a 400-digit integer, timeout_seconds 1e13, samples or
METRIC values near 1e308, 1e-300 against 1e300), NUL bytes, 5 000-deep nesting (config, result file,
event payload), event fields of the wrong type, NaN confidence in an artifact, an unwritable
GITHUB_OUTPUT, 100 000 samples, files that never end (/dev/zero, a FIFO), PR number −7, remotes and
refs that start with '-', and @mentions / workflow commands in untrusted text.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from ci_autoresearch import artifacts, bounds, git
from ci_autoresearch.actions import event as gha_event
from ci_autoresearch.actions import runtime as gha
from ci_autoresearch.config import load_config, validate_config
from ci_autoresearch.config.feasibility import fewest_rounds, warnings
from ci_autoresearch.decide.verdict import decide
from ci_autoresearch.errors import ArtifactError, BadInputError, GitError
from ci_autoresearch.history import notes as history
from ci_autoresearch.report.markdown import escape_md, evaluation_markdown
from tests.unit.factories import comparison, config, evaluation

DEEP = 5000


def problems_of(path: Path) -> list[str]:
    return [str(p) for p in validate_config(path)]


# --- files that are not documents ----------------------------------------------------------------------


def test_read_limited_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # no writer: a plain open() would wait forever
    with pytest.raises(bounds.BoundsError, match="is a FIFO"):
        bounds.read_limited(fifo, 100)


def test_read_limited_refuses_devices_directories_and_large_files(tmp_path: Path) -> None:
    with pytest.raises(bounds.BoundsError, match="is a character device, expected a regular file"):
        bounds.read_limited(Path("/dev/zero"), 100)
    with pytest.raises(bounds.BoundsError, match="is a directory"):
        bounds.read_limited(tmp_path, 100)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 101)
    with pytest.raises(bounds.BoundsError, match="is 101 bytes, more than the limit of 100"):
        bounds.read_limited(big, 100)
    assert bounds.read_limited(big, 101) == b"x" * 101
    with pytest.raises(FileNotFoundError):
        bounds.read_limited(tmp_path / "none", 100)


def test_config_from_dev_zero_or_a_fifo_is_one_line(tmp_path: Path) -> None:
    assert problems_of(Path("/dev/zero")) == ["/dev/zero: is a character device, expected a YAML file"]
    fifo = tmp_path / "c.yml"
    os.mkfifo(fifo)
    assert problems_of(fifo) == [f"{fifo}: is a FIFO (named pipe), expected a YAML file"]


# --- JSON ---------------------------------------------------------------------------------------------


def test_json_nesting_is_refused_before_parsing() -> None:
    text = "[" * DEEP + "]" * DEEP
    assert bounds.json_depth(text) == DEEP
    with pytest.raises(bounds.BoundsError, match=f"nested {DEEP} levels deep, more than the limit of 64"):
        bounds.loads_json(text)
    assert bounds.json_depth('{"a": "[[[[[[", "b": [1, {"c": []}]}') == 4  # brackets in strings skipped


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": NaN}', "NaN is not a finite number"),
        ('{"a": -Infinity}', "-Infinity is not a finite number"),
        ('{"a": 1e400}', "1e400 is not a finite number"),
        ('{"a": ' + "9" * 400 + "}", "an integer of 400 digits (at most 30)"),
        ('{"a": "x\\u0000y"}', "a: contains a NUL byte"),
        ('{"a\\u0000": 1}', "a\x00: contains a NUL byte"),
    ],
)
def test_json_numbers_and_text_are_bounded(text: str, message: str) -> None:
    with pytest.raises(bounds.BoundsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        bounds.loads_json(text)


def test_lenient_json_reads_non_finite_numbers_for_the_caller_to_judge() -> None:
    doc = bounds.loads_json('{"a": NaN, "b": 1e400, "c": ' + "9" * 400 + "}", lenient_numbers=True)
    assert math.isnan(doc["a"]) and doc["b"] == math.inf and doc["c"] == math.inf


# --- configuration --------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".autoresearch.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("objective: {target: 1.0e+400}\n", "objective.target: expected a finite number, got inf"),
        (
            "decision: {seed: " + "1" * 400 + "}\n",
            "decision.seed: expected a number within ±1e+300, got 111111111111… (400 digits)",
        ),
        (
            "benchmark: {timeout_seconds: 10000000000000}\n",
            "benchmark.timeout_seconds: expected a number > 0 and <= 604800, got 10000000000000",
        ),
        ('benchmark: {command: "echo \\0 x"}\n', "benchmark.command: contains a NUL byte"),
        ('benchmark: {env: {"A\\0": x}}\n', "benchmark.env.A\x00: contains a NUL byte"),
        (
            "checkpoint: {remote: '--upload-pack=touch pwned'}\n",
            "checkpoint.remote: expected a git remote name or URL (no spaces, not starting with '-'), "
            "got '--upload-pack=touch pwned'",
        ),
        (
            "decision: {max_rounds: 100000}\n",
            "decision.max_rounds: expected an integer between 2 and 1000, got 100000",
        ),
    ],
)
def test_config_numbers_text_and_remotes_are_bounded(tmp_path: Path, text: str, line: str) -> None:
    path = write(tmp_path, text)
    assert problems_of(path) == [f"{path}: {line}"]


def test_config_nested_5000_deep_is_one_line_naming_the_place(tmp_path: Path) -> None:
    path = write(tmp_path, "benchmark:\n  env: " + "[" * DEEP + "]" * DEEP + "\n")
    assert problems_of(path) == [
        f"{path}: invalid YAML at line 2, column 70: nested more than 64 levels deep"
    ]
    block = "".join(" " * i + "k:\n" for i in range(1400))  # 1 400 block levels: under 1 MB
    path = write(tmp_path, block)
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: invalid YAML at line 64, column") and "nested more than 64" in problem


def test_a_valid_config_within_bounds_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "benchmark: {command: x, timeout_seconds: 604800, env: {BIG: 1.0e+20}}\n"
        "objective: {target: 1.0e+100}\ndecision: {max_rounds: 1000, seed: 9007199254740991}\n",
    )
    loaded = load_config(path)
    assert loaded.benchmark.timeout_seconds == bounds.MAX_TIMEOUT_SECONDS
    assert loaded.decision.max_rounds == bounds.MAX_SAMPLES


# --- artifacts ---------------------------------------------------------------------------------------------


def result_doc(samples: list[float] | None = None) -> dict[str, object]:
    c = comparison([1.0] * 6, [0.8] * 6)
    doc = artifacts.comparison_to_json(c)
    if samples is not None:
        doc["metrics"]["score"]["samples"]["candidate"] = samples  # type: ignore[index]
    return doc


def parse(text: str) -> None:
    artifacts.parse_document(text, source="x.json")


def test_nan_confidence_in_an_artifact_is_refused() -> None:
    text = json.dumps(result_doc()).replace('"confidence": 0.95', '"confidence": NaN')
    with pytest.raises(ArtifactError, match=r"^x.json: NaN is not a finite number"):
        parse(text)
    text = json.dumps(result_doc()).replace('"confidence": 0.95', '"confidence": 2')
    with pytest.raises(ArtifactError, match=r"^x.json: confidence: not a valid"):
        parse(text)


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        ([1e308] * 6, r"metrics.score.samples.candidate\[0\]: 1e\+308 is larger in magnitude"),
        ([1e-300] * 6, r"metrics.score.samples.candidate\[0\]: 1e-300 is closer to zero"),
        ([1.0] * 100_000, r"metrics.score.samples.candidate: not a valid ci-autoresearch/comparison@1"),
    ],
)
def test_artifact_samples_are_bounded(samples: list[float], message: str) -> None:
    with pytest.raises(ArtifactError, match=message):
        parse(json.dumps(result_doc(samples)))


def test_artifact_nested_5000_deep_or_with_400_digits_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="nested 5001 levels deep"):
        parse('{"schema": ' + "[" * DEEP + "]" * DEEP + "}")
    with pytest.raises(ArtifactError, match="an integer of 400 digits"):
        parse(json.dumps(result_doc()).replace('"rounds": 6', '"rounds": ' + "7" * 400))
    with pytest.raises(ArtifactError, match="is a character device"):
        artifacts.read_document(Path("/dev/zero"))


def test_the_whole_allowed_range_is_judged_without_overflow() -> None:
    """1e-150 against 1e150 (the widest ratio allowed) and 1 000 samples give finite estimates."""
    cfg = config()
    low, high = bounds.MIN_METRIC, bounds.MAX_METRIC
    for paired in (True, False):
        d = decide(cfg, {"score": [low] * 6}, {"score": [high] * 6}, paired=paired)
        est = d.metrics["score"].estimate
        assert est is not None and math.isfinite(est.ratio) and math.isfinite(est.ci_high)
        assert d.verdict == "regressed"
    n = bounds.MAX_SAMPLES
    d = decide(cfg, {"score": [1.0 + i % 7 / 100 for i in range(n)]}, {"score": [0.5] * n}, paired=True)
    assert d.verdict == "improved"


# --- notes read from a remote are untrusted --------------------------------------------------------------


def test_a_note_about_another_commit_is_refused() -> None:
    ev = evaluation(comparison([1.0] * 6, [0.8] * 6))
    doc = artifacts.evaluation_to_json(ev)
    history._check_claims(doc, ev.comparison.candidate.sha, source="note")
    with pytest.raises(ArtifactError, match=r"candidate\.sha: describes"):
        history._check_claims(doc, "f" * 40, source="note")
    with pytest.raises(ArtifactError, match="key: expected"):
        history._check_claims({**doc, "key": "x"}, ev.comparison.candidate.sha, source="note")


def test_remotes_and_refs_starting_with_a_dash_are_refused_before_git_runs(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="refused: expected a name that does not start with '-'"):
        history.fetch_notes(tmp_path, "--upload-pack=touch pwned")
    with pytest.raises(GitError, match="refused"):
        history.push_notes(tmp_path, "--receive-pack=touch pwned")
    with pytest.raises(GitError, match="refused"):
        git.resolve(tmp_path, "--output=pwned")
    assert git.try_resolve(tmp_path, "-x") is None
    assert not (tmp_path / "pwned").exists()


# --- the event payload -------------------------------------------------------------------------------------


def event_env(path: Path) -> dict[str, str]:
    return {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(path)}


def test_event_payload_from_dev_zero_or_a_fifo_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="/dev/zero: the event payload is a character device"):
        gha_event.load_event(event_env(Path("/dev/zero")))
    fifo = tmp_path / "event.json"
    os.mkfifo(fifo)
    with pytest.raises(BadInputError, match="is a FIFO"):
        gha_event.load_event(event_env(fifo))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ('{"a": ' + "[" * DEEP + "]" * DEEP + "}", "nested 5001 levels deep"),
        ('{"repository": "x"}', "repository: expected an object, got a string"),
        ('{"pull_request": {"number": -7}}', "pull_request.number: expected a positive integer, got -7"),
        ('{"pull_request": {"labels": {}}}', "pull_request.labels: expected an array, got an object"),
        (
            '{"workflow_run": {"pull_requests": [{"number": true}]}}',
            "number: expected an integer, got a boolean",
        ),
        ('{"ref": "refs/heads/\\u0000"}', "ref: contains a NUL byte"),
    ],
)
def test_event_fields_of_the_wrong_shape_are_one_line(tmp_path: Path, payload: str, message: str) -> None:
    path = tmp_path / "event.json"
    path.write_text(payload)
    with pytest.raises(BadInputError, match=message):
        gha_event.load_event(event_env(path))


def test_pull_request_number_minus_7_is_refused() -> None:
    event = json.loads(
        (Path(__file__).parent.parent / "fixtures/github-events/pull_request.opened.json").read_text()
    )
    event["pull_request"]["number"] = -7
    with pytest.raises(BadInputError, match=r"pull_request\.number: expected a positive integer, got -7"):
        gha_event.pull_request_info(event, source="e.json")


def test_unwritable_github_output_after_the_work_is_one_line(tmp_path: Path) -> None:
    for target in (tmp_path, Path("/dev/full"), tmp_path / "missing" / "out"):
        with pytest.raises(BadInputError, match=r"\(GITHUB_OUTPUT\): "):
            gha.write_outputs({"GITHUB_OUTPUT": str(target)}, {"verdict": "improved"})
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # nobody reads it: writing would block
    with pytest.raises(BadInputError, match="GITHUB_STEP_SUMMARY"):
        gha.append_summary({"GITHUB_STEP_SUMMARY": str(fifo)}, "# report")


# --- untrusted text ---------------------------------------------------------------------------------------


def test_mentions_are_escaped_everywhere_markdown_is_written() -> None:
    assert escape_md("@octocat and @org/team") == "@\u200boctocat and @\u200borg/team"
    c = comparison([1.0] * 6, [0.8] * 6)
    ev = evaluation(c, decision="discarded")
    ev = type(ev)(**{**ev.__dict__, "decision_reason": "invalid: benchmark failed: ping @admin"})
    md = evaluation_markdown(ev)
    assert "@admin" not in md and "@\u200badmin" in md


def processed_commands(log: str) -> list[str]:
    """The lines the Actions runner would run as workflow commands (stop-commands honoured)."""
    run: list[str] = []
    stopped: str | None = None
    for line in log.splitlines():
        if stopped is not None:
            if line == f"::{stopped}::":
                stopped = None
            continue
        if line.startswith("::stop-commands::"):
            stopped = line.removeprefix("::stop-commands::")
            continue
        if line.lstrip().startswith("::") or "##[" in line:
            run.append(line)
    return run


def test_untrusted_text_never_becomes_a_workflow_command() -> None:
    env = {"GITHUB_ACTIONS": "true"}
    text = "gate: pytest\n::add-mask::secret\n  ::error::pwned\nok ##[set-output name=x;]y\n"
    shown = gha.inert(text, env=env)
    assert processed_commands(text) and not processed_commands(shown)
    assert shown.splitlines()[1:-1] == text.splitlines()
    assert gha.inert("plain line\n", env=env) == "plain line\n"
    assert gha.inert(text, env={}) == text  # outside Actions nothing is added
    doc = json.dumps({"reason": "x ##[add-mask]y"})
    safe = gha.inert_json(doc, env=env)
    assert not processed_commands(safe) and json.loads(safe) == json.loads(doc)
    tokens = iter(["x" * 8, "y" * 8])
    assert gha.inert("::xxxxxxxx::\n", env=env, token=lambda: next(tokens)).startswith(
        "::stop-commands::yyyyyyyy"
    )  # a token the text holds is never used


# --- max_rounds that can never reach significance ------------------------------------------------------


def test_validate_warns_when_max_rounds_can_never_be_significant() -> None:
    from ci_autoresearch.config.model import DecisionConfig

    assert warnings(config()) == []  # 30 rounds at 0.95
    few = config(decision=DecisionConfig(max_rounds=5, confidence=0.95))
    assert fewest_rounds(few) == 6
    assert warnings(few) == [
        "decision.max_rounds: 5 rounds can never reach significance at confidence 0.95: even a steady "
        "−50.0% ends inconclusive; it takes at least 6 rounds (set max_rounds to 6 or more)"
    ]
    strict = config(decision=DecisionConfig(max_rounds=7, confidence=0.99))
    assert fewest_rounds(strict) == 8 and warnings(strict)
