"""From samples to a verdict: objective, guards, informational metrics. Pure.

The statistics themselves are in :mod:`ci_autoresearch.decide.stats`, ``sequential`` and ``stopping``;
this module applies them to every metric of a configuration and words the reason a person reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ci_autoresearch.config.model import Config, MetricSpec
from ci_autoresearch.decide import sequential, stats, stopping
from ci_autoresearch.model import (
    Comparison,
    Direction,
    Environment,
    Estimate,
    GateResult,
    Lean,
    Measurement,
    MetricComparison,
    RefInfo,
    Resolution,
    Verdict,
)

_OBJECTIVE_VERDICTS: Mapping[str, Verdict] = {
    v: v for v in ("improved", "regressed", "unchanged", "inconclusive")
}


@dataclass(frozen=True, kw_only=True)
class Decision:
    verdict: Verdict
    reason: str
    metrics: Mapping[str, MetricComparison]
    lean: Lean | None = None  # inconclusive: the side of 0 the objective's interval lies on, if one
    resolution: Resolution | None = None  # when the noise keeps effects near min_effect unresolved


def pct(x: float, *, signed: bool = True) -> str:
    """``-0.248`` → ``-24.8%`` (one decimal; two below 1 %); infinity → ``+∞``."""
    if math.isinf(x):
        return ("+∞" if signed else "∞") if x > 0 else "−∞"
    digits = 2 if abs(x) < 0.01 else 1
    text = f"{x * 100:+.{digits}f}%" if signed else f"{x * 100:.{digits}f}%"
    return text.replace("-", "−")


def ci_text(est: Estimate) -> str:
    """``−2.1% … +0.3%``, or ``unbounded`` when too few rounds bound the interval."""
    lo, hi = est.ci_delta
    if math.isinf(hi) or est.ci_low <= 0.0:
        return "unbounded"
    return f"{pct(lo)} … {pct(hi)}"


def describe(est: Estimate) -> str:
    level = round(est.confidence * 100)
    return f"{pct(est.delta)} ({level}% CI {ci_text(est)}, p={est.p_value:.2g}, n={est.n})"


def lean_of(est: Estimate | None, verdict: str, direction: Direction) -> Lean | None:
    """For an inconclusive verdict whose interval lies on one side of 0 (p < 1 - confidence): which."""
    if est is None or verdict != "inconclusive" or est.p_value >= round(1.0 - est.confidence, 12):
        return None
    lower = est.ratio < 1.0
    return "better" if lower == (direction == "minimize") else "worse"


def lean_word(lean: Lean, *, unit: str, direction: Direction) -> str:
    """``slower``/``faster`` for times to minimise, else ``worse``/``better``."""
    if unit == "s" and direction == "minimize":
        return "faster" if lean == "better" else "slower"
    return lean


def _advice(config: Config, metric: str, rounds_needed: int | None) -> str:
    """The levers that would narrow the interval, for this configuration."""
    levers: list[str] = []
    benchmark = config.benchmark
    if benchmark.mode == "process":
        levers.append("worker mode (benchmark.callable or benchmark.worker.command)")
    elif benchmark.callable and benchmark.worker_settings.sides == "separate":
        levers.append("both sides in one worker (benchmark.worker.sides: together)")
    if metric == "wall_time":
        levers.append("objective cpu_time" + (" or instructions" if benchmark.mode == "process" else ""))
    elif metric == "cpu_time" and benchmark.mode == "process":
        levers.append("objective instructions")
    keys = "decision.max_rounds" + (" and max_seconds" if config.decision.max_seconds is not None else "")
    levers.append(f"about {rounds_needed} rounds ({keys})" if rounds_needed else f"more rounds ({keys})")
    return ", ".join(levers[:-1]) + (" or " if len(levers) > 1 else "") + levers[-1]


def resolution_of(config: Config, name: str, est: Estimate | None) -> Resolution | None:
    """What the objective's noise lets the session resolve by its last look, when that is coarser than
    ``decision.min_effect`` (None otherwise, or before the noise is known)."""
    if est is None or est.look is None:
        return None
    last = est.look.final_n
    half = stopping.resolution(est, max_rounds=last)
    min_effect = config.decision.min_effect
    if half is None or half <= min_effect:
        return None
    needed = (
        stopping.rounds_for(est, resolution_wanted=min_effect, max_rounds=last) if min_effect > 0 else None
    )
    return Resolution(
        metric=name,
        half_width=half,
        smallest_effect=min_effect + half,
        max_rounds=last,
        rounds_needed=needed,
        advice=_advice(config, name, needed),
    )


def resolution_text(r: Resolution, *, min_effect: float) -> str:
    """The sentence that says what the noise allows and what would help."""
    band = pct(min_effect, signed=False)
    return (
        f"at this noise {r.max_rounds} rounds resolve {r.metric} to about "
        f"±{pct(r.half_width, signed=False)}, "
        f"so changes smaller than about {pct(r.smallest_effect, signed=False)} stay inconclusive "
        f"and `unchanged` (within ±{band}) cannot be reached; to resolve ±{band}: {r.advice}"
    )


def _estimate(
    base: Sequence[float],
    cand: Sequence[float],
    *,
    paired: bool,
    config: Config,
    looks: Sequence[int] | None,
) -> Estimate | None:
    if not base or not cand:
        return None
    if any(v <= 0 for v in base) or any(v <= 0 for v in cand):
        return None  # ratios need positive values; such a metric is shown, not judged
    estimate = sequential.paired_estimate if paired else sequential.unpaired_estimate
    return estimate(base, cand, confidence=config.decision.confidence, looks=looks)


def _judge_metric(
    config: Config,
    spec: MetricSpec,
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    paired: bool,
    unit: str,
    looks: Sequence[int] | None,
) -> MetricComparison:
    """One metric's estimate and label: the objective's and info metrics' verdict, a guard's ok/broken."""
    name = spec.name
    b, c = tuple(baseline), tuple(candidate)
    if paired and len(b) != len(c):  # a round cut short by a failure: judge the complete rounds
        b, c = b[: min(len(b), len(c))], c[: min(len(b), len(c))]
    est = _estimate(b, c, paired=paired, config=config, looks=looks)
    role = config.role(name)
    max_reg = config.max_regression(name)
    label: str
    if est is None:
        label = "n/a"
    elif role == "guard":
        exceeded = stats.guard_broken(est, direction=spec.direction, max_regression=max_reg or 0.0)
        label = "broken" if exceeded else "ok"
    else:
        label = stats.classify(est, direction=spec.direction, min_effect=config.decision.min_effect)
    return MetricComparison(
        name=name,
        unit=unit,
        direction=spec.direction,
        role=role,
        baseline=tuple(baseline),
        candidate=tuple(candidate),
        estimate=est,
        verdict=label,
        max_regression=max_reg,
        lean=lean_of(est, label, spec.direction),
    )


def _objective_reason(
    obj: MetricComparison, est: Estimate, *, min_effect: float, resolution: Resolution | None
) -> str:
    """The reason the objective's verdict gives; an inconclusive one says what the noise lets the
    session resolve (``resolution``) when that is why it stopped short of a verdict."""
    band = pct(min_effect, signed=False)
    if obj.verdict == "improved":
        return f"{obj.name} {describe(est)}: beyond the {band} minimum effect"
    if obj.verdict == "regressed":
        return f"{obj.name} {describe(est)}: worse beyond the {band} minimum effect"
    if obj.verdict == "unchanged":
        return f"{obj.name} {describe(est)}: within ±{band}"
    if obj.lean is not None:
        word = lean_word(obj.lean, unit=obj.unit, direction=obj.direction)
        reason = f"{obj.name} likely {word}: {describe(est)}, not beyond the {band} band"
    else:
        reason = f"{obj.name} {describe(est)}: the interval straddles the ±{band} band"
    if resolution is not None:
        reason += f"; {resolution_text(resolution, min_effect=min_effect)}"
    return reason


def _broken_guard(metrics: Mapping[str, MetricComparison], obj: MetricComparison) -> str | None:
    """Why an improved objective is rejected: the first guard beyond its tolerance (None: none is)."""
    broken = [m for m in metrics.values() if m.verdict == "broken"]
    if not broken:
        return None
    g = broken[0]
    assert g.estimate is not None and obj.estimate is not None
    return (
        f"guard {g.name} {pct(g.estimate.delta)} exceeds its "
        f"{pct(g.max_regression or 0.0, signed=False)} tolerance (objective {obj.name} "
        f"{pct(obj.estimate.delta)})"
    )


def decide(
    config: Config,
    baseline: Mapping[str, Sequence[float]],
    candidate: Mapping[str, Sequence[float]],
    *,
    paired: bool,
    units: Mapping[str, str] | None = None,
    looks: Sequence[int] | None = None,
) -> Decision:
    """Judge every measured metric and combine them into the candidate's verdict.

    The objective decides (improved / regressed / unchanged / inconclusive); a guard whose point
    estimate regresses beyond its ``max_regression`` turns ``improved`` into ``rejected``.
    ``looks``: the rounds at which the session looks (``sequential.look_schedule``), so that its intervals
    hold over all of them; None for one look (two result files compared offline).
    """
    metrics = {
        spec.name: _judge_metric(
            config,
            spec,
            baseline.get(spec.name, ()),
            candidate.get(spec.name, ()),
            paired=paired,
            unit=(units or {}).get(spec.name, spec.unit),
            looks=looks,
        )
        for spec in config.measured_metrics()
        if spec.name in baseline or spec.name in candidate
    }
    obj = metrics.get(config.objective.metric)
    if obj is None or obj.estimate is None:
        return Decision(
            verdict="invalid",
            metrics=metrics,
            reason=f"objective {config.objective.metric!r} could not be compared "
            "(missing, or not a positive number)",
        )
    verdict: Verdict = _OBJECTIVE_VERDICTS[obj.verdict]
    min_effect = config.decision.min_effect
    resolution = resolution_of(config, obj.name, obj.estimate)
    reason = _objective_reason(obj, obj.estimate, min_effect=min_effect, resolution=resolution)
    rejected = _broken_guard(metrics, obj) if verdict == "improved" else None
    if rejected is not None:
        verdict, reason = "rejected", rejected
    return Decision(
        verdict=verdict,
        reason=reason,
        metrics=metrics,
        lean=obj.lean if verdict == "inconclusive" else None,
        resolution=resolution,
    )


def comparison_of(
    config: Config,
    decision: Decision,
    *,
    baseline: RefInfo,
    candidate: RefInfo,
    gate: GateResult | None,
    rounds: int,
    environment: Environment,
    started_at: str,
    finished_at: str,
    paired: bool = True,
    order: str | None = None,
    config_hash: str | None = None,
    offline: bool = False,
    notes: tuple[str, ...] = (),
    measurement: Measurement | None = None,
) -> Comparison:
    """The :class:`Comparison` a decision makes, with the decision settings it was made under."""
    return Comparison(
        baseline=baseline,
        candidate=candidate,
        objective=config.objective.metric,
        direction=config.objective.direction,
        verdict=decision.verdict,
        reason=decision.reason,
        metrics=decision.metrics,
        gate=gate,
        rounds=rounds,
        paired=paired,
        order=order or config.decision.order,
        seed=config.decision.seed,
        min_effect=config.decision.min_effect,
        confidence=config.decision.confidence,
        config_hash=config.hash if config_hash is None else config_hash,
        environment=environment,
        started_at=started_at,
        finished_at=finished_at,
        offline=offline,
        notes=notes,
        lean=decision.lean,
        resolution=decision.resolution,
        measurement=measurement,
    )
