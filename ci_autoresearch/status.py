"""Views of the loop's history: ``history --json``, ``status``, the chart and the Markdown report.

The JSON shapes are documented in docs/cli.md and are stable (``ci-autoresearch/history@1``,
``ci-autoresearch/status@1``): fields may be added, none renamed or removed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ci_autoresearch.config_model import Config
from ci_autoresearch.convergence import gain, state_from, stop_reason
from ci_autoresearch.decide import pct
from ci_autoresearch.errors import ToolMissingError
from ci_autoresearch.model import Direction, Evaluation
from ci_autoresearch.report import format_value, history_text, mermaid_chart


def _objective(evaluations: Sequence[Evaluation], config: Config | None) -> tuple[str, Direction, str]:
    if config is not None:
        name = config.objective.metric
        return name, config.objective.direction, config.metric(name).unit
    if evaluations:
        c = evaluations[-1].comparison
        obj = c.objective_metric
        return c.objective, c.direction, obj.unit if obj else ""
    return "objective", "minimize", ""


def history_json(evaluations: Sequence[Evaluation]) -> dict[str, Any]:
    rows = []
    for ev in evaluations:
        c = ev.comparison
        obj = c.objective_metric
        est = obj.estimate if obj else None
        rows.append(
            {
                "iteration": ev.iteration,
                "round": ev.round,
                "key": ev.key,
                "source": ev.source,
                "candidate": {"ref": c.candidate.ref, "sha": c.candidate.sha, "head": ev.candidate_head},
                "baseline": {"ref": c.baseline.ref, "sha": c.baseline.sha},
                "verdict": c.verdict,
                "objective": {
                    "metric": c.objective,
                    "value": ev.objective_value,
                    "delta": est.delta if est else None,
                    "ci": list(est.ci_delta) if est else None,
                    "p_value": est.p_value if est else None,
                },
                "decision": ev.decision,
                "reason": ev.decision_reason or c.reason,
                "new_best": ev.new_best,
                "rounds": c.rounds,
                "measured_seconds": ev.measured_seconds,
                "finished_at": c.finished_at,
            }
        )
    return {"schema": "ci-autoresearch/history@1", "evaluations": rows}


def history_json_text(evaluations: Sequence[Evaluation]) -> str:
    """``history@1`` as text: one evaluation per line (compact), so 10 000 of them print quickly and
    still read line by line."""
    doc = history_json(evaluations)
    rows = ",\n".join(json.dumps(row, separators=(",", ":")) for row in doc["evaluations"])
    body = f"\n{rows}\n" if rows else ""
    return f'{{"schema": "{doc["schema"]}", "evaluations": [{body}]}}\n'


def status_json(evaluations: Sequence[Evaluation], config: Config | None) -> dict[str, Any]:
    metric, direction, unit = _objective(evaluations, config)
    state = state_from(evaluations, direction=direction)
    stop = stop_reason(state, config.constraints, config.objective) if config is not None else None
    improvement = (
        gain(state.start_value, state.best_value, direction)
        if state.start_value and state.best_value is not None
        else None
    )
    return {
        "schema": "ci-autoresearch/status@1",
        "objective": {
            "metric": metric,
            "direction": direction,
            "unit": unit,
            "target": config.objective.target if config else None,
        },
        "iterations": state.iterations,
        "kept": state.kept,
        "start_value": state.start_value,
        "best_value": state.best_value,
        "best_sha": state.best_sha,
        "gain": improvement,
        "no_improvement_streak": state.streak,
        "seconds": round(state.seconds, 3),
        "converged": stop is not None,
        "stop": {"code": stop.code, "reason": stop.message} if stop else None,
    }


def status_text(doc: dict[str, Any]) -> str:
    obj = doc["objective"]
    if not doc["iterations"]:
        return "no evaluations recorded yet; run `ci-autoresearch run`\n"
    best = format_value(doc["best_value"], obj["unit"])
    start = format_value(doc["start_value"], obj["unit"])
    gain_text = (
        f" ({pct(doc['gain'], signed=False)} better than the start)" if doc["gain"] is not None else ""
    )
    lines = [
        f"objective: {obj['metric']} ({obj['direction']})",
        f"iterations: {doc['iterations']}, kept: {doc['kept']}, "
        f"no-improvement streak: {doc['no_improvement_streak']}",
        f"best: {best}"
        + (f" at {doc['best_sha'][:8]}" if doc["best_sha"] else "")
        + f"{gain_text}; start: {start}",
        f"time measuring: {doc['seconds'] / 60:.1f} min",
        f"converged: {doc['stop']['reason']}" if doc["converged"] else "stop conditions: none met yet",
    ]
    return "\n".join(lines) + "\n"


def chart_markdown(evaluations: Sequence[Evaluation], config: Config | None) -> str:
    metric, direction, unit = _objective(evaluations, config)
    state = state_from(evaluations, direction=direction)
    if not state.series:
        return f"# {metric}\n\nNo evaluations recorded yet.\n"
    return f"# {metric} over iterations\n\n" + mermaid_chart(state.series, metric=metric, unit=unit) + "\n"


def report_markdown(evaluations: Sequence[Evaluation], config: Config | None, *, title: str) -> str:
    """The loop's report: status, the chart, and the history table."""
    doc = status_json(evaluations, config)
    metric, direction, unit = _objective(evaluations, config)
    state = state_from(evaluations, direction=direction)
    parts = [f"# {title}", "", "```text", status_text(doc).rstrip(), "```", ""]
    if state.series:
        parts += [mermaid_chart(state.series, metric=metric, unit=unit), ""]
    parts += ["```text", history_text(evaluations).rstrip(), "```", ""]
    return "\n".join(parts)


def plot_png(evaluations: Sequence[Evaluation], config: Config | None, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ToolMissingError(
            "--plot needs matplotlib, which is not installed",
            hint="pip install 'ci-autoresearch[plot]', or use --chart FILE.md",
        ) from None
    metric, direction, unit = _objective(evaluations, config)
    state = state_from(evaluations, direction=direction)
    xs = [i for i, _, _ in state.series]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.scatter(xs, [v if v is not None else float("nan") for _, v, _ in state.series], label="candidate")
    ax.step(
        xs,
        [b if b is not None else float("nan") for _, _, b in state.series],
        where="post",
        label="best so far",
    )
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"{metric} ({unit})" if unit else metric)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
