"""What both reports print: values with their units, the interval and verdict cells, who measured. Pure."""

from __future__ import annotations

import math

from ci_autoresearch.decide.verdict import ci_text, lean_word
from ci_autoresearch.model import Comparison, Measurement, MetricComparison

#: The units tables and charts scale seconds and bytes to, largest first.
SI_TIME = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9))
BYTES = (("GiB", 1024.0**3), ("MiB", 1024.0**2), ("KiB", 1024.0), ("B", 1.0))


def _sig(x: float, digits: int = 4) -> str:
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    return f"{x:.{digits}g}" if abs(x) < 10**digits else f"{x:,.0f}"


def format_value(value: float | None, unit: str) -> str:
    """A number with its unit, scaled for reading: ``0.00042 s`` → ``420 µs``, bytes → MiB."""
    if value is None:
        return "–"
    if unit == "s":
        for name, scale in SI_TIME:
            if abs(value) >= scale or name == "ns":
                return f"{_sig(value / scale)} {name}"
    if unit == "bytes":
        for name, scale in BYTES:
            if abs(value) >= scale or name == "B":
                return f"{_sig(value / scale)} {name}"
    return f"{_sig(value)} {unit}".rstrip()


def ci_cell(m: MetricComparison) -> str:
    if m.estimate is None:
        return "–"
    return ci_text(m.estimate)


def leaning(m: MetricComparison) -> str:
    """``inconclusive, likely slower`` for an inconclusive metric whose interval excludes no change."""
    if m.lean is None:
        return m.verdict
    return f"{m.verdict}, likely {lean_word(m.lean, unit=m.unit, direction=m.direction)}"


def measurement_text(m: Measurement) -> str:
    """Which mode measured, and how many processes the verdict stands on."""
    if m.mode == "process":
        return f"a process per run, {m.processes} processes"
    who = "each running both sides" if m.sides_per_process == 2 else "one per side and round"
    per_block = m.calls_per_block
    calls = f" of {per_block} call{'s' if per_block != 1 else ''}" if per_block else ""
    return (
        f"worker mode, {m.processes} worker processes ({who}); per side, {m.blocks} measured "
        f"block{'s' if m.blocks != 1 else ''}{calls} after {m.warmup_blocks} warm-up"
    )


def environment_text(c: Comparison) -> str:
    """Which interpreter and machine measured ``c``: ``Python 3.11.7 on <CPU> (2 cores), Linux 6.1
    x86_64, runner local`` (a speed-up on one Python or CPU may be gone on another)."""
    e = c.environment
    return f"Python {e.python} on {e.cpu_model} ({e.cores} cores), {e.os} {e.machine}, runner {e.runner_name}"


def measured_on(c: Comparison) -> str:
    """Who measured ``c``, with what and where: ``measured by run with Python … , runner local``."""
    by = f"measured by {c.measured_by} with" if c.measured_by else "measured with"
    return f"{by} {environment_text(c)}"
