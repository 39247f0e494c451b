"""A checked document → the frozen dataclasses of :mod:`ci_autoresearch.config.model`, one function per
section. Keys left out keep the dataclass defaults. Pure; the document must have passed the schema and
the checks (nothing here reports a problem)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ci_autoresearch.config.checks import parameter_values, scalar_text, source_of
from ci_autoresearch.config.model import (
    BUILTIN_UNITS,
    WORKER_MAX_ROUNDS,
    WORKER_MAX_SECONDS,
    BenchmarkConfig,
    BranchingConfig,
    CandidatesConfig,
    CheckpointConfig,
    CollectionConfig,
    Config,
    ConstraintsConfig,
    DecisionConfig,
    GateConfig,
    GithubConfig,
    GithubLabels,
    GuardConfig,
    Hypothesis,
    MetricSpec,
    ObjectiveConfig,
    PlateauConfig,
    ProposeConfig,
    SearchParameter,
    SearchSpaceConfig,
    WorkerConfig,
)
from ci_autoresearch.config.problems import Found


def build(doc: Mapping[str, Any], *, path: str, hash: str) -> Config:
    """The configuration ``doc`` stands for, read from ``path``, with its :func:`config_hash`."""
    gate = doc.get("gate")
    decision = doc.get("decision")
    branching = doc.get("branching")
    collection = (doc.get("metrics") or {}).get("collection") or {}
    benchmark = _benchmark(doc.get("benchmark") or {})
    return Config(
        path=path,
        hash=hash,
        objective=_objective(doc),
        benchmark=benchmark,
        gate=GateConfig(
            **_pick(gate, "command"),
            protected_paths=tuple((gate or {}).get("protected_paths") or ()),
            **_floats(gate, "timeout_seconds"),
        ),
        guards=tuple(
            GuardConfig(metric=g["metric"], **_floats(g, "max_regression")) for g in doc.get("guards") or []
        ),
        collection=CollectionConfig(
            **_ints(collection, "warmup_runs", "measurement_runs"), **_pick(collection, "aggregate")
        ),
        decision=_decision(decision or {}, worker_mode=benchmark.mode == "worker"),
        constraints=_constraints(doc.get("constraints") or {}),
        branching=BranchingConfig(**_pick(branching, "strategy"), **_ints(branching, "max_branches")),
        checkpoint=CheckpointConfig(
            **_pick(doc.get("checkpoint"), "enabled", "path", "remote"),
            interval_minutes=_float_or_none((doc.get("checkpoint") or {}).get("interval_minutes")),
        ),
        candidates=_candidates(doc),
        hypotheses=tuple(
            Hypothesis(branch=h["branch"], **_floats(h, "expected_gain"), **_pick(h, "description"))
            for h in doc.get("hypotheses") or []
        ),
        search_space=_search_space(doc.get("search_space")),
        propose=_propose(doc.get("propose")),
        github=_github(doc),
    )


def _decision(decision: Mapping[str, Any], *, worker_mode: bool) -> DecisionConfig:
    """The decision section; in worker mode, when neither limit is given, its own: many short rounds
    within a minute (``WORKER_MAX_ROUNDS``, ``WORKER_MAX_SECONDS``)."""
    limits: dict[str, Any] = {
        **_ints(decision, "max_rounds"),
        "max_seconds": _float_or_none(decision.get("max_seconds")),
    }
    if worker_mode and "max_rounds" not in decision and "max_seconds" not in decision:
        limits = {"max_rounds": WORKER_MAX_ROUNDS, "max_seconds": WORKER_MAX_SECONDS}
    return DecisionConfig(
        **_floats(decision, "min_effect", "confidence"),
        **_ints(decision, "seed"),
        **_pick(decision, "order", "baseline"),
        **limits,
    )


def _objective(doc: Mapping[str, Any]) -> ObjectiveConfig:
    """The objective; its direction, when not given, is the one its metric declares."""
    objective = doc.get("objective") or {}
    metric = objective.get("metric", ObjectiveConfig.metric)
    direction = objective.get("direction")
    if direction is None:
        declared = [
            m
            for m in (doc.get("benchmark") or {}).get("metrics") or []
            if m["name"] == metric and "direction" in m
        ]
        direction = declared[0]["direction"] if declared else ObjectiveConfig.direction
    return ObjectiveConfig(metric=metric, direction=direction, target=_float_or_none(objective.get("target")))


def _benchmark(benchmark: Mapping[str, Any]) -> BenchmarkConfig:
    return BenchmarkConfig(
        command=benchmark.get("command"),
        setup=benchmark.get("setup"),
        timeout_seconds=float(benchmark.get("timeout_seconds", BenchmarkConfig.timeout_seconds)),
        env=MappingProxyType({k: scalar_text(v) for k, v in (benchmark.get("env") or {}).items()}),
        pass_env=tuple(benchmark.get("pass_env") or ()),
        metrics=tuple(_metric(m) for m in benchmark.get("metrics") or []),
        source=benchmark.get("from"),
        files=tuple(benchmark.get("files") or ()),
        **_callable(benchmark),
    )


def _callable(benchmark: Mapping[str, Any]) -> dict[str, Any]:
    """Worker mode's part of ``BenchmarkConfig``: the callable, its arguments and the worker settings."""
    args = benchmark.get("args")
    worker = benchmark.get("worker")
    return {
        **_pick(benchmark, "callable", "args_from", "python"),
        "args": tuple(args) if isinstance(args, list) else (MappingProxyType(dict(args)) if args else None),
        "worker": None
        if worker is None
        else WorkerConfig(
            **_pick(worker, "command", "sides", "pin"),
            **_floats(worker, "block_seconds"),
            **_ints(worker, "warmup_blocks", "blocks"),
        ),
    }


def _metric(doc: Mapping[str, Any]) -> MetricSpec:
    source = source_of(doc)
    return MetricSpec(
        name=doc["name"],
        source=source,  # type: ignore[arg-type]  # checked by the schema
        unit=doc.get("unit", BUILTIN_UNITS.get(source, "")),
        **_pick(doc, "direction", "pattern", "file", "path", "field", "tool"),
    )


def _constraints(constraints: Mapping[str, Any]) -> ConstraintsConfig:
    plateau = constraints.get("plateau")
    return ConstraintsConfig(
        max_iterations=_int_or_none(constraints.get("max_iterations")),
        max_time_hours=_float_or_none(constraints.get("max_time_hours")),
        no_improvement_limit=_int_or_none(constraints.get("no_improvement_limit")),
        plateau=None
        if plateau is None
        else PlateauConfig(**_ints(plateau, "window"), **_floats(plateau, "threshold")),
    )


def _candidates(doc: Mapping[str, Any]) -> CandidatesConfig:
    branches = (doc.get("candidates") or {}).get("branches", CandidatesConfig.branches)
    return CandidatesConfig(
        label=_labels(doc).get("candidate", CandidatesConfig.label),
        branches=(branches,) if isinstance(branches, str) else tuple(branches),
    )


def _search_space(search: Mapping[str, Any] | None) -> SearchSpaceConfig | None:
    if search is None:
        return None
    return SearchSpaceConfig(
        parameters=tuple(
            SearchParameter(
                name=p["name"],
                file=p["file"],
                pattern=p["pattern"],
                values=tuple(parameter_values(p, (), Found("")) or ()),
            )
            for p in search["parameters"]
        ),
        **_pick(search, "order", "branch_prefix"),
        **_ints(search, "seed"),
        limit=_int_or_none(search.get("limit")),
    )


def _propose(propose: Mapping[str, Any] | None) -> ProposeConfig | None:
    if propose is None:
        return None
    return ProposeConfig(
        command=propose["command"],
        pass_env=tuple(propose.get("pass_env") or ()),
        **_floats(propose, "timeout_seconds"),
        **_ints(propose, "max_proposals"),
    )


def _github(doc: Mapping[str, Any]) -> GithubConfig:
    github = doc.get("github") or {}
    return GithubConfig(
        **_pick(
            github, "base_branch", "open_prs", "close_discarded", "auto_merge", "baseline_artifact", "status"
        ),
        labels=GithubLabels(**_labels(doc)),
    )


def _labels(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``github.labels``, with ``candidates.label`` as the candidate label when that is not given there
    (they are one setting; the checks refuse two different values)."""
    labels = dict((doc.get("github") or {}).get("labels") or {})
    label = (doc.get("candidates") or {}).get("label")
    if label is not None:
        labels.setdefault("candidate", label)
    return labels


def _pick(doc: Mapping[str, Any] | None, *keys: str) -> dict[str, Any]:
    """The keys present in ``doc`` (absent ones keep the dataclass default)."""
    return {k: doc[k] for k in keys if k in doc} if doc else {}


def _floats(doc: Mapping[str, Any] | None, *keys: str) -> dict[str, Any]:
    return {k: float(v) for k, v in _pick(doc, *keys).items()}


def _ints(doc: Mapping[str, Any] | None, *keys: str) -> dict[str, Any]:
    return {k: int(v) for k, v in _pick(doc, *keys).items()}


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)
