"""From samples to a verdict: objective, guards, informational metrics. Pure.

The statistics themselves are in :mod:`ci_autoresearch.decide.stats`; this module applies them to every metric
of a configuration and words the reason a person reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ci_autoresearch.config.model import Config
from ci_autoresearch.decide import stats
from ci_autoresearch.model import (
    Comparison,
    Environment,
    Estimate,
    GateResult,
    MetricComparison,
    RefInfo,
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


def pct(x: float, *, signed: bool = True) -> str:
    """``-0.248`` → ``-24.8%`` (one decimal; two below 1 %)."""
    digits = 2 if abs(x) < 0.01 else 1
    text = f"{x * 100:+.{digits}f}%" if signed else f"{x * 100:.{digits}f}%"
    return text.replace("-", "−")


def describe(est: Estimate) -> str:
    lo, hi = est.ci_delta
    level = round(est.confidence * 100)
    return f"{pct(est.delta)} ({level}% CI {pct(lo)} … {pct(hi)}, p={est.p_value:.2g}, n={est.n})"


def _estimate(
    base: Sequence[float], cand: Sequence[float], *, paired: bool, config: Config
) -> Estimate | None:
    if not base or not cand:
        return None
    if any(v <= 0 for v in base) or any(v <= 0 for v in cand):
        return None  # ratios need positive values; such a metric is shown, not judged
    estimate = stats.paired_estimate if paired else stats.unpaired_estimate
    return estimate(
        base,
        cand,
        confidence=config.decision.confidence,
        seed=config.decision.seed,
        aggregate=config.collection.aggregate,
    )


def decide(
    config: Config,
    baseline: Mapping[str, Sequence[float]],
    candidate: Mapping[str, Sequence[float]],
    *,
    paired: bool,
    units: Mapping[str, str] | None = None,
) -> Decision:
    """Judge every measured metric and combine them into the candidate's verdict.

    The objective decides (improved / regressed / unchanged / inconclusive); a guard whose point
    estimate regresses beyond its ``max_regression`` turns ``improved`` into ``rejected``.
    """
    min_effect = config.decision.min_effect
    metrics: dict[str, MetricComparison] = {}
    for spec in config.measured_metrics():
        name = spec.name
        if name not in baseline and name not in candidate:
            continue
        b = tuple(baseline.get(name, ()))
        c = tuple(candidate.get(name, ()))
        est = _estimate(b, c, paired=paired, config=config)
        role = config.role(name)
        max_reg = config.max_regression(name)
        label: str
        if est is None:
            label = "n/a"
        elif role == "guard":
            exceeded = stats.guard_broken(est, direction=spec.direction, max_regression=max_reg or 0.0)
            label = "broken" if exceeded else "ok"
        else:
            label = stats.classify(est, direction=spec.direction, min_effect=min_effect)
        metrics[name] = MetricComparison(
            name=name,
            unit=(units or {}).get(name, spec.unit),
            direction=spec.direction,
            role=role,
            baseline=b,
            candidate=c,
            estimate=est,
            verdict=label,
            max_regression=max_reg,
        )

    obj = metrics.get(config.objective.metric)
    if obj is None or obj.estimate is None:
        return Decision(
            verdict="invalid",
            metrics=metrics,
            reason=f"objective {config.objective.metric!r} could not be compared "
            "(missing, or not a positive number)",
        )
    verdict: Verdict = _OBJECTIVE_VERDICTS[obj.verdict]
    band = pct(min_effect, signed=False)
    est = obj.estimate
    reasons = {
        "improved": f"{obj.name} {describe(est)}: beyond the {band} minimum effect",
        "regressed": f"{obj.name} {describe(est)}: worse beyond the {band} minimum effect",
        "unchanged": f"{obj.name} {describe(est)}: within ±{band}",
        "inconclusive": f"{obj.name} {describe(est)}: the interval straddles the ±{band} band",
    }
    reason = reasons[verdict]
    broken = [m for m in metrics.values() if m.verdict == "broken"]
    if verdict == "improved" and broken:
        g = broken[0]
        assert g.estimate is not None
        verdict = "rejected"
        reason = (
            f"guard {g.name} {pct(g.estimate.delta)} exceeds its "
            f"{pct(g.max_regression or 0.0, signed=False)} tolerance (objective {obj.name} "
            f"{pct(est.delta)})"
        )
    return Decision(verdict=verdict, reason=reason, metrics=metrics)


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
    )
