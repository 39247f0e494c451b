"""From samples to the verdict a person reads: the lean of an inconclusive verdict, and what the noise
lets a session resolve."""

from __future__ import annotations

import dataclasses
import math
import random

from ci_autoresearch.config.model import BenchmarkConfig, ObjectiveConfig, WorkerConfig
from ci_autoresearch.decide import sequential, stopping
from ci_autoresearch.decide.verdict import ci_text, decide, describe
from ci_autoresearch.model import Estimate
from tests.unit.factories import config

LOOKS = sequential.look_schedule(10, 30)


def _pair(seed: int, effect: float, noise: float, n: int) -> tuple[list[float], list[float]]:
    rng = random.Random(seed)
    base = [100 * rng.lognormvariate(0, 0.01) for _ in range(n)]
    return base, [b * (1 + effect) * rng.lognormvariate(0, noise) for b in base]


def test_inconclusive_carries_its_lean_in_the_verdict_and_the_reason() -> None:
    """+1.4 % with an interval of +0.5 … +2.3 %: certainly worse, but not certainly beyond 1 %."""
    base, cand = _pair(1, 0.02, 0.02, 30)
    d = decide(config(), {"score": base}, {"score": cand}, paired=True)
    assert d.verdict == "inconclusive"
    assert d.lean == "worse" and d.metrics["score"].lean == "worse"
    assert d.reason == (
        "score likely worse: +1.4% (95% CI +0.53% … +2.3%, p=0.002, n=30), not beyond the 1.0% band"
    )
    # a time to minimise is slower, not worse; maximising the same numbers makes it better
    timed = config(objective=ObjectiveConfig(metric="wall_time"))
    d = decide(timed, {"wall_time": base}, {"wall_time": cand}, paired=True)
    assert d.reason.startswith("wall_time likely slower: +1.4% (95% CI +0.53% … +2.3%")
    more = config(objective=ObjectiveConfig(metric="score", direction="maximize"))
    d = decide(more, {"score": base}, {"score": cand}, paired=True)
    assert (d.verdict, d.lean) == ("inconclusive", "better")
    assert d.reason.startswith("score likely better: +1.4%")


def test_no_lean_when_the_interval_holds_no_change() -> None:
    base, cand = _pair(2, 0.0, 0.02, 30)
    d = decide(config(), {"score": base}, {"score": cand}, paired=True)
    assert (d.verdict, d.lean, d.metrics["score"].lean) == ("inconclusive", None, None)
    assert "the interval straddles the ±1.0% band" in d.reason


def test_a_lean_only_for_inconclusive_verdicts() -> None:
    base, cand = _pair(3, 0.10, 0.01, 30)
    d = decide(config(), {"score": base}, {"score": cand}, paired=True)
    assert (d.verdict, d.lean, d.metrics["score"].lean) == ("regressed", None, None)


def test_the_resolution_is_said_when_the_noise_is_coarser_than_min_effect() -> None:
    """At 10 rounds of 10 % noise: 30 rounds resolve only a few percent; the reason says so, with the
    levers, and the decision carries it."""
    base, cand = _pair(4, 0.0, 0.10, 10)
    d = decide(config(), {"score": base}, {"score": cand}, paired=True, looks=LOOKS)
    assert d.verdict == "inconclusive"
    r = d.resolution
    assert r is not None and r.metric == "score" and r.max_rounds == 30
    assert 0.015 < r.half_width < 0.10
    assert r.smallest_effect == 0.01 + r.half_width
    assert r.rounds_needed is not None and r.rounds_needed > 100
    assert r.advice == (
        f"worker mode (benchmark.callable or benchmark.worker.command) or about {r.rounds_needed} rounds "
        "(decision.max_rounds)"
    )
    assert (
        f"at this noise 30 rounds resolve score to about ±{r.half_width * 100:.1f}%, so changes smaller "
        f"than about {r.smallest_effect * 100:.1f}% stay inconclusive and `unchanged` (within ±1.0%) "
        f"cannot be reached; to resolve ±1.0%: {r.advice}"
    ) in d.reason


def test_the_levers_follow_the_configuration() -> None:
    base, cand = _pair(4, 0.0, 0.10, 10)
    timed = config(objective=ObjectiveConfig(metric="wall_time"), guards=())
    d = decide(timed, {"wall_time": base}, {"wall_time": cand}, paired=True, looks=LOOKS)
    assert d.resolution is not None
    assert d.resolution.advice.startswith(
        "worker mode (benchmark.callable or benchmark.worker.command), objective cpu_time or instructions"
    )
    worker = config(
        objective=ObjectiveConfig(metric="wall_time"),
        guards=(),
        benchmark=BenchmarkConfig(callable="work:run", worker=WorkerConfig()),
    )
    d = decide(worker, {"wall_time": base}, {"wall_time": cand}, paired=True, looks=LOOKS)
    assert d.resolution is not None
    assert d.resolution.advice.startswith(
        "both sides in one worker (benchmark.worker.sides: together), objective cpu_time or about"
    )
    assert d.resolution.advice.endswith("rounds (decision.max_rounds)")
    limited = dataclasses.replace(worker, decision=dataclasses.replace(worker.decision, max_seconds=60.0))
    d = decide(limited, {"wall_time": base}, {"wall_time": cand}, paired=True, looks=LOOKS)
    assert d.resolution is not None
    assert d.resolution.advice.endswith("rounds (decision.max_rounds and max_seconds)")


def test_no_resolution_note_when_the_noise_allows_min_effect() -> None:
    base, cand = _pair(5, 0.0, 0.002, 15)
    d = decide(config(), {"score": base}, {"score": cand}, paired=True, looks=LOOKS)
    assert d.verdict == "unchanged" and d.resolution is None


def test_unbounded_intervals_read_as_such() -> None:
    est = Estimate(ratio=0.97, ci_low=0.0, ci_high=math.inf, p_value=0.3, n=10, confidence=0.95, paired=True)
    assert ci_text(est) == "unbounded"
    assert describe(est) == "−3.0% (95% CI unbounded, p=0.3, n=10)"


def test_a_round_cut_short_is_left_out() -> None:
    """A candidate that failed after the baseline's run of a round: the complete rounds are judged,
    every sample is kept."""
    base, cand = _pair(6, -0.2, 0.01, 8)
    d = decide(config(), {"score": [*base, 100.0]}, {"score": cand}, paired=True)
    m = d.metrics["score"]
    assert m.estimate is not None and m.estimate.n == 8
    assert len(m.baseline) == 9 and len(m.candidate) == 8


def test_the_rounds_that_fit_in_the_time_allowed() -> None:
    """Planned from the pace of the first look, for nine tenths of the time (the rest absorbs a slower
    pace later): 10 rounds in 2 s fit 270 in 54 s, capped by max_rounds; never fewer than already
    measured; no pace known, no change."""
    assert stopping.PLAN_SHARE == 0.9
    assert stopping.rounds_within(60.0, rounds=10, elapsed=2.0, max_rounds=200) == 200
    assert stopping.rounds_within(60.0, rounds=10, elapsed=2.0, max_rounds=400) == 270
    assert stopping.rounds_within(60.0, rounds=10, elapsed=15.0, max_rounds=200) == 36
    assert stopping.rounds_within(60.0, rounds=10, elapsed=15.0, max_rounds=200, share=1.0) == 40
    assert stopping.rounds_within(60.0, rounds=10, elapsed=100.0, max_rounds=200) == 10
    assert stopping.rounds_within(60.0, rounds=0, elapsed=0.0, max_rounds=30) == 30
    assert stopping.rounds_within(60.0, rounds=10, elapsed=float("inf"), max_rounds=30) == 30


def test_a_look_is_the_last_when_the_next_would_end_after_the_time_allowed() -> None:
    """At the pace so far: 120 rounds in 30 s reach 180 by 45 s (in time) but not 270 by 67.5 s."""
    assert stopping.next_look_in_time(60.0, rounds=120, elapsed=30.0, target=180)
    assert stopping.next_look_in_time(60.0, rounds=120, elapsed=40.0, target=180)
    assert not stopping.next_look_in_time(60.0, rounds=120, elapsed=30.0, target=270)
    assert not stopping.next_look_in_time(60.0, rounds=120, elapsed=40.1, target=180)
    assert stopping.next_look_in_time(60.0, rounds=0, elapsed=0.0, target=10)
