"""compare_refs in-process: a real git repository, a fake side runner that starts no benchmark process.

The runner returns deterministic values per side and round, so the round schedule (warm-up, ABBA
order, the looks at which rounds are added) and the verdict are pinned exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ci_autoresearch.config import load_config_text
from ci_autoresearch.config.model import Config
from ci_autoresearch.decide import sequential
from ci_autoresearch.errors import MeasurementError
from ci_autoresearch.measure import rounds
from ci_autoresearch.measure.progress import Progress
from ci_autoresearch.measure.runner import RunResult
from ci_autoresearch.measure.session import compare_refs
from ci_autoresearch.measure.sides import Side, SideRunner
from ci_autoresearch.model import Comparison
from tests.helpers import ROOT, base_env, commit_branch, make_repo

CONFIG = """\
objective:
  metric: score
  direction: minimize
benchmark:
  command: "exit 99"
metrics:
  collection: {warmup_runs: 1, measurement_runs: 6}
decision: {max_rounds: 30, min_effect: 0.01, order: abba}
"""

Values = Callable[[str, int], float]
"""The score of a side ("baseline" / "candidate") in round ``n`` (1-based)."""


class FakeRunner(SideRunner):
    """Measures nothing: every run's score comes from ``values``; every call is recorded."""

    def __init__(self, config: Config, log_dir: Path, values: Values) -> None:
        super().__init__(config, {}, log_dir)
        self.values = values
        self.calls: list[str] = []

    def setup(self, side: Side) -> RunResult | None:
        self.calls.append(f"{side.name}.setup")
        return None

    def once(self, side: Side, label: str) -> dict[str, float]:
        self.calls.append(f"{side.name}.{label}")
        if label.startswith("warmup"):
            return {"score": 1.0}
        return {"score": self.values(side.name, int(label.removeprefix("round")))}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = make_repo(tmp_path_factory.mktemp("session") / "repo", {"bench.txt": "base\n"})
    commit_branch(r, "cand", {"bench.txt": "candidate\n"})
    return r


def compare(
    repo: Path,
    tmp_path: Path,
    values: Values,
    text: str = CONFIG,
    runner_class: type[FakeRunner] = FakeRunner,
) -> tuple[FakeRunner, list[Progress], Comparison]:
    config = load_config_text(text, source=".autoresearch.yml")
    runner = runner_class(config, tmp_path / "logs", values)
    events: list[Progress] = []
    comparison = compare_refs(
        repo,
        config,
        "main",
        "cand",
        env=base_env(),
        log_dir=tmp_path / "logs",
        progress=events.append,
        runner=runner,
    )
    return runner, events, comparison


def test_a_clear_improvement_is_decided_at_a_later_look_in_abba_order(repo: Path, tmp_path: Path) -> None:
    runner, events, comparison = compare(
        repo, tmp_path, lambda side, n: 100.0 + n % 3 if side == "baseline" else 80.0 + n % 2
    )
    assert sequential.look_schedule(6, 30) == (6, 9, 14, 21, 30)
    # 20 % faster, yet six rank-based pairs cannot reach the first look's strict boundary: two more looks
    assert [(e.phase, e.round, e.total) for e in events if e.phase not in ("warmup", "round")] == [
        ("extend", 6, 9),
        ("extend", 9, 14),
        ("done", 14, 14),
    ]
    assert [e.round for e in events if e.phase == "round"] == list(range(1, 15))
    assert comparison.verdict == "improved"
    assert comparison.rounds == 14
    assert comparison.measurement.processes == 28
    assert runner.calls[:4] == ["baseline.setup", "candidate.setup", "baseline.warmup1", "candidate.warmup1"]
    # ABBA by the round's place in the session, across the looks (the first look's 9 rounds end with
    # the baseline first, the next round starts with the candidate): rounds 2j and 2j + 1 always pair
    assert runner.calls[4:] == [
        *("baseline.round1", "candidate.round1", "candidate.round2", "baseline.round2"),
        *("baseline.round3", "candidate.round3", "candidate.round4", "baseline.round4"),
        *("baseline.round5", "candidate.round5", "candidate.round6", "baseline.round6"),
        *("baseline.round7", "candidate.round7", "candidate.round8", "baseline.round8"),
        *("baseline.round9", "candidate.round9", "candidate.round10", "baseline.round10"),
        *("baseline.round11", "candidate.round11", "candidate.round12", "baseline.round12"),
        *("baseline.round13", "candidate.round13", "candidate.round14", "baseline.round14"),
    ]
    assert comparison.metrics["score"].baseline == tuple(100.0 + n % 3 for n in range(1, 15))
    assert comparison.metrics["score"].candidate == tuple(80.0 + n % 2 for n in range(1, 15))


class FakeClock:
    """The session's clock (``time.perf_counter`` and ``time.monotonic`` in its module), advanced by the
    runs: ``seconds(label)`` per run."""

    def __init__(self, seconds: Callable[[str], float]) -> None:
        self.now = 0.0
        self.seconds = seconds

    def perf_counter(self) -> float:
        return self.now

    monotonic = perf_counter


def test_a_session_ends_at_a_look_when_the_next_would_end_after_max_seconds(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """decision.max_seconds: the first six rounds are quick, so the first look plans all 30 rounds; then
    every run takes 1.5 s, and at the second look (9 rounds, 9.1 s) the third (14) would end after 10 s:
    the session ends there, inconclusive, where without the limit it decides at 14 (above)."""
    clock = FakeClock(lambda label: 1.5 if label.startswith("round") and int(label[5:]) > 6 else 0.01)
    monkeypatch.setattr(rounds, "time", clock)

    class TimedRunner(FakeRunner):
        def once(self, side: Side, label: str) -> dict[str, float]:
            clock.now += clock.seconds(label)
            return super().once(side, label)

    text = CONFIG.replace("{max_rounds: 30,", "{max_rounds: 30, max_seconds: 10,")
    runner, events, comparison = compare(
        repo,
        tmp_path,
        lambda side, n: 100.0 + n % 3 if side == "baseline" else 80.0 + n % 2,
        text,
        runner_class=TimedRunner,
    )
    assert [(e.phase, e.round, e.total) for e in events if e.phase not in ("warmup", "round")] == [
        ("extend", 6, 9),
        ("note", 9, 0),
        ("done", 9, 9),
    ]
    [note] = [e.message for e in events if e.phase == "note"]
    assert note == (
        "9 rounds took 9.1 s: the next look, at 14 rounds, would end after 10 s (decision.max_seconds); "
        "ending at this look"
    )
    assert comparison.verdict == "inconclusive"
    assert comparison.rounds == 9
    assert runner.calls[-1] == "candidate.round9"


def test_a_session_that_cannot_resolve_stops_early(repo: Path, tmp_path: Path) -> None:
    # the candidate is 2 % faster in odd rounds and 2 % slower in even ones: the noise is too large
    # for 30 rounds to tell ±1 %, so the session gives up at the second look instead of running all 30
    runner, events, comparison = compare(
        repo, tmp_path, lambda side, n: 100.0 if side == "baseline" else (98.0 if n % 2 else 102.0)
    )
    assert [(e.phase, e.round, e.total) for e in events if e.phase not in ("warmup", "round")] == [
        ("note", 6, 0),
        ("extend", 6, 9),
        ("done", 9, 9),
    ]
    notes = [e.message for e in events if e.phase == "note"]
    assert len(notes) == 1
    assert "`unchanged` (within ±1.0%) cannot be reached" in notes[0]
    assert comparison.verdict == "inconclusive"
    assert comparison.rounds == 9
    assert runner.calls[-1] == "candidate.round9"


def test_a_session_planned_to_a_time_limit_uses_its_time_instead_of_stopping_early(
    repo: Path, tmp_path: Path
) -> None:
    """decision.max_seconds: the same noise as above, but the rounds are planned to a time limit, so the
    session adds rounds while inconclusive instead of giving up at the second look -- and at 30 rounds
    the interval fits inside ±1 %: the verdict the futility stop gave up on."""
    text = CONFIG.replace("{max_rounds: 30,", "{max_rounds: 30, max_seconds: 3600,")
    _, events, comparison = compare(
        repo, tmp_path, lambda side, n: 100.0 if side == "baseline" else (98.0 if n % 2 else 102.0), text
    )
    assert [(e.phase, e.round, e.total) for e in events if e.phase in ("extend", "done")] == [
        ("extend", 6, 9),
        ("extend", 9, 14),
        ("extend", 14, 21),
        ("extend", 21, 30),
        ("done", 30, 30),
    ]
    [note] = [e.message for e in events if e.phase == "note"]
    assert "`unchanged` (within ±1.0%) cannot be reached" in note
    assert note.endswith("(projected from the first rounds; measuring goes on within decision.max_seconds)")
    assert comparison.verdict == "unchanged"
    assert comparison.rounds == 30


def test_a_failing_candidate_ends_the_session_invalid_with_the_rounds_so_far(
    repo: Path, tmp_path: Path
) -> None:
    def values(side: str, n: int) -> float:
        if side == "candidate" and n == 3:
            raise MeasurementError("candidate cand: the benchmark failed (exit 1)")
        return 100.0

    runner, events, comparison = compare(repo, tmp_path, values)
    assert comparison.verdict == "invalid"
    assert comparison.rounds == 2
    assert runner.calls[-1] == "candidate.round3"
    assert events[-1].phase == "done"
    assert events[-1].message == "candidate cand: the benchmark failed (exit 1)"


def test_the_bench_replays_the_time_plan_as_the_session_takes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """``bench/decision_quality.py`` decides recorded trials with the session's loop, and with the
    recorded durations also its time plan: the samples and clock of the session above end at the same
    look, and without the clock at the look the session reaches without a limit."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import decision_quality

    config = load_config_text(
        CONFIG.replace("{max_rounds: 30,", "{max_rounds: 30, max_seconds: 10,"), source=".autoresearch.yml"
    )
    base = [100.0 + n % 3 for n in range(1, 31)]
    cand = [80.0 + n % 2 for n in range(1, 31)]
    clock = [0.04 + 0.02 * n if n <= 6 else 0.16 + 3.0 * (n - 6) for n in range(1, 31)]
    timed = decision_quality.tool_rule(config, clock=clock)(base, cand)
    assert (timed.verdict, timed.rounds) == ("inconclusive", 9)
    untimed = decision_quality.tool_rule(config)(base, cand)
    assert (untimed.verdict, untimed.rounds) == ("improved", 14)


def test_glances_between_looks_take_a_small_share_of_the_time() -> None:
    """The progress line's estimate costs O(n²): at most every GLANCE_SECONDS, and no sooner than its
    last cost over GLANCE_SHARE, so that at hundreds of rounds glances do not eat the time of rounds."""
    cheap, dear = 0.001, 0.1  # seconds the last glance took
    assert not rounds.glance_due(10.4, 10.0, cheap)
    assert rounds.glance_due(10.0 + rounds.GLANCE_SECONDS, 10.0, cheap)
    assert not rounds.glance_due(10.0 + rounds.GLANCE_SECONDS, 10.0, dear)
    assert not rounds.glance_due(11.9, 10.0, dear)
    assert rounds.glance_due(10.0 + dear / rounds.GLANCE_SHARE, 10.0, dear)
