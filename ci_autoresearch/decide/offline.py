"""Comparing two result files measured in different runs: unpaired, and said to be weaker."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ci_autoresearch.artifacts import load_result
from ci_autoresearch.config.model import BenchmarkConfig, Config, MetricSpec, ObjectiveConfig
from ci_autoresearch.decide.verdict import comparison_of, decide
from ci_autoresearch.errors import BadInputError
from ci_autoresearch.measure.environment import now_iso
from ci_autoresearch.model import Comparison, RefInfo, Result

WEAKER = (
    "offline comparison of two result files: the runs were not interleaved, so machine drift between "
    "them is counted as effect (unpaired statistics); prefer `compare BASE CANDIDATE` on git refs"
)


def _config_for(base: Result, given: Config | None) -> Config:
    """The given config, extended with every metric the files hold, so that none is dropped."""
    first = next(iter(base.metrics.values()))
    config = given or Config(
        path="(none)", hash="", objective=ObjectiveConfig(metric=first.name, direction=first.direction)
    )
    declared = {m.name for m in config.benchmark.metrics}
    extra = tuple(
        MetricSpec(name=m.name, source="stdout", unit=m.unit, direction=m.direction)
        for m in base.metrics.values()
        if m.name not in declared
    )
    bench = BenchmarkConfig(**{**config.benchmark.__dict__, "metrics": config.benchmark.metrics + extra})
    return dataclasses.replace(config, benchmark=bench)


def compare_results(base_path: Path, cand_path: Path, *, config: Config | None) -> Comparison:
    base, cand = load_result(base_path), load_result(cand_path)
    if not base.metrics:
        raise BadInputError(f"{base_path}: metrics: expected at least one measured metric, found none")
    cfg = _config_for(base, config)
    if cfg.objective.metric not in base.metrics or cfg.objective.metric not in cand.metrics:
        raise BadInputError(
            f"{cand_path if cfg.objective.metric in base.metrics else base_path}: metrics: "
            f"expected the objective {cfg.objective.metric!r}; it has "
            f"{', '.join(sorted(cand.metrics)) or 'none'}"
        )
    notes = [WEAKER]
    if base.environment.fingerprint != cand.environment.fingerprint:
        notes.append(
            f"the files come from different machines ({base.environment.cpu_model}, "
            f"{base.environment.cores} cores vs {cand.environment.cpu_model}, {cand.environment.cores} cores)"
        )
    if base.config_hash != cand.config_hash:
        notes.append("the files were measured with different configurations (config hash differs)")
    units = {m.name: m.unit for m in base.metrics.values()}
    decision = decide(
        cfg,
        {k: m.samples for k, m in base.metrics.items()},
        {k: m.samples for k, m in cand.metrics.items()},
        paired=False,
        units=units,
    )
    now = now_iso()
    return comparison_of(
        cfg,
        decision,
        baseline=RefInfo(ref=str(base_path), sha=base.ref.sha),
        candidate=RefInfo(ref=str(cand_path), sha=cand.ref.sha),
        gate=None,
        rounds=min(base.runs, cand.runs),
        environment=cand.environment,
        started_at=now,
        finished_at=now,
        paired=False,
        order="separate runs",
        config_hash=cand.config_hash,
        offline=True,
        notes=tuple(notes),
    )
