"""Views of the loop's history: ``history --json``, ``status``, the chart and the Markdown report.

The JSON shapes are documented in docs/cli.md and are stable (``ci-autoresearch/history@1``,
``ci-autoresearch/status@1``): fields may be added, none renamed or removed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ci_autoresearch.config.model import Config
from ci_autoresearch.decide.verdict import pct
from ci_autoresearch.errors import ToolMissingError
from ci_autoresearch.history.convergence import gain, state_from, stop_reason
from ci_autoresearch.model import Change, Direction, Evaluation
from ci_autoresearch.report.cells import format_value
from ci_autoresearch.report.chart import ChartPoint, xychart
from ci_autoresearch.report.markdown import VERDICT_ICONS, escape_md


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


def _chart(evaluations: Sequence[Evaluation], config: Config | None) -> str | None:
    """The loop's chart: the start (the first measured baseline), then every candidate (bars; an invalid
    one is empty and labelled) and the best so far (line); None before anything was evaluated."""
    metric, direction, unit = _objective(evaluations, config)
    state = state_from(evaluations, direction=direction)
    if not state.series:
        return None
    points = [ChartPoint(label="start", bar=state.start_value, line=state.start_value)]
    for (i, value, best), verdict in zip(state.series, state.verdicts, strict=True):
        invalid = verdict == "invalid"
        points.append(
            ChartPoint(label=f"{i} invalid" if invalid else str(i), bar=None if invalid else value, line=best)
        )
    title = f"{metric} per iteration: candidates (bars), best so far (line)"
    return xychart(points, metric=metric, unit=unit, title=title)


def chart_markdown(evaluations: Sequence[Evaluation], config: Config | None) -> str:
    metric, _, _ = _objective(evaluations, config)
    chart = _chart(evaluations, config)
    if chart is None:
        return f"# {metric}\n\nNo evaluations recorded yet.\n"
    return f"# {metric} over iterations\n\n{chart}\n"


def _summary_line(doc: dict[str, Any]) -> str:
    obj = doc["objective"]
    if not doc["iterations"]:
        return "No evaluations recorded yet."
    unit = obj["unit"]
    gain_text = f" ({pct(doc['gain'], signed=False)} better)" if doc["gain"] is not None else ""
    stop = f"Converged: {doc['stop']['reason']}" if doc["converged"] else "Stop conditions: none met yet"
    start = format_value(doc["start_value"], unit)
    return (
        f"**{escape_md(obj['metric'])}** ({obj['direction']}): start {start}, "
        f"best {format_value(doc['best_value'], unit)}{gain_text} after {doc['iterations']} iterations, "
        f"{doc['kept']} kept. {escape_md(stop)}."
    )


def _pr_cell(change: Change | None) -> str:
    if change is None:
        return ""
    url = change.url or ""
    match = re.search(r"/pull/(\d+)$", url)
    if match and url.startswith("https://"):
        return f"{change.action} [#{match.group(1)}]({url})"
    return f"{change.action} {escape_md(change.branch)}"


def report_markdown(
    evaluations: Sequence[Evaluation],
    config: Config | None,
    *,
    title: str,
    changes: Sequence[Change] = (),
) -> str:
    """The loop's report (the job summary): one line where it stands, the chart, and a table of the
    evaluations that links the pull requests the run opened or closed (``changes``)."""
    doc = status_json(evaluations, config)
    metric, _, _ = _objective(evaluations, config)
    by_key = {c.key: c for c in changes}
    parts = [f"### {escape_md(title)}", "", _summary_line(doc), ""]
    chart = _chart(evaluations, config)
    if chart is not None:
        parts += [chart, ""]
    rows = [ev for ev in evaluations if not ev.source.startswith("compare:")]
    if rows:
        parts += [
            f"| # | candidate | verdict | Δ {escape_md(metric)} | decision | pull request |",
            "| ---: | --- | --- | ---: | --- | --- |",
        ]
        for ev in rows:
            c = ev.comparison
            obj = c.objective_metric
            delta = pct(obj.estimate.delta) if obj and obj.estimate else "–"
            label = ev.source.split(":", 1)[1] if ev.source.startswith("branch:") else ev.source
            verdict = f"{VERDICT_ICONS.get(c.verdict, '')} {c.verdict}"
            parts.append(
                f"| {ev.iteration} | {escape_md(label[:60])} | {verdict} | {delta} | {ev.decision} | "
                f"{_pr_cell(by_key.get(ev.key))} |"
            )
        parts.append("")
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
