"""convergence: loop state from evaluations and the stop rules."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ci_autoresearch.config.model import ConstraintsConfig, ObjectiveConfig, PlateauConfig
from ci_autoresearch.history.convergence import LoopState, gain, state_from, stop_reason
from ci_autoresearch.model import (
    Direction,
    Environment,
    Evaluation,
    KeepDecision,
    MetricComparison,
    RefInfo,
)
from tests.factories import stub_comparison

ENV = Environment(cpu_model="cpu", cores=2, os="linux", python="3.11", machine="x86_64", runner_name="t")


def evaluation(
    i: int,
    decision: KeepDecision,
    *,
    base: float = 100.0,
    cand: float | None = 100.0,
    key: str | None = None,
    seconds: float = 10.0,
    direction: Direction = "minimize",
    new_best: str | None = None,
) -> Evaluation:
    metric = MetricComparison(
        name="t",
        unit="s",
        direction=direction,
        role="objective",
        baseline=(base * 0.99, base, base * 1.01),
        candidate=() if cand is None else (cand * 0.99, cand, cand * 1.01),
        estimate=None,
        verdict="unchanged",
    )
    comparison = stub_comparison(
        baseline=RefInfo(ref="main", sha=f"base{i}"),
        candidate=RefInfo(ref=f"c{i}", sha=f"cand{i}"),
        objective="t",
        direction=direction,
        metrics={"t": metric},
        rounds=3,
        config_hash="h",
        environment=ENV,
    )
    return Evaluation(
        comparison=comparison,
        decision=decision,
        decision_reason="",
        iteration=i,
        key=key or f"cand{i}:base{i}:h",
        source=f"branch:c{i}",
        candidate_head=f"cand{i}",
        objective_value=cand,
        measured_seconds=seconds,
        new_best=new_best,
    )


MIN = ObjectiveConfig(metric="t", direction="minimize")
MAX = ObjectiveConfig(metric="t", direction="maximize")
NONE = ConstraintsConfig()


def test_empty_history() -> None:
    state = state_from([], direction="minimize")
    assert state == LoopState()
    assert stop_reason(state, ConstraintsConfig(max_iterations=3, no_improvement_limit=1), MIN) is None


def test_state_counts_kept_streak_seconds_and_series() -> None:
    evs = [
        evaluation(1, "discarded", base=100, cand=101),
        evaluation(2, "kept", base=100, cand=90, new_best="merged2"),
        evaluation(3, "discarded", base=90, cand=95),
        evaluation(4, "pending", base=90, cand=85),
        evaluation(5, "discarded", base=90, cand=None, seconds=2.5),
    ]
    state = state_from(evs, direction="minimize")
    assert state.iterations == 5
    assert state.start_value == 100
    assert state.best_value == 90
    assert state.best_sha == "merged2"
    assert state.kept == 1
    assert state.streak == 3  # pending counts as not kept
    assert state.seconds == 42.5
    assert state.series == (
        (1, 101, 100),
        (2, 90, 90),
        (3, 95, 90),
        (4, 85, 90),
        (5, None, 90),
    )


def test_best_without_kept_is_the_start() -> None:
    state = state_from([evaluation(1, "discarded", base=50, cand=40)], direction="minimize")
    assert state.best_value == 50
    assert state.best_sha == "base1"
    assert state.streak == 1


def test_kept_without_new_best_uses_the_candidate_sha() -> None:
    state = state_from([evaluation(1, "kept", base=50, cand=40)], direction="minimize")
    assert state.best_sha == "cand1"
    assert state.best_value == 40


def test_later_evaluation_of_same_key_updates_the_decision() -> None:
    pending = evaluation(1, "pending", cand=80, key="k1")
    other = evaluation(2, "discarded", cand=120)
    merged = evaluation(1, "kept", cand=80, key="k1", new_best="m1")
    state = state_from([pending, other, merged], direction="minimize")
    assert state.iterations == 2
    assert state.kept == 1
    assert state.best_value == 80
    assert state.best_sha == "m1"
    assert state.streak == 1  # the update keeps its slot: `other` came after it
    assert [s[0] for s in state.series] == [1, 2]


def test_a_kept_decision_can_be_withdrawn_by_a_later_evaluation() -> None:
    kept = evaluation(1, "kept", cand=80, key="k1")
    withdrawn = evaluation(1, "discarded", cand=80, key="k1")
    state = state_from([kept, withdrawn], direction="minimize")
    assert state.kept == 0
    assert state.best_value == 100
    assert state.streak == 1


def test_gain_both_directions() -> None:
    assert gain(100, 90, "minimize") == pytest.approx(0.10)
    assert gain(100, 110, "minimize") == pytest.approx(-0.10)
    assert gain(100, 110, "maximize") == pytest.approx(0.10)
    assert gain(100, 90, "maximize") == pytest.approx(-0.10)
    assert gain(-10, -12, "minimize") == pytest.approx(0.2)
    assert gain(0, 0, "minimize") == 0.0
    assert gain(0, -1, "minimize") == math.inf
    assert gain(0, -1, "maximize") == -math.inf


def test_target_minimize() -> None:
    state = state_from([evaluation(1, "kept", base=60, cand=49)], direction="minimize")
    objective = ObjectiveConfig(metric="t", direction="minimize", target=50)
    reason = stop_reason(state, NONE, objective)
    assert reason is not None
    assert reason.code == "target"
    assert "objective.target" in reason.message and "49" in reason.message
    not_yet = state_from([evaluation(1, "kept", base=60, cand=51)], direction="minimize")
    assert stop_reason(not_yet, NONE, objective) is None


def test_target_maximize() -> None:
    objective = ObjectiveConfig(metric="t", direction="maximize", target=50)
    reached = state_from(
        [evaluation(1, "kept", base=40, cand=51, direction="maximize")], direction="maximize"
    )
    reason = stop_reason(reached, NONE, objective)
    assert reason is not None and reason.code == "target"
    below = state_from([evaluation(1, "kept", base=40, cand=49, direction="maximize")], direction="maximize")
    assert stop_reason(below, NONE, objective) is None


def test_target_met_by_the_baseline_already() -> None:
    state = state_from([evaluation(1, "discarded", base=40, cand=45)], direction="minimize")
    reason = stop_reason(state, NONE, ObjectiveConfig(metric="t", target=50))
    assert reason is not None and reason.code == "target"


def test_no_improvement_limit() -> None:
    evs = [evaluation(1, "kept", cand=90), *(evaluation(i, "discarded") for i in range(2, 5))]
    state = state_from(evs, direction="minimize")
    assert state.streak == 3
    reason = stop_reason(state, ConstraintsConfig(no_improvement_limit=3), MIN)
    assert reason is not None
    assert reason.code == "no_improvement_limit"
    assert "constraints.no_improvement_limit" in reason.message
    assert stop_reason(state, ConstraintsConfig(no_improvement_limit=4), MIN) is None


def test_pending_counts_toward_the_streak() -> None:
    state = state_from([evaluation(1, "pending"), evaluation(2, "pending")], direction="minimize")
    reason = stop_reason(state, ConstraintsConfig(no_improvement_limit=2), MIN)
    assert reason is not None and reason.code == "no_improvement_limit"


def test_plateau_minimize() -> None:
    plateau = ConstraintsConfig(plateau=PlateauConfig(window=3, threshold=0.01))
    # best: 100 -> 90 (kept at 2) -> 89.5 (kept at 5): over the last 3 (3..5) 90 -> 89.5 = 0.56 %
    evs = [
        evaluation(1, "discarded"),
        evaluation(2, "kept", cand=90),
        evaluation(3, "discarded", base=90),
        evaluation(4, "discarded", base=90),
        evaluation(5, "kept", base=90, cand=89.5),
    ]
    state = state_from(evs, direction="minimize")
    reason = stop_reason(state, plateau, MIN)
    assert reason is not None
    assert reason.code == "plateau"
    assert "constraints.plateau" in reason.message and "0.56%" in reason.message
    # over the last 3 of the first 4 evaluations the best went 100 -> 90: no plateau
    assert stop_reason(state_from(evs[:4], direction="minimize"), plateau, MIN) is None


def test_plateau_needs_a_full_window() -> None:
    plateau = ConstraintsConfig(plateau=PlateauConfig(window=3, threshold=0.01))
    two = state_from([evaluation(1, "discarded"), evaluation(2, "discarded")], direction="minimize")
    assert stop_reason(two, plateau, MIN) is None
    three = state_from([evaluation(i, "discarded") for i in (1, 2, 3)], direction="minimize")
    reason = stop_reason(three, plateau, MIN)
    assert reason is not None and reason.code == "plateau"


def test_plateau_maximize_direction() -> None:
    plateau = ConstraintsConfig(plateau=PlateauConfig(window=2, threshold=0.05))
    up = [
        evaluation(1, "kept", base=100, cand=110, direction="maximize"),
        evaluation(2, "kept", base=110, cand=120, direction="maximize"),
    ]
    assert stop_reason(state_from(up, direction="maximize"), plateau, MAX) is None
    # read as minimize, the same numbers went the wrong way: a plateau
    reason = stop_reason(state_from(up, direction="minimize"), plateau, MIN)
    assert reason is not None and reason.code == "plateau"


def test_max_iterations() -> None:
    state = state_from([evaluation(i, "discarded") for i in (1, 2, 3)], direction="minimize")
    reason = stop_reason(state, ConstraintsConfig(max_iterations=3), MIN)
    assert reason is not None
    assert reason.code == "max_iterations"
    assert "constraints.max_iterations" in reason.message
    assert stop_reason(state, ConstraintsConfig(max_iterations=4), MIN) is None


def test_max_time_hours_counts_elapsed_time() -> None:
    state = state_from([evaluation(1, "discarded", seconds=1800)], direction="minimize")
    limits = ConstraintsConfig(max_time_hours=1)
    assert stop_reason(state, limits, MIN) is None
    assert stop_reason(state, limits, MIN, elapsed_seconds=1799) is None
    reason = stop_reason(state, limits, MIN, elapsed_seconds=1800)
    assert reason is not None
    assert reason.code == "max_time_hours"
    assert "constraints.max_time_hours" in reason.message and "1.00 h" in reason.message
    assert str(reason) == reason.message


def test_first_applicable_reason_wins() -> None:
    evs = [evaluation(i, "discarded", base=40, seconds=3600) for i in range(1, 6)]
    state = state_from(evs, direction="minimize")
    everything = ConstraintsConfig(
        max_iterations=5, max_time_hours=1, no_improvement_limit=5, plateau=PlateauConfig(window=5)
    )
    order = []
    objective = ObjectiveConfig(metric="t", target=50)
    for _ in range(5):
        reason = stop_reason(state, everything, objective)
        assert reason is not None
        order.append(reason.code)
        if reason.code == "target":
            objective = MIN
        elif reason.code == "no_improvement_limit":
            everything = ConstraintsConfig(
                max_iterations=5, max_time_hours=1, plateau=PlateauConfig(window=5)
            )
        elif reason.code == "plateau":
            everything = ConstraintsConfig(max_iterations=5, max_time_hours=1)
        elif reason.code == "max_iterations":
            everything = ConstraintsConfig(max_time_hours=1)
        else:
            everything = ConstraintsConfig()
    assert order == ["target", "no_improvement_limit", "plateau", "max_iterations", "max_time_hours"]
    assert stop_reason(state, everything, objective) is None


_decisions = st.sampled_from(["kept", "discarded", "pending"])
_values = st.one_of(st.none(), st.floats(min_value=1e-6, max_value=1e6, allow_nan=False))


@given(
    steps=st.lists(
        st.tuples(_decisions, _values, st.floats(min_value=0, max_value=1e7), st.integers(0, 5)),
        max_size=30,
    ),
    direction=st.sampled_from(["minimize", "maximize"]),
    elapsed=st.floats(min_value=0, max_value=1e9),
)
def test_unset_constraints_never_stop(
    steps: list[tuple[KeepDecision, float | None, float, int]], direction: Direction, elapsed: float
) -> None:
    evs = [
        evaluation(i, decision, cand=value, seconds=seconds, key=f"k{key}", direction=direction)
        for i, (decision, value, seconds, key) in enumerate(steps, start=1)
    ]
    state = state_from(evs, direction=direction)
    assert state.iterations == len({f"k{s[3]}" for s in steps})
    assert state.streak <= state.iterations
    objective = ObjectiveConfig(metric="t", direction=direction)
    assert stop_reason(state, ConstraintsConfig(), objective, elapsed_seconds=elapsed) is None
