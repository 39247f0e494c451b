"""The configuration as frozen dataclasses, after YAML → JSON Schema validation → defaults.

:mod:`ci_autoresearch.config` builds these from ``.autoresearch.yml``; everything else reads them.
Defaults live here (and are mirrored in the shipped JSON Schema's ``default`` keywords).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from ci_autoresearch.model import Direction

MetricSource = Literal[
    "wall_time",
    "cpu_time",
    "max_rss",
    "stdout",
    "json",
    "pytest-benchmark",
    "hyperfine",
    "google-benchmark",
    "github-action-benchmark",
    "instructions",
]
METRIC_SOURCES: tuple[str, ...] = MetricSource.__args__  # type: ignore[attr-defined]

# Units and directions of the metrics the tool measures itself.
BUILTIN_UNITS: Mapping[str, str] = MappingProxyType(
    {"wall_time": "s", "cpu_time": "s", "max_rss": "bytes", "instructions": "instructions"}
)


def _empty_env() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class MetricSpec:
    """How to obtain one metric from one benchmark run.

    ``pattern``: for ``stdout``, a regex with one group (default: ``METRIC <name>=<value>`` lines).
    ``file``: for ``json`` and the harness formats, the file the command writes (relative to the checkout).
    ``path``: for ``json``, a dotted path (``a.b.0.c``); for harness formats, the benchmark's name
    (default: the only benchmark in the file; error when there are several and no name).
    ``field``: for harness formats, which statistic (``mean``/``median``/``min``; default ``median``
    where the format has it, else ``mean``; Google Benchmark: ``real_time`` or ``cpu_time``).
    ``tool``: for ``instructions``, ``callgrind`` (default) or ``cachegrind``.
    """

    name: str
    source: MetricSource
    unit: str = ""
    direction: Direction = "minimize"
    pattern: str | None = None
    file: str | None = None
    path: str | None = None
    field: str | None = None
    tool: Literal["callgrind", "cachegrind"] = "callgrind"


# The statistics ``benchmark.metrics[].field`` may name in a harness's report: what config checks and
# what the parsers (measure/metrics/harness.py) read, one list each.
PYTEST_BENCHMARK_FIELDS = (
    "median", "mean", "min", "max", "stddev", "iqr", "q1", "q3", "ld15iqr", "hd15iqr", "ops", "total",
)  # fmt: skip
HYPERFINE_FIELDS = ("median", "mean", "min", "max", "stddev", "user", "system")

BENCHMARK_SOURCES = ("candidate", "base", "working-tree")  # other values of benchmark.from are git refs

#: The metrics a worker yields: per call (wall, CPU) and per worker process (peak RSS, one process per
#: side only).
WORKER_METRICS: tuple[str, ...] = ("wall_time", "cpu_time", "max_rss")
#: Worker mode's defaults for ``decision.max_rounds`` and ``decision.max_seconds`` when neither is given:
#: its rounds are short (a fresh worker or two, a block each), so many fit in a minute -- the minute,
#: not the rounds (at most ``bounds.MAX_SAMPLES``), is what limits a session.
WORKER_MAX_ROUNDS = 1000
WORKER_MAX_SECONDS = 60.0


@dataclass(frozen=True, kw_only=True)
class WorkerConfig:
    """Worker mode (``docs/worker-protocol.md``): each round starts fresh worker processes that time
    blocks of calls on request. ``command``: a worker of the user's own (else the Python adapter runs
    ``benchmark.callable``); ``sides``: ``together`` runs both sides in one process (Python adapter);
    ``pin``: a round's workers share one CPU (a different one each round) where the system allows it,
    and the next round's workers start on theirs while a round measures.

    The defaults spend the time on processes, not blocks: a process's own luck outweighs the spread of
    its blocks, so one short measured block per worker and many workers resolve more per second
    (``docs/performance.md``)."""

    command: str | None = None
    block_seconds: float = 0.02
    warmup_blocks: int = 1
    blocks: int = 1
    sides: Literal["separate", "together"] = "separate"
    pin: bool = True


@dataclass(frozen=True, kw_only=True)
class BenchmarkConfig:
    """``source`` is ``benchmark.from``: where ``files`` (git pathspec globs) come from for both sides —
    ``candidate``, ``base``, ``working-tree`` or a git ref; None: each side runs its own benchmark."""

    command: str | None = None
    setup: str | None = None
    timeout_seconds: float = 600.0
    env: Mapping[str, str] = field(default_factory=_empty_env)
    pass_env: tuple[str, ...] = ()  # names (globs) of the caller's environment passed to candidate code
    metrics: tuple[MetricSpec, ...] = ()
    source: str | None = None
    files: tuple[str, ...] = ()
    callable: str | None = None  # "package.module:function": worker mode with the Python adapter
    args: tuple[Any, ...] | Mapping[str, Any] | None = None  # positional (a list) or keywords (a mapping)
    args_from: str | None = None  # "package.module:function" returning the arguments
    python: str = "python3"
    worker: WorkerConfig | None = None

    @property
    def mode(self) -> Literal["process", "worker"]:
        """``worker`` when a callable or a worker command is configured; else a process per run."""
        if self.callable or (self.worker is not None and self.worker.command):
            return "worker"
        return "process"

    @property
    def worker_settings(self) -> WorkerConfig:
        return self.worker or WorkerConfig()


@dataclass(frozen=True, kw_only=True)
class ObjectiveConfig:
    metric: str = "wall_time"
    direction: Direction = "minimize"
    target: float | None = None


@dataclass(frozen=True, kw_only=True)
class GuardConfig:
    metric: str
    max_regression: float = 0.05


@dataclass(frozen=True, kw_only=True)
class GateConfig:
    command: str | None = None
    protected_paths: tuple[str, ...] = ()  # git pathspec-style globs
    timeout_seconds: float = 1800.0


@dataclass(frozen=True, kw_only=True)
class CollectionConfig:
    warmup_runs: int = 1
    measurement_runs: int = 10  # rounds measured before the first decision
    aggregate: Literal["median", "mean"] = "median"


@dataclass(frozen=True, kw_only=True)
class DecisionConfig:
    min_effect: float = 0.01
    confidence: float = 0.95
    max_rounds: int = 30
    max_seconds: float | None = None  # measuring time the rounds are planned to fit in (after the first look)
    order: Literal["abba", "random"] = "abba"
    seed: int = 0
    baseline: Literal["remeasure", "artifact"] = "remeasure"


@dataclass(frozen=True, kw_only=True)
class PlateauConfig:
    window: int = 5
    threshold: float = 0.005


@dataclass(frozen=True, kw_only=True)
class ConstraintsConfig:
    max_iterations: int | None = None
    max_time_hours: float | None = None
    no_improvement_limit: int | None = None
    plateau: PlateauConfig | None = None


@dataclass(frozen=True, kw_only=True)
class BranchingConfig:
    strategy: Literal["sequential", "parallel"] = "sequential"
    max_branches: int = 1


@dataclass(frozen=True, kw_only=True)
class CheckpointConfig:
    enabled: bool = True
    interval_minutes: float | None = None
    path: str | None = None  # a cache only; git notes are the source of truth
    remote: str | None = None  # notes are fetched from / pushed to this remote when set


@dataclass(frozen=True, kw_only=True)
class CandidatesConfig:
    label: str = "autoresearch:candidate"
    branches: tuple[str, ...] = ("autoresearch/*",)


@dataclass(frozen=True, kw_only=True)
class Hypothesis:
    branch: str
    expected_gain: float = 0.0
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class SearchParameter:
    name: str
    file: str
    pattern: str  # regex with one group: the group's text is replaced by the value
    values: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class SearchSpaceConfig:
    parameters: tuple[SearchParameter, ...]
    order: Literal["grid", "random"] = "grid"
    seed: int = 0
    limit: int | None = None
    branch_prefix: str = "autoresearch/search/"


@dataclass(frozen=True, kw_only=True)
class ProposeConfig:
    command: str
    timeout_seconds: float = 3600.0
    max_proposals: int = 1  # per loop round
    pass_env: tuple[
        str, ...
    ] = ()  # variables the generator may see despite scrubbing (e.g. an agent's API key)


@dataclass(frozen=True, kw_only=True)
class GithubLabels:
    candidate: str = "autoresearch:candidate"
    improved: str = "autoresearch:improvement"
    regressed: str = "autoresearch:regression"
    unchanged: str = "autoresearch:no-change"
    inconclusive: str = "autoresearch:inconclusive"
    invalid: str = "autoresearch:invalid"
    rejected: str = "autoresearch:invalid"


@dataclass(frozen=True, kw_only=True)
class GithubConfig:
    base_branch: str | None = None  # default: the repository's default branch / the PR's base
    labels: GithubLabels = field(default_factory=GithubLabels)
    open_prs: bool = True
    close_discarded: bool = False
    auto_merge: bool = False
    baseline_artifact: str = "autoresearch-baseline"
    status: Literal["status", "check-run", "none"] = "status"


@dataclass(frozen=True, kw_only=True)
class Config:
    """The whole configuration. ``path`` is where it was read from; ``hash`` identifies its content."""

    path: str
    hash: str
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    guards: tuple[GuardConfig, ...] = ()
    collection: CollectionConfig = field(default_factory=CollectionConfig)
    decision: DecisionConfig = field(default_factory=DecisionConfig)
    constraints: ConstraintsConfig = field(default_factory=ConstraintsConfig)
    branching: BranchingConfig = field(default_factory=BranchingConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    candidates: CandidatesConfig = field(default_factory=CandidatesConfig)
    hypotheses: tuple[Hypothesis, ...] = ()
    search_space: SearchSpaceConfig | None = None
    propose: ProposeConfig | None = None
    github: GithubConfig = field(default_factory=GithubConfig)

    def metric(self, name: str) -> MetricSpec:
        """The spec of metric ``name`` (a declared one, else a built-in, else ``METRIC name=`` on stdout)."""
        for spec in self.benchmark.metrics:
            if spec.name == name:
                return spec
        direction: Direction = self.objective.direction if name == self.objective.metric else "minimize"
        if name in BUILTIN_UNITS:
            return MetricSpec(name=name, source=name, unit=BUILTIN_UNITS[name], direction=direction)  # type: ignore[arg-type]
        return MetricSpec(name=name, source="stdout", direction=direction)

    def measured_metrics(self) -> tuple[MetricSpec, ...]:
        """Every metric a run yields: the objective first, then guards, then the other declared ones.

        ``wall_time`` is always measured (it costs nothing); the objective's direction wins over a
        declared one.
        """
        names: list[str] = [self.objective.metric]
        names += [g.metric for g in self.guards]
        names += [m.name for m in self.benchmark.metrics]
        names.append("wall_time")
        seen: list[str] = []
        for n in names:
            if n not in seen:
                seen.append(n)
        specs = []
        for n in seen:
            spec = self.metric(n)
            if n == self.objective.metric and spec.direction != self.objective.direction:
                spec = MetricSpec(**{**spec.__dict__, "direction": self.objective.direction})
            specs.append(spec)
        return tuple(specs)

    def role(self, name: str) -> Literal["objective", "guard", "info"]:
        if name == self.objective.metric:
            return "objective"
        if any(g.metric == name for g in self.guards):
            return "guard"
        return "info"

    def max_regression(self, name: str) -> float | None:
        for g in self.guards:
            if g.metric == name:
                return g.max_regression
        return None
