"""Rendered reports, checked against exact text."""

from __future__ import annotations

import dataclasses
import random

from ci_autoresearch.model import GateResult, Measurement
from ci_autoresearch.report import (
    comparison_markdown,
    comparison_text,
    escape_md,
    format_value,
    mermaid_chart,
)
from tests.unit.factories import comparison

IMPROVED = comparison([100.0] * 6, [75.0] * 6)


def _leaning_slower() -> list[list[float]]:
    rng = random.Random(1)
    base = [100 * rng.lognormvariate(0, 0.01) for _ in range(30)]
    return [base, [b * 1.02 * rng.lognormvariate(0, 0.02) for b in base]]


def test_format_value_scales_units() -> None:
    assert format_value(0.00042, "s") == "420 µs"
    assert format_value(1.5, "s") == "1.5 s"
    assert format_value(0.0123, "s") == "12.3 ms"
    assert format_value(3 * 1024 * 1024, "bytes") == "3 MiB"
    assert format_value(12345678.0, "instructions") == "12,345,678 instructions"
    assert format_value(72.0, "") == "72"
    assert format_value(None, "s") == "–"


def test_comparison_text_exact() -> None:
    assert comparison_text(IMPROVED) == (
        "main (aaaaaaaa) → fast (bbbbbbbb)   6 rounds, ABBA, paired, interleaved\n"
        "\n"
        "metric     baseline  candidate  Δ       95% CI           verdict\n"
        "─────────  ────────  ─────────  ──────  ───────────────  ─────────────────\n"
        "score *    100       75         −25.0%  −25.0% … −25.0%  improved\n"
        "memory     100 MB    100 MB     +0.00%  +0.00% … +0.00%  ok (guard, ≤5.0%)\n"
        "wall_time  500 ms    400 ms     −20.0%  −20.0% … −20.0%  (improved)\n"
        "\n"
        "gate: `pytest -q` passed\n"
        "verdict: IMPROVED — score −25.0% (95% CI −25.0% … −25.0%, p=0.031, n=6): "
        "beyond the 1.0% minimum effect\n"
    )


def test_markdown_headline_table_and_details() -> None:
    md = comparison_markdown(IMPROVED, decision="kept — best so far")
    lines = md.splitlines()
    assert lines[0] == "### 🟢 autoresearch: **improved** — score −25.0% (95% CI −25.0% … −25.0%)"
    assert "| metric | base aaaaaaaa | candidate bbbbbbbb | Δ | 95% CI | verdict |" in lines
    assert "| **score** (objective) | 100 | 75 | −25.0% | −25.0% … −25.0% | improved |" in lines
    assert "| memory (guard, ≤5.0%) | 100 MB | 100 MB | +0.00% | +0.00% … +0.00% | ok |" in lines
    assert "**Gate:** pytest \\-q passed (1.5 s)" in lines
    assert "**Decision:** kept — best so far" in lines
    assert "<details><summary>Samples, rounds and environment</summary>" in md
    assert (
        "- score samples (no unit): base [100, 100, 100, 100, 100, 100], candidate [75, 75, 75, 75, 75, 75]"
        in md
    )


def test_guard_rejection_reads_well() -> None:
    c = comparison([100.0] * 6, [75.0] * 6, memory=(100.0, 130.0))
    assert c.verdict == "rejected"
    assert c.reason == "guard memory +30.0% exceeds its 5.0% tolerance (objective score −25.0%)"


def test_untrusted_text_is_escaped() -> None:
    assert escape_md("feat/<script>*x*|y`z`\n# h") == "feat/\\<script\\>\\*x\\*\\|y\\`z\\` \\# h"
    evil = comparison(
        [100.0] * 6,
        [75.0] * 6,
        cand_ref="x](http://evil)<img>",
        gate=GateResult(
            command="make `rm` | tee",
            passed=False,
            returncode=1,
            reason="exit 1",
            log="```\n<script>alert(1)</script>",
        ),
    )
    md = comparison_markdown(evil)
    assert "<img>" not in md and "<script>" not in md.split("```text")[0]
    assert "make \\`rm\\` \\| tee" in md


def test_mermaid_chart_exact() -> None:
    assert mermaid_chart([(1, 80.0, 80.0), (2, None, 80.0), (3, 72.0, 72.0)], metric="score", unit="ms") == (
        "```mermaid\n"
        "xychart-beta\n"
        '    title "score per iteration: candidates (bars), best so far (line)"\n'
        "    x-axis [1, 2, 3]\n"
        '    y-axis "score (ms)"\n'
        "    bar [80, 80, 72]\n"
        "    line [80, 80, 72]\n"
        "```"
    )


def test_inconclusive_with_its_lean_and_the_processes_behind_it() -> None:
    """The terminal and the comment say which side an inconclusive verdict leans to, which mode measured
    and how many processes stood behind it."""
    base, cand = _leaning_slower()
    c = dataclasses.replace(
        comparison(base, cand),
        measurement=Measurement(
            mode="worker", processes=60, sides_per_process=1, blocks=3, warmup_blocks=1, calls_per_block=2
        ),
    )
    assert (c.verdict, c.lean) == ("inconclusive", "worse")
    assert comparison_text(c) == (
        "main (aaaaaaaa) → fast (bbbbbbbb)   30 rounds, ABBA, paired, interleaved\n"
        "measured: worker mode, 60 worker processes (one per side and round); per side, 3 measured "
        "blocks of 2 calls after 1 warm-up\n"
        "\n"
        "metric     baseline  candidate  Δ       95% CI           verdict\n"
        "─────────  ────────  ─────────  ──────  ───────────────  ──────────────────────────\n"
        "score *    100.1     101.7      +1.4%   +0.53% … +2.3%   inconclusive, likely worse\n"
        "memory     100 MB    100 MB     +0.00%  +0.00% … +0.00%  ok (guard, ≤5.0%)\n"
        "wall_time  500 ms    400 ms     −20.0%  −20.0% … −20.0%  (improved)\n"
        "\n"
        "gate: `pytest -q` passed\n"
        "verdict: INCONCLUSIVE — score likely worse: +1.4% (95% CI +0.53% … +2.3%, p=0.002, n=30), "
        "not beyond the 1.0% band\n"
    )
    lines = comparison_markdown(c).splitlines()
    assert lines[0] == (
        "### 🟡 autoresearch: **inconclusive**, likely worse — score +1.4% (95% CI +0.53% … +2.3%)"
    )
    row = "| **score** (objective) | 100.1 | 101.7 | +1.4% | +0.53% … +2.3% | inconclusive, likely worse |"
    assert row in lines
    assert (
        "- measured: worker mode, 60 worker processes (one per side and round); per side, 3 measured "
        "blocks of 2 calls after 1 warm-up"
    ) in lines


def test_process_mode_and_shared_workers_are_said_too() -> None:
    one = dataclasses.replace(IMPROVED, measurement=Measurement(mode="process", processes=12))
    assert comparison_text(one).splitlines()[1] == "measured: a process per run, 12 processes"
    both = dataclasses.replace(
        IMPROVED,
        measurement=Measurement(
            mode="worker", processes=6, sides_per_process=2, blocks=3, warmup_blocks=1, calls_per_block=None
        ),
    )
    assert comparison_text(both).splitlines()[1] == (
        "measured: worker mode, 6 worker processes (each running both sides); per side, 3 measured "
        "blocks after 1 warm-up"
    )
