"""Plain data shared by the modules: what was measured and what was decided.

These are frozen, keyword-only dataclasses with no behaviour beyond small derived properties.
Serialisation to the versioned JSON documents lives in :mod:`ci_autoresearch.artifacts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["minimize", "maximize"]
Role = Literal["objective", "guard", "info"]
Verdict = Literal["improved", "regressed", "unchanged", "inconclusive", "invalid", "rejected"]
Decision = Literal["kept", "discarded", "pending"]

VERDICTS: tuple[Verdict, ...] = ("improved", "regressed", "unchanged", "inconclusive", "invalid", "rejected")


@dataclass(frozen=True, kw_only=True)
class RefInfo:
    """A git ref as the user named it and the commit it resolved to (``sha`` empty for offline files)."""

    ref: str
    sha: str


@dataclass(frozen=True, kw_only=True)
class Environment:
    """Where a measurement ran; two results are comparable offline only when fingerprints match."""

    cpu_model: str
    cores: int
    os: str
    python: str
    machine: str
    runner_name: str

    @property
    def fingerprint(self) -> str:
        return f"{self.cpu_model}|{self.cores}|{self.os}|{self.machine}|{self.runner_name}"


@dataclass(frozen=True, kw_only=True)
class Estimate:
    """The effect of the candidate on one metric, as a ratio candidate/baseline.

    ``ratio`` is the point estimate, ``ci_low``/``ci_high`` the bounds of its confidence interval,
    ``p_value`` the two-sided rank test p-value (Wilcoxon signed-rank when ``paired``, Mann-Whitney U
    otherwise), ``n`` the number of rounds (paired) or the smaller sample size (unpaired).
    """

    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    confidence: float
    paired: bool

    @property
    def delta(self) -> float:
        return self.ratio - 1.0

    @property
    def ci_delta(self) -> tuple[float, float]:
        return (self.ci_low - 1.0, self.ci_high - 1.0)


@dataclass(frozen=True, kw_only=True)
class MetricComparison:
    """One metric of a comparison: the samples of both sides and what they say."""

    name: str
    unit: str
    direction: Direction
    role: Role
    baseline: tuple[float, ...]
    candidate: tuple[float, ...]
    estimate: Estimate | None
    verdict: str  # objective/info: improved|regressed|unchanged|inconclusive; guard: ok|broken
    max_regression: float | None = None


@dataclass(frozen=True, kw_only=True)
class GateResult:
    """What the gate said about the candidate before it was measured."""

    command: str | None
    passed: bool
    returncode: int | None = None
    seconds: float = 0.0
    log: str | None = None
    protected_paths_touched: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """A finished A/B comparison of a candidate against a baseline."""

    baseline: RefInfo
    candidate: RefInfo
    objective: str
    direction: Direction
    verdict: Verdict
    reason: str
    metrics: Mapping[str, MetricComparison]
    gate: GateResult | None
    rounds: int
    paired: bool
    order: str
    seed: int
    min_effect: float
    confidence: float
    config_hash: str
    environment: Environment
    started_at: str
    finished_at: str
    offline: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def objective_metric(self) -> MetricComparison | None:
        return self.metrics.get(self.objective)
