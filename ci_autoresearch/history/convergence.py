"""When the loop stops: target, no-improvement streak, plateau, iteration and time budgets. Pure.

The state of a run is derived from its evaluations alone (the git notes), so a run that is killed and
started again computes the same state and stops for the same reason.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ci_autoresearch.config.model import ConstraintsConfig, ObjectiveConfig, PlateauConfig
from ci_autoresearch.model import Direction, Evaluation

StopCode = Literal["target", "no_improvement_limit", "plateau", "max_iterations", "max_time_hours"]


@dataclass(frozen=True, kw_only=True)
class LoopState:
    """Where a run stands, derived from its evaluations.

    ``iterations``: evaluations counted (one per key; pending ones included).
    ``start_value``: the baseline's objective median in the first evaluation that measured the baseline
    (an ``invalid`` first candidate may have measured nothing; None when no evaluation did).
    ``best_value``: the candidate's objective median in the latest ``kept`` evaluation, else
    ``start_value``. ``best_sha``: the commit that holds it (the kept evaluation's ``new_best``, else its
    candidate; the first evaluation's baseline when nothing was kept).
    ``kept``: how many evaluations were kept. ``streak``: evaluations since the last kept one.
    ``seconds``: the sum of ``measured_seconds``.
    ``series``: one ``(iteration, candidate value or None, running best or None)`` per evaluation, with
    ``iteration`` counted from 1 in the order given; for charts and the plateau rule.
    ``verdicts``: the verdict of each evaluation of ``series``, in the same order (for charts).
    """

    iterations: int = 0
    start_value: float | None = None
    best_value: float | None = None
    best_sha: str | None = None
    kept: int = 0
    streak: int = 0
    seconds: float = 0.0
    series: tuple[tuple[int, float | None, float | None], ...] = ()
    verdicts: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class StopReason:
    """Why the loop stops: a machine ``code`` and a one-line ``message`` naming the config key."""

    code: StopCode
    message: str

    def __str__(self) -> str:
        return self.message


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _baseline_value(ev: Evaluation) -> float | None:
    metric = ev.comparison.objective_metric
    return _median(metric.baseline) if metric is not None else None


def _candidate_value(ev: Evaluation) -> float | None:
    metric = ev.comparison.objective_metric
    value = _median(metric.candidate) if metric is not None else None
    return value if value is not None else ev.objective_value


def _latest_per_key(evaluations: Sequence[Evaluation]) -> list[Evaluation]:
    """One evaluation per key: the last one given, in the place of the first (an update keeps its slot)."""
    slots: dict[str, int] = {}
    out: list[Evaluation] = []
    for ev in evaluations:
        if ev.key in slots:
            out[slots[ev.key]] = ev
        else:
            slots[ev.key] = len(out)
            out.append(ev)
    return out


def state_from(evaluations: Sequence[Evaluation], *, direction: Direction) -> LoopState:
    """The loop state after ``evaluations`` (in iteration order).

    For a key seen more than once only the last evaluation counts (a later one updates the decision,
    e.g. ``pending`` → ``kept`` when the PR was merged). ``pending`` counts as an iteration, not as kept.
    ``direction`` is accepted for symmetry with :func:`stop_reason`; the best value is the one of the
    latest kept candidate (keeping already means "better").
    """
    del direction  # the decision, not the direction, says what is best
    # `compare` measurements no loop has taken up are not iterations (source "compare:…")
    evs = [ev for ev in _latest_per_key(evaluations) if not ev.source.startswith("compare:")]
    if not evs:
        return LoopState()
    measured = [ev for ev in evs if _baseline_value(ev) is not None]
    start = _baseline_value(measured[0]) if measured else None
    best = start
    best_sha: str | None = (measured[0] if measured else evs[0]).comparison.baseline.sha or None
    kept = 0
    streak = 0
    seconds = 0.0
    series: list[tuple[int, float | None, float | None]] = []
    for i, ev in enumerate(evs, start=1):
        value = _candidate_value(ev)
        seconds += ev.measured_seconds
        if ev.decision == "kept":
            kept += 1
            streak = 0
            best = value if value is not None else best
            best_sha = ev.new_best or ev.comparison.candidate.sha or ev.candidate_head
        else:
            streak += 1
        series.append((i, value, best))
    return LoopState(
        iterations=len(evs),
        start_value=start,
        best_value=best,
        best_sha=best_sha,
        kept=kept,
        streak=streak,
        seconds=seconds,
        series=tuple(series),
        verdicts=tuple(ev.comparison.verdict for ev in evs),
    )


def gain(start: float, best: float, direction: Direction) -> float:
    """The relative improvement from ``start`` to ``best`` (positive = better, ``0.1`` = 10 % better).

    Relative to ``|start|``; from a start of 0 any improvement is infinite (``±inf``, ``0.0`` if equal).
    """
    diff = (start - best) if direction == "minimize" else (best - start)
    if start == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return diff / abs(start)


def _num(x: float) -> str:
    return f"{x:.6g}"


def _pct(x: float) -> str:
    return f"{x * 100:.2f}%" if math.isfinite(x) else ("+inf" if x > 0 else "-inf")


def _target_reached(state: LoopState, objective: ObjectiveConfig) -> StopReason | None:
    best, target = state.best_value, objective.target
    if target is None or best is None or state.iterations == 0:
        return None
    minimize = objective.direction == "minimize"
    if not (best <= target if minimize else best >= target):
        return None
    sign = "≤" if minimize else "≥"
    return StopReason(
        code="target",
        message=f"objective.target reached: {objective.metric} = {_num(best)} {sign} {_num(target)}",
    )


def _streak_too_long(state: LoopState, limit: int | None) -> StopReason | None:
    if limit is None or state.streak < limit:
        return None
    return StopReason(
        code="no_improvement_limit",
        message=(
            f"constraints.no_improvement_limit: {state.streak} evaluations in a row without a kept "
            f"candidate (limit {limit})"
        ),
    )


def _plateau(
    state: LoopState, plateau: PlateauConfig | None, objective: ObjectiveConfig
) -> StopReason | None:
    if plateau is None or plateau.window <= 0 or state.iterations < plateau.window:
        return None
    window = plateau.window
    before = state.series[-window - 1][2] if len(state.series) > window else state.start_value
    now = state.series[-1][2] if state.series else None
    if before is None or now is None:
        return None
    improved = gain(before, now, objective.direction)
    if improved >= plateau.threshold:
        return None
    return StopReason(
        code="plateau",
        message=(
            f"constraints.plateau: the best {objective.metric} improved by {_pct(improved)} over "
            f"the last {window} evaluations (threshold {_pct(plateau.threshold)})"
        ),
    )


def _budget_spent(
    state: LoopState, constraints: ConstraintsConfig, elapsed_seconds: float
) -> StopReason | None:
    """``constraints.max_iterations``, then ``constraints.max_time_hours``."""
    if constraints.max_iterations is not None and state.iterations >= constraints.max_iterations:
        return StopReason(
            code="max_iterations",
            message=(
                f"constraints.max_iterations: {state.iterations} evaluations done "
                f"(limit {constraints.max_iterations})"
            ),
        )
    hours = constraints.max_time_hours
    spent = state.seconds + elapsed_seconds
    if hours is None or spent < hours * 3600.0:
        return None
    return StopReason(
        code="max_time_hours",
        message=f"constraints.max_time_hours: {spent / 3600.0:.2f} h spent (limit {_num(hours)} h)",
    )


def stop_reason(
    state: LoopState,
    constraints: ConstraintsConfig,
    objective: ObjectiveConfig,
    *,
    elapsed_seconds: float = 0.0,
) -> StopReason | None:
    """Why the loop should stop now, or None to go on.

    The first that applies, in this order: ``objective.target`` reached (minimize: best ≤ target,
    maximize: best ≥ target); ``constraints.no_improvement_limit`` (that many evaluations in a row
    without a kept one); ``constraints.plateau`` (at least ``window`` evaluations, and the running best
    improved by less than ``threshold``, relative, over the last ``window`` of them);
    ``constraints.max_iterations``; ``constraints.max_time_hours`` (time measured in the evaluations plus
    ``elapsed_seconds`` not yet recorded). Unset constraints never stop the loop.
    """
    return (
        _target_reached(state, objective)
        or _streak_too_long(state, constraints.no_improvement_limit)
        or _plateau(state, constraints.plateau, objective)
        or _budget_spent(state, constraints, elapsed_seconds)
    )


__all__ = ["LoopState", "StopCode", "StopReason", "gain", "state_from", "stop_reason"]
