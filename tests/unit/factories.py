"""Small builders of the data model for unit tests."""

from __future__ import annotations

from ci_autoresearch.config.model import BenchmarkConfig, Config, GuardConfig, MetricSpec, ObjectiveConfig
from ci_autoresearch.decide.verdict import decide
from ci_autoresearch.model import Comparison, Evaluation, GateResult
from tests.factories import stub_comparison


def config(**kw: object) -> Config:
    defaults: dict[str, object] = {
        "path": ".autoresearch.yml",
        "hash": "cafe0123cafe0123",
        "objective": ObjectiveConfig(metric="score"),
        "benchmark": BenchmarkConfig(
            command="python bench.py", metrics=(MetricSpec(name="memory", source="stdout", unit="MB"),)
        ),
        "guards": (GuardConfig(metric="memory", max_regression=0.05),),
    }
    defaults.update(kw)
    return Config(**defaults)  # type: ignore[arg-type]


def comparison(
    base: list[float],
    cand: list[float],
    *,
    memory: tuple[float, float] = (100.0, 100.0),
    gate: GateResult | None = None,
    cfg: Config | None = None,
    cand_ref: str = "fast",
) -> Comparison:
    cfg = cfg or config()
    n = len(base)
    d = decide(
        cfg,
        {"score": base, "memory": [memory[0]] * n, "wall_time": [0.5] * n},
        {"score": cand, "memory": [memory[1]] * n, "wall_time": [0.4] * n},
        paired=True,
    )
    return stub_comparison(
        verdict=d.verdict,
        reason=d.reason,
        metrics=d.metrics,
        lean=d.lean,
        resolution=d.resolution,
        rounds=n,
        config_hash=cfg.hash,
        gate=gate
        or GateResult(
            command="pytest -q", passed=True, returncode=0, seconds=1.5, reason="`pytest -q` passed"
        ),
    )


def evaluation(
    c: Comparison, *, decision: str = "kept", iteration: int = 1, source: str = "branch:fast"
) -> Evaluation:
    return Evaluation(
        comparison=c,
        decision=decision,
        decision_reason=f"{decision}: {c.reason}",  # type: ignore[arg-type]
        iteration=iteration,
        key=f"{c.candidate.sha}:{c.baseline.sha}:{c.config_hash}",
        source=source,
        candidate_head=c.candidate.sha,
        objective_value=None,
        measured_seconds=2.0,
    )
