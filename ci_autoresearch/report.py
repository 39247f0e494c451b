"""Rendering: terminal tables and Markdown. Pure functions of the data, tested against exact text."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from ci_autoresearch.decide import ci_text, lean_word, pct
from ci_autoresearch.model import Comparison, Evaluation, Measurement, MetricComparison, Result
from ci_autoresearch.stats import summary

_SI_TIME = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9))
_BYTES = (("GiB", 1024.0**3), ("MiB", 1024.0**2), ("KiB", 1024.0), ("B", 1.0))


def _sig(x: float, digits: int = 4) -> str:
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    return f"{x:.{digits}g}" if abs(x) < 10**digits else f"{x:,.0f}"


def format_value(value: float | None, unit: str) -> str:
    """A number with its unit, scaled for reading: ``0.00042 s`` → ``420 µs``, bytes → MiB."""
    if value is None:
        return "–"
    if unit == "s":
        for name, scale in _SI_TIME:
            if abs(value) >= scale or name == "ns":
                return f"{_sig(value / scale)} {name}"
    if unit == "bytes":
        for name, scale in _BYTES:
            if abs(value) >= scale or name == "B":
                return f"{_sig(value / scale)} {name}"
    return f"{_sig(value)} {unit}".rstrip()


def _median(xs: Sequence[float]) -> float | None:
    return summary(xs)["median"] if xs else None


def _ci(m: MetricComparison) -> str:
    if m.estimate is None:
        return "–"
    return ci_text(m.estimate)


def _leaning(m: MetricComparison) -> str:
    """``inconclusive, likely slower`` for an inconclusive metric whose interval excludes no change."""
    if m.lean is None:
        return m.verdict
    return f"{m.verdict}, likely {lean_word(m.lean, unit=m.unit, direction=m.direction)}"


def _verdict_cell(m: MetricComparison) -> str:
    if m.role == "guard":
        tol = pct(m.max_regression or 0.0, signed=False)
        return f"{m.verdict} (guard, ≤{tol})"
    if m.role == "info":
        return f"({_leaning(m)})"
    return _leaning(m)


def measurement_text(m: Measurement) -> str:
    """Which mode measured, and how many processes the verdict stands on."""
    if m.mode == "process":
        return f"a process per run, {m.processes} processes"
    who = "each running both sides" if m.sides_per_process == 2 else "one per side and round"
    calls = f" of {m.calls_per_block} calls" if m.calls_per_block else ""
    return (
        f"worker mode, {m.processes} worker processes ({who}); per side, {m.blocks} measured "
        f"blocks{calls} after {m.warmup_blocks} warm-up"
    )


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
                format_value(_median(m.baseline), m.unit),
                format_value(_median(m.candidate), m.unit),
                pct(m.estimate.delta) if m.estimate else "–",
                _ci(m),
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
    parts.append(f"verdict: {c.verdict.upper()} — {c.reason}")
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


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&])")


def escape_md(text: str) -> str:
    """Make untrusted text (branch names, metric names, command output) inert in Markdown."""
    return _MD_SPECIAL.sub(r"\\\1", text.replace("\r", " ").replace("\n", " "))


# --- Markdown ----------------------------------------------------------------------------------------

VERDICT_ICONS = {
    "improved": "🟢",
    "regressed": "🔴",
    "unchanged": "⚪",
    "inconclusive": "🟡",
    "invalid": "⛔",
    "rejected": "🟠",
}


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def comparison_markdown(c: Comparison, *, decision: str | None = None, extra: Sequence[str] = ()) -> str:
    """The report a person reads on a PR or in the step summary. Untrusted text is escaped."""
    obj = c.objective_metric
    level = round(c.confidence * 100)
    headline = f"### {VERDICT_ICONS.get(c.verdict, '')} autoresearch: **{c.verdict}**"
    if obj is not None and c.lean is not None:
        headline += f", likely {lean_word(c.lean, unit=obj.unit, direction=obj.direction)}"
    if obj is not None and obj.estimate is not None:
        ci = ci_text(obj.estimate)
        headline += f" — {escape_md(obj.name)} {pct(obj.estimate.delta)} ({level}% CI {ci})"
    lines = [headline, "", escape_md(c.reason), ""]
    if c.metrics:
        lines += [
            _md_row(
                [
                    "metric",
                    f"base {c.baseline.sha[:8]}",
                    f"candidate {c.candidate.sha[:8]}",
                    "Δ",
                    f"{level}% CI",
                    "verdict",
                ]
            ),
            _md_row(["---", "---:", "---:", "---:", "---", "---"]),
        ]
        for m in c.metrics.values():
            name = escape_md(m.name)
            if m.role == "objective":
                name = f"**{name}** (objective)"
            elif m.role == "guard":
                name += f" (guard, ≤{pct(m.max_regression or 0.0, signed=False)})"
            lines.append(
                _md_row(
                    [
                        name,
                        format_value(_median(m.baseline), escape_md(m.unit)),
                        format_value(_median(m.candidate), escape_md(m.unit)),
                        pct(m.estimate.delta) if m.estimate else "–",
                        _ci(m),
                        _leaning(m) if m.role != "guard" else m.verdict,
                    ]
                )
            )
        lines.append("")
    if c.gate is not None and c.gate.command:
        status = "passed" if c.gate.passed else "**failed**"
        lines.append(f"**Gate:** {escape_md(c.gate.command)} {status} ({c.gate.seconds:.1f} s)")
    elif c.gate is not None and c.gate.protected_paths_touched:
        lines.append(
            f"**Gate:** **failed**: touches protected paths "
            f"{', '.join(escape_md(p) for p in c.gate.protected_paths_touched)}"
        )
    if decision:
        lines.append(f"**Decision:** {escape_md(decision)}")
    for note in c.notes:
        lines.append(f"> {escape_md(note)}")
    for block in extra:
        lines += ["", block]
    lines += ["", _details(c)]
    return "\n".join(lines).rstrip() + "\n"


def _details(c: Comparison) -> str:
    e = c.environment
    rows = [
        f"- {c.rounds} rounds, order {c.order}, {'paired' if c.paired else 'unpaired'}, seed {c.seed}, "
        f"min effect {pct(c.min_effect, signed=False)}, confidence {round(c.confidence * 100)}%",
        *([f"- measured: {measurement_text(c.measurement)}"] if c.measurement is not None else []),
        f"- runner: {escape_md(e.runner_name)}, {escape_md(e.cpu_model)}, {e.cores} cores, "
        f"{escape_md(e.os)}, "
        f"Python {escape_md(e.python)}",
        f"- config {c.config_hash}, measured {c.started_at} → {c.finished_at}",
    ]
    for m in c.metrics.values():
        fmt = ", ".join(f"{v:.6g}" for v in m.baseline[:50])
        fmt_c = ", ".join(f"{v:.6g}" for v in m.candidate[:50])
        rows.append(
            f"- {escape_md(m.name)} samples ({escape_md(m.unit) or 'no unit'}): base [{fmt}], "
            f"candidate [{fmt_c}]"
        )
    if c.gate is not None and c.gate.log and not c.gate.passed:
        log = c.gate.log.replace("```", "` ` `")[-3000:]
        rows += ["", "Gate output (last lines):", "", "```text", log, "```"]
    return (
        "<details><summary>Samples, rounds and environment</summary>\n\n" + "\n".join(rows) + "\n\n</details>"
    )


def evaluation_markdown(ev: Evaluation, *, extra: Sequence[str] = ()) -> str:
    return comparison_markdown(ev.comparison, decision=f"{ev.decision} — {ev.decision_reason}", extra=extra)


# --- history -----------------------------------------------------------------------------------------


def _obj_delta(ev: Evaluation) -> tuple[str, str]:
    obj = ev.comparison.objective_metric
    if obj is None or obj.estimate is None:
        return "–", "–"
    return pct(obj.estimate.delta), _ci(obj)


def history_text(evaluations: Sequence[Evaluation]) -> str:
    rows = [["#", "candidate", "verdict", "Δ objective", "CI", "decision", "reason"]]
    for ev in evaluations:
        delta, ci = _obj_delta(ev)
        label = ev.source.split(":", 1)[1] if ev.source.startswith("branch:") else ev.source
        reason = ev.decision_reason.split(": ", 1)[-1] if ev.decision_reason else ev.comparison.reason
        rows.append(
            [str(ev.iteration), label[:40], ev.comparison.verdict, delta, ci, ev.decision, reason[:70]]
        )
    if len(rows) == 1:
        return "no evaluations recorded yet\n"
    return _table(rows) + "\n"


def mermaid_chart(series: Sequence[tuple[int, float | None, float | None]], *, metric: str, unit: str) -> str:
    """A Mermaid ``xychart-beta``: every candidate's objective (bars) and the running best (line)."""
    xs = [str(i) for i, _, _ in series]
    best = [b if b is not None else 0.0 for _, _, b in series]
    every = [v if v is not None else (b if b is not None else 0.0) for _, v, b in series]
    label = f"{metric} ({unit})" if unit else metric
    return "\n".join(
        [
            "```mermaid",
            "xychart-beta",
            f'    title "{_mermaid_text(metric)} per iteration: candidates (bars), best so far (line)"',
            f"    x-axis [{', '.join(xs)}]",
            f'    y-axis "{_mermaid_text(label)}"',
            f"    bar [{', '.join(f'{v:.6g}' for v in every)}]",
            f"    line [{', '.join(f'{v:.6g}' for v in best)}]",
            "```",
        ]
    )


def _mermaid_text(text: str) -> str:
    return re.sub(r'["`\n\r]', "'", text)[:80]
