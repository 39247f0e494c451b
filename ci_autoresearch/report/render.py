"""Rendering: terminal tables and Markdown. Pure functions of the data, tested against exact text."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ci_autoresearch.decide.stats import summary
from ci_autoresearch.decide.verdict import ci_text, lean_word, pct
from ci_autoresearch.model import Comparison, Evaluation, Measurement, MetricComparison, Result

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
    if c.failure_output and c.verdict == "invalid":
        parts += ["output (last lines):", *("  " + line for line in c.failure_output.splitlines()), ""]
    parts.append(f"verdict: {c.verdict.upper()} — {c.reason}; {measured_on(c)}")
    return "\n".join(parts) + "\n"


def environment_text(c: Comparison) -> str:
    """Which interpreter and machine measured ``c``: ``Python 3.11.7 on <CPU> (2 cores), Linux 6.1
    x86_64, runner local`` (a speed-up on one Python or CPU may be gone on another)."""
    e = c.environment
    return f"Python {e.python} on {e.cpu_model} ({e.cores} cores), {e.os} {e.machine}, runner {e.runner_name}"


def measured_on(c: Comparison) -> str:
    """Who measured ``c``, with what and where: ``measured by run with Python … , runner local``."""
    by = f"measured by {c.measured_by} with" if c.measured_by else "measured with"
    return f"{by} {environment_text(c)}"


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


_NO_MENTION = (
    "@\u200b"  # a zero-width space after "@": GitHub links no @user or @org/team, nobody is notified
)


_MENTION = re.compile(r"@(?=[A-Za-z0-9_-])")  # what GitHub could read as @user or @org/team


def escape_md(text: str) -> str:
    """Make untrusted text (branch names, metric names, command output) inert in Markdown: no markup,
    no line breaks, and no ``@mention`` (which would notify a person or a team)."""
    flat = text.replace("\r", " ").replace("\n", " ")
    return _MD_SPECIAL.sub(r"\\\1", _MENTION.sub(_NO_MENTION, flat))


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


def _decision_text(decision: str, reason: str) -> str:
    """The decision without the comparison's reason, which the headline already gives (``kept — kept:
    <reason>`` → ``kept``; ``discarded — regressed: <reason>`` → ``discarded — regressed``)."""
    text = decision.replace(reason, "") if reason else decision
    parts = [p.strip(" :—") for p in text.split(" — ")]
    kept = [p for i, p in enumerate(parts) if p and p not in parts[:i]]
    return " — ".join(kept)


def code_span(text: str) -> str:
    """Untrusted text as inline code: shown literally (no Markdown, no HTML), on one line."""
    inner = text.replace("`", "'").replace("\r", " ").replace("\n", " ")[:300]
    return f"` {inner} `" if inner.startswith("'") or inner.endswith("'") else f"`{inner}`"


def _code_block(text: str) -> list[str]:
    return ["```text", text.replace("```", "` ` `")[-3000:], "```"]


def _failure_lines(c: Comparison) -> list[str]:
    """For ``invalid``: what failed and its last lines, outside ``<details>``."""
    gate = c.gate
    if gate is not None and gate.protected_paths_touched:
        paths = ", ".join(code_span(p) for p in gate.protected_paths_touched)
        return [f"**Protected files changed:** {paths} (`gate.protected_paths`)"]
    if gate is not None and gate.command and not gate.passed:
        exit_text = f"exit {gate.returncode}, " if gate.returncode is not None else ""
        head = f"**Gate:** {code_span(gate.command)} **failed** ({exit_text}{gate.seconds:.1f} s)"
        return [
            head + (", its last lines:" if gate.log else ""),
            *(["", *_code_block(gate.log)] if gate.log else []),
        ]
    if c.failure_output and c.verdict == "invalid":
        return ["**Output** (last lines):", "", *_code_block(c.failure_output)]
    return []


def comparison_markdown(c: Comparison, *, decision: str | None = None, extra: Sequence[str] = ()) -> str:
    """The report a person reads on a PR or in the step summary. Untrusted text is escaped.

    It leads with the verdict and its reason (said once), then who measured it and where, the
    decision, what failed (for ``invalid``, the failing command's last lines), the metric table, the
    notes, ``extra`` blocks (trend, history) and the samples in ``<details>``. Every paragraph is
    separated by a blank line, so nothing runs together when GitHub renders it.
    """
    level = round(c.confidence * 100)
    headline = f"### {VERDICT_ICONS.get(c.verdict, '')} autoresearch: **{c.verdict}** — {escape_md(c.reason)}"
    blocks: list[list[str]] = [
        [headline.rstrip(" —")],
        [f"<sub>{escape_md(measured_on(c))}, {c.finished_at}</sub>"],
    ]
    if decision:
        text = _decision_text(decision, c.reason)
        if text:
            blocks.append([f"**Decision:** {escape_md(text)}"])
    failure = _failure_lines(c)
    if failure:
        blocks.append(failure)
    if c.metrics:
        table = [
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
            table.append(
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
        blocks.append(table)
    if c.gate is not None and c.gate.command and c.gate.passed:
        blocks.append([f"**Gate:** {code_span(c.gate.command)} passed ({c.gate.seconds:.1f} s)"])
    if c.benchmark is not None:
        b = c.benchmark
        files = escape_md(", ".join(b.patterns))
        blocks.append([f"**Benchmark:** {files} from {escape_md(b.source)} on both sides (tree {b.sha[:8]})"])
    blocks += [[f"> {escape_md(note)}"] for note in c.notes]
    blocks += [[block] for block in extra]
    blocks.append([_details(c)])
    return "\n\n".join("\n".join(block) for block in blocks).rstrip() + "\n"


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
            [str(ev.iteration or "–"), label[:40], ev.comparison.verdict, delta, ci, ev.decision, reason[:70]]
        )
    if len(rows) == 1:
        return "no evaluations recorded yet\n"
    return _table(rows) + "\n"


@dataclass(frozen=True, kw_only=True)
class ChartPoint:
    """One category of a chart: its x-axis label, its bar and its line value. ``bar`` None means nothing
    valid was measured (an ``invalid`` candidate): the bar is drawn empty and the label says why."""

    label: str
    bar: float | None
    line: float | None


def display_scale(values: Sequence[float], unit: str) -> tuple[float, str]:
    """The divisor and unit that show ``values`` as the tables do (seconds → ms when the largest is below
    one second; bytes → KiB / MiB / GiB)."""
    top = max((abs(v) for v in values), default=0.0)
    scales = _SI_TIME if unit == "s" else _BYTES if unit == "bytes" else ()
    for name, scale in scales:
        if top >= scale:
            return scale, name
    return (scales[-1][1], scales[-1][0]) if scales else (1.0, unit)


def _axis_top(value: float) -> float:
    """A round number a little above ``value`` (two significant digits, rounded up)."""
    if value <= 0:
        return 1.0
    target = value * 1.1
    step = 10.0 ** (math.floor(math.log10(target)) - 1)
    return round(math.ceil(round(target / step, 6)) * step, 10)


def _chart_number(v: float) -> str:
    """A number as Mermaid reads it: plain digits, no exponent, no thousands separator."""
    return (
        f"{v:.0f}" if abs(v) >= 1e6 else f"{v:.6g}" if abs(v) >= 1e-4 or v == 0 else f"{v:.10f}".rstrip("0")
    )


def xychart(points: Sequence[ChartPoint], *, metric: str, unit: str, title: str) -> str:
    """A Mermaid ``xychart-beta`` of ``points`` (bars and a line) in the unit the tables use.

    The y-axis starts at 0 (a bar's height is its value: the smallest is not made to vanish); a point
    without a bar is drawn at 0 (label it, e.g. ``3 invalid``); a point without a line value repeats
    the nearest earlier one (the line has no gaps in Mermaid).
    """
    known = [p.line for p in points if p.line is not None]
    lines: list[float | None] = []
    for p in points:
        lines.append(p.line if p.line is not None else (lines[-1] if lines else known[0] if known else None))
    values = [v for p in points for v in (p.bar, p.line) if v is not None]
    scale, shown = display_scale(values, unit)
    low = min([0.0, *values]) / scale
    high = _axis_top(max([0.0, *values]) / scale)
    label = f"{metric} ({shown})" if shown else metric

    def num(v: float | None) -> str:
        return _chart_number(v / scale) if v is not None else "0"

    cats = ", ".join(f'"{_mermaid_text(p.label)}"' for p in points)
    return "\n".join(
        [
            "```mermaid",
            "xychart-beta",
            f'    title "{_mermaid_text(title)}"',
            f"    x-axis [{cats}]",
            f'    y-axis "{_mermaid_text(label)}" {_chart_number(low)} --> {_chart_number(high)}',
            f"    bar [{', '.join(num(p.bar) for p in points)}]",
            f"    line [{', '.join(num(v) for v in lines)}]",
            "```",
        ]
    )


def mermaid_chart(
    series: Sequence[tuple[int, float | None, float | None]],
    *,
    metric: str,
    unit: str,
    bars: str = "candidates",
    line: str = "best so far",
) -> str:
    """:func:`xychart` of ``(x, bar or None, line or None)`` triples; a missing bar is labelled invalid.
    ``bars`` and ``line`` say what they show, in the title."""
    points = [
        ChartPoint(label=str(x) if bar is not None else f"{x} invalid", bar=bar, line=value)
        for x, bar, value in series
    ]
    return xychart(points, metric=metric, unit=unit, title=f"{metric}: {bars} (bars), {line} (line)")


def pr_history_markdown(evaluations: Sequence[Evaluation]) -> str:
    """The evaluations of one pull request, oldest first, as a heading and a chart: each push's candidate
    (bars) and the baseline measured with it (line)."""
    points = []
    for i, ev in enumerate(evaluations, 1):
        obj = ev.comparison.objective_metric
        invalid = ev.comparison.verdict == "invalid"
        cand = _median(obj.candidate) if obj and obj.candidate and not invalid else None
        base = _median(obj.baseline) if obj and obj.baseline else None
        points.append(ChartPoint(label=f"{i} invalid" if invalid else str(i), bar=cand, line=base))
    last = evaluations[-1].comparison if evaluations else None
    metric = last.objective if last else "objective"
    unit = last.objective_metric.unit if last and last.objective_metric else ""
    chart = xychart(
        points,
        metric=metric,
        unit=unit,
        title=f"{metric} per evaluation: candidate (bars), its baseline (line)",
    )
    return f"**History of this PR** (bars: candidate, line: its baseline)\n\n{chart}"


def _mermaid_text(text: str) -> str:
    return re.sub(r'["`\n\r]', "'", text)[:80]


# --- around a comparison: the trend, a pull request's body -------------------------------------------


def trend_markdown(c: Comparison, stored: Result | None, note: str) -> str:
    """Drift of this job's runner against the stored baseline of the base branch, one line.

    When a side has no samples of the objective, the line names that side: the stored baseline, or
    this job's measurement of the base (e.g. a candidate found invalid before anything was measured).
    """
    metric = escape_md(c.objective)
    if stored is None:
        return (
            f"**Trend:** no stored baseline to compare with ({escape_md(note)}); measured in this job only."
        )
    then_samples = stored.metrics.get(c.objective)
    if then_samples is None or not then_samples.samples:
        return f"**Trend:** the stored baseline ({escape_md(note)}) has no {metric} samples."
    obj = c.objective_metric
    unit = then_samples.unit
    then = summary(then_samples.samples)["median"]
    if obj is None or not obj.baseline:
        why = "nothing was measured" if c.rounds == 0 else "the base has no samples"
        return (
            f"**Trend:** {escape_md(note)}: {metric} {format_value(then, unit)} then; this job has no "
            f"{metric} samples of the base ({why}, verdict {c.verdict}), so no drift to show."
        )
    now = summary(obj.baseline)["median"]
    drift = now / then - 1 if then else 0.0
    same = stored.environment.fingerprint == c.environment.fingerprint
    return (
        f"**Trend:** {escape_md(note)}: {metric} {format_value(then, obj.unit)} then, "
        f"{format_value(now, obj.unit)} for the same base in this job: runner drift {pct(drift)}"
        + ("" if same else " (different machine type)")
        + "."
    )


def pull_request_body(ev: Evaluation, *, base: str, candidate: str) -> str:
    """The body of a pull request opened for a kept candidate: what it is, what was measured, how to
    review it; the full report is the sticky comment, not repeated here."""
    c = ev.comparison
    obj = c.objective_metric
    effect = ""
    if obj is not None and obj.estimate is not None:
        lo, hi = obj.estimate.ci_delta
        level = round(c.confidence * 100)
        effect = f": {escape_md(obj.name)} {pct(obj.estimate.delta)} ({level}% CI {pct(lo)} … {pct(hi)})"
    gate = ""
    if c.gate is not None and c.gate.command:
        gate = f"- Gate: {code_span(c.gate.command)} {'passed' if c.gate.passed else 'failed'}\n"
    bench = ""
    if c.benchmark is not None:
        files = escape_md(", ".join(c.benchmark.patterns))
        bench = f"- Benchmark: {files} from {escape_md(c.benchmark.source)}\n"
    return (
        f"ci-autoresearch measured {code_span(candidate)} against {code_span(base)} and found it "
        f"**{c.verdict}**{effect}.\n"
        "\n"
        f"This pull request proposes that change. Review it like any other; merging it makes it the new "
        f"baseline of {code_span(base)}, closing it discards it. The measurement stays recorded in "
        "`refs/notes/autoresearch`.\n"
        "\n"
        f"- Candidate: {code_span(candidate)} @ {c.candidate.sha[:8]} ({escape_md(ev.source)})\n"
        f"- Baseline: {code_span(base)} @ {c.baseline.sha[:8]}\n"
        f"- Measured: {c.rounds} rounds, {'paired and interleaved' if c.paired else 'unpaired'}, "
        f"{escape_md(measured_on(c))}, {c.finished_at}\n"
        f"{gate}{bench}"
        f"- Evaluation key: {code_span(ev.key)}\n"
    )
