"""Mermaid ``xychart-beta`` charts of a metric over evaluations, in the unit the tables use. Pure."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ci_autoresearch.decide.stats import median_of
from ci_autoresearch.model import Evaluation
from ci_autoresearch.report.cells import BYTES, SI_TIME


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
    scales = SI_TIME if unit == "s" else BYTES if unit == "bytes" else ()
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


def _mermaid_text(text: str) -> str:
    return re.sub(r'["`\n\r]', "'", text)[:80]


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
        cand = median_of(obj.candidate) if obj and obj.candidate and not invalid else None
        base = median_of(obj.baseline) if obj and obj.baseline else None
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
