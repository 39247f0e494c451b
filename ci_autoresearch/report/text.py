"""The terminal reports: a comparison, one measured ref, a run's history. Pure; tested against exact text."""

from __future__ import annotations

from collections.abc import Sequence

from ci_autoresearch.decide.stats import median_of, summary
from ci_autoresearch.decide.verdict import pct
from ci_autoresearch.model import Comparison, Evaluation, MetricComparison, Result
from ci_autoresearch.report.cells import (
    ci_cell,
    format_value,
    leaning,
    measured_on,
    measurement_text,
)


def _verdict_cell(m: MetricComparison) -> str:
    if m.role == "guard":
        tol = pct(m.max_regression or 0.0, signed=False)
        return f"{m.verdict} (guard, ≤{tol})"
    if m.role == "info":
        return f"({leaning(m)})"
    return leaning(m)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("─" * w for w in widths))
    return "\n".join(lines)


def comparison_text(c: Comparison) -> str:
    """The terminal report of a comparison: a header, the metric table, the verdict and its reason."""
    kind = "paired, interleaved" if c.paired else "unpaired"
    head = (
        f"{c.baseline.ref} ({c.baseline.sha[:8] or 'file'}) → "
        f"{c.candidate.ref} ({c.candidate.sha[:8] or 'file'})"
        f"   {c.rounds} rounds, {c.order.upper()}, {kind}"
    )
    level = round(c.confidence * 100)
    rows = [["metric", "baseline", "candidate", "Δ", f"{level}% CI", "verdict"]]
    for m in c.metrics.values():
        rows.append(
            [
                m.name + (" *" if m.role == "objective" else ""),
                format_value(median_of(m.baseline), m.unit),
                format_value(median_of(m.candidate), m.unit),
                pct(m.estimate.delta) if m.estimate else "–",
                ci_cell(m),
                _verdict_cell(m),
            ]
        )
    parts = [head]
    if c.measurement is not None:
        parts.append(f"measured: {measurement_text(c.measurement)}")
    parts.append("")
    if len(rows) > 1:
        parts += [_table(rows), ""]
    if c.gate is not None and c.gate.command:
        parts.append(f"gate: {c.gate.reason}" if c.gate.passed else f"gate: FAILED: {c.gate.reason}")
    parts.extend(f"note: {n}" for n in c.notes)
    if c.failure_output and c.verdict == "invalid":
        parts += ["output (last lines):", *("  " + line for line in c.failure_output.splitlines()), ""]
    parts.append(f"verdict: {c.verdict.upper()} — {c.reason}; {measured_on(c)}")
    return "\n".join(parts) + "\n"


def result_text(r: Result) -> str:
    """The terminal report of one measured ref."""
    ref = r.ref.ref + (f" ({r.ref.sha[:8]}{', dirty' if r.dirty else ''})" if r.ref.sha else "")
    rows = [["metric", "median", "mean", "stdev", "cv", "min", "max", "n"]]
    for m in r.metrics.values():
        s = summary(m.samples)
        rows.append(
            [
                m.name,
                format_value(s["median"], m.unit),
                format_value(s["mean"], m.unit),
                format_value(s["stdev"], m.unit),
                pct(s["cv"], signed=False),
                format_value(s["min"], m.unit),
                format_value(s["max"], m.unit),
                str(int(s["n"])),
            ]
        )
    text = f"{ref}: {r.runs} runs after {r.warmup_runs} warm-up\n\n" + (_table(rows) if len(rows) > 1 else "")
    if r.error:
        text += f"\nerror: {r.error}"
    return text + "\n"


def _obj_delta(ev: Evaluation) -> tuple[str, str]:
    obj = ev.comparison.objective_metric
    if obj is None or obj.estimate is None:
        return "–", "–"
    return pct(obj.estimate.delta), ci_cell(obj)


def history_text(evaluations: Sequence[Evaluation]) -> str:
    rows = [["#", "candidate", "verdict", "Δ objective", "CI", "decision", "reason"]]
    for ev in evaluations:
        delta, ci = _obj_delta(ev)
        label = ev.source.split(":", 1)[1] if ev.source.startswith("branch:") else ev.source
        reason = ev.decision_reason.split(": ", 1)[-1] if ev.decision_reason else ev.comparison.reason
        rows.append(
            [str(ev.iteration or "–"), label[:40], ev.comparison.verdict, delta, ci, ev.decision, reason[:70]]
        )
    if len(rows) == 1:
        return "no evaluations recorded yet\n"
    return _table(rows) + "\n"
