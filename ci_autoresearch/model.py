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
KeepDecision = Literal["kept", "discarded", "pending"]
Lean = Literal["better", "worse"]

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
        """What must match for two results to be compared unpaired (the runner's name may differ)."""
        return f"{self.cpu_model}|{self.cores}|{self.os}|{self.machine}"


@dataclass(frozen=True, kw_only=True)
class Look:
    """Where a sequential estimate stands in its schedule of looks (:mod:`ci_autoresearch.decide.sequential`).

    ``final_n``: the rounds of the last scheduled look; ``boundary``: the critical value (normal scale)
    at this look, ``final_boundary`` at the last one; ``se``: the standard error of ``ln(ratio)`` now
    (robust: half the width of the rank interval at ±1 standard error; ``inf`` with too few rounds);
    ``index``: which look this is (0: the first).
    """

    final_n: int
    boundary: float
    final_boundary: float
    se: float
    index: int = 0


@dataclass(frozen=True, kw_only=True)
class Estimate:
    """The effect of the candidate on one metric, as a ratio candidate/baseline.

    ``ratio`` is the point estimate, ``ci_low``/``ci_high`` the bounds of its confidence interval
    (``0`` and ``inf`` when it is unbounded: too few rounds for the confidence asked), ``p_value``
    the two-sided p-value of the test that the interval inverts (the interval excludes 1 exactly when
    ``p_value < 1 - confidence``), ``n`` the number of rounds (paired) or the smaller sample size
    (unpaired). ``look``: the sequential design it was computed under (None when read from a file).
    """

    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    confidence: float
    paired: bool
    look: Look | None = None

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
    lean: Lean | None = None  # inconclusive with an interval on one side of 0: which side


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
class BenchmarkFiles:
    """The benchmark's own files both sides ran (``benchmark.from``): where they came from (``candidate``,
    ``base``, ``working-tree`` or a ref), the sha of a git tree holding exactly them, and the patterns."""

    source: str
    sha: str
    patterns: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Resolution:
    """What the noise seen lets a session tell apart by its last round (see ``stopping.resolution``).

    ``half_width``: the relative half-width the objective's interval is expected to have at
    ``max_rounds`` rounds; ``smallest_effect``: ``min_effect + half_width``, about the smallest effect
    that can come out improved or regressed; ``rounds_needed``: about how many rounds would bring the
    half-width down to ``min_effect``; ``advice``: what would help, in words.
    """

    metric: str
    half_width: float
    smallest_effect: float
    max_rounds: int
    rounds_needed: int | None
    advice: str


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """How the samples were measured: a process per run, or worker processes running blocks of calls.

    ``processes``: the processes whose measurements the verdict stands on (warm-up runs not counted);
    ``sides_per_process``: 2 when a worker ran both sides; ``blocks``: measured blocks per worker and
    side; ``calls_per_block``: the calibrated block size.
    """

    mode: Literal["process", "worker"]
    processes: int
    sides_per_process: int = 1
    blocks: int | None = None
    warmup_blocks: int | None = None
    calls_per_block: int | None = None


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
    offline: bool = False
    started_at: str
    finished_at: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    benchmark: BenchmarkFiles | None = None  # with benchmark.from: the files both sides ran
    measured_by: str = ""  # the command that measured it: compare, run, ci (empty: not recorded)
    failure_output: str = ""  # invalid because a command failed: the last lines of its output
    lean: Lean | None = None  # inconclusive: the side of 0 the objective's interval lies on, if one
    resolution: Resolution | None = None  # said when the noise keeps effects near min_effect unresolved
    measurement: Measurement | None = None

    @property
    def objective_metric(self) -> MetricComparison | None:
        return self.metrics.get(self.objective)


@dataclass(frozen=True, kw_only=True)
class MetricSamples:
    """The samples of one metric on one side, in measurement order."""

    name: str
    unit: str
    direction: Direction
    samples: tuple[float, ...]


@dataclass(frozen=True, kw_only=True)
class Result:
    """One ref measured on its own (``bench``; the baseline artifact is one of these)."""

    ref: RefInfo
    dirty: bool
    config_hash: str
    environment: Environment
    metrics: Mapping[str, MetricSamples]
    runs: int
    warmup_runs: int
    started_at: str
    finished_at: str
    error: str | None = None
    benchmark: BenchmarkFiles | None = None  # with benchmark.from: the files that ran


@dataclass(frozen=True, kw_only=True)
class Evaluation:
    """One candidate judged against one baseline: what is stored as a git note (evaluation@1).

    ``key`` is ``<candidate sha>:<baseline sha>:<config hash>``; an evaluation with a known key is never
    measured again. ``source`` says where the candidate came from (``branch:NAME``, ``search:k=v,…``,
    ``propose:NAME``, ``pr:N``); ``candidate_head`` is the sha of that source (the branch head), which can
    differ from ``comparison.candidate.sha`` when the candidate was merged onto the current best to be
    measured. ``new_best`` is the commit the working line moves to when the decision is ``kept``.
    """

    comparison: Comparison
    decision: KeepDecision
    decision_reason: str
    iteration: int
    key: str
    source: str
    candidate_head: str
    objective_value: float | None
    measured_seconds: float
    new_best: str | None = None
    round: int = 0


@dataclass(frozen=True, kw_only=True)
class Change:
    """A pull request a run opened or closed for an evaluation (``key``): its branch and, when the
    forge gives one, its URL."""

    key: str
    branch: str
    action: Literal["opened", "closed"]
    url: str | None = None


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """A change to try: where it came from, its branch (if any) and the commit at its head."""

    source: str  # "branch:NAME" | "search:k=v,…" | "propose:NAME" | "pr:N"
    branch: str | None
    sha: str
    expected_gain: float = 0.0
    description: str = ""
