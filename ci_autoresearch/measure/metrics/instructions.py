"""Instruction counts: the ``Ir`` totals valgrind (callgrind or cachegrind) wrote, one file per process.

Parsing only; the command line that runs the benchmark under valgrind is built by
:mod:`ci_autoresearch.measure.valgrind`, which shares the file names defined here.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Literal

from ci_autoresearch.errors import MeasurementError
from ci_autoresearch.measure.metrics.numbers import ParseError, quote

Tool = Literal["callgrind", "cachegrind"]


def instructions_out_file(log_dir: Path, name: str, tool: Tool) -> Path:
    """Where the valgrind output of run ``name`` goes (``%p``: one file per process)."""
    return log_dir / f"{name}.{tool}.%p.out"


def output_pattern(out_file: Path, tool: str) -> Path:
    """The valgrind output path with its ``%p``: ``out_file`` itself when it has one; for an existing
    directory, ``<dir>/<tool>.%p.out``; otherwise ``.%p`` inserted before the suffix."""
    if out_file.is_dir():
        return out_file / f"{tool}.%p.out"
    if "%p" in out_file.name:
        return out_file
    return out_file.with_name(f"{out_file.stem}.%p{out_file.suffix}")


def log_file(out_file: Path) -> Path:
    """Where valgrind's own messages go for output file ``out_file``."""
    return out_file.with_name(out_file.stem + ".log")


def parse_valgrind_output(text: str) -> int:
    """The ``Ir`` total of one callgrind or cachegrind output file (``totals:``, else ``summary:``)."""
    events: list[str] = ["Ir"]
    totals: list[str] | None = None
    summary: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith("totals:"):
            totals = line.split()[1:]
        elif line.startswith("summary:"):
            summary = line.split()[1:]
    counts = totals if totals is not None else summary
    if counts is None:
        raise ParseError("no `totals:` or `summary:` line (valgrind did not finish writing it)")
    if "Ir" not in events:
        raise ParseError(f"no Ir event (events: {' '.join(events)})")
    index = events.index("Ir")
    if index >= len(counts):
        raise ParseError("the totals line has no Ir column")
    try:
        return int(counts[index])
    except ValueError:
        raise ParseError(f"Ir total {quote(counts[index])} is not an integer") from None


def read_instruction_count(out_file: Path, tool: Tool, *, metric: str = "instructions") -> float:
    """The sum of ``Ir`` over every file valgrind wrote for ``out_file`` (one per process); ``out_file``
    as given to :func:`wrap_for_instructions` (a ``%p`` pattern, a file name or a directory)."""
    out = output_pattern(out_file, tool)
    pattern = "*".join(glob.escape(part) for part in out.name.split("%p"))
    files = sorted(out.parent.glob(pattern))
    where = f"metric '{metric}' (instructions, {tool})"
    if not files:
        raise MeasurementError(
            f"{where}: valgrind wrote no output matching {out.parent / pattern} "
            f"(its messages are in {out.parent / log_file(out).name.replace('%p', '*')})"
        )
    total = 0
    for file in files:
        try:
            total += parse_valgrind_output(file.read_text(encoding="utf-8", errors="replace"))
        except ParseError as exc:
            raise MeasurementError(f"{where}: {file}: {exc}") from None
        except OSError as exc:
            raise MeasurementError(f"{where}: cannot read {file}: {exc.strerror or exc}") from None
    return float(total)
