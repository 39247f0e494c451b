"""Rendered reports, checked against exact text."""

from __future__ import annotations

import dataclasses
import random

from ci_autoresearch.model import BenchmarkFiles, GateResult, Measurement, MetricSamples, RefInfo, Result
from ci_autoresearch.report.cells import format_value
from ci_autoresearch.report.chart import (
    ChartPoint,
    display_scale,
    mermaid_chart,
    pr_history_markdown,
    xychart,
)
from ci_autoresearch.report.markdown import comparison_markdown, escape_md, pull_request_body, trend_markdown
from ci_autoresearch.report.text import comparison_text
from tests.factories import ENV, stub_comparison
from tests.unit.factories import comparison, evaluation

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
        "beyond the 1.0% minimum effect; measured with Python 3.11.7 on Test CPU (2 cores), "
        "Linux 6.1 x86_64, "
        "runner local\n"
    )


def test_markdown_comment_exact() -> None:
    md = comparison_markdown(IMPROVED, decision=f"kept — kept: {IMPROVED.reason}")
    assert md == (
        "### 🟢 autoresearch: **improved** — score −25\\.0% \\(95% CI −25\\.0% … −25\\.0%, "
        "p=0\\.031, n=6\\): "
        "beyond the 1\\.0% minimum effect\n"
        "\n"
        "<sub>measured with Python 3\\.11\\.7 on Test CPU \\(2 cores\\), Linux 6\\.1 x86\\_64, runner local, "
        "2026-11-26T10:01:00Z</sub>\n"
        "\n"
        "**Decision:** kept\n"
        "\n"
        "| metric | base aaaaaaaa | candidate bbbbbbbb | Δ | 95% CI | verdict |\n"
        "| --- | ---: | ---: | ---: | --- | --- |\n"
        "| **score** (objective) | 100 | 75 | −25.0% | −25.0% … −25.0% | improved |\n"
        "| memory (guard, ≤5.0%) | 100 MB | 100 MB | +0.00% | +0.00% … +0.00% | ok |\n"
        "| wall\\_time | 500 ms | 400 ms | −20.0% | −20.0% … −20.0% | improved |\n"
        "\n"
        "**Gate:** `pytest -q` passed (1.5 s)\n"
        "\n"
        "<details><summary>Samples, rounds and environment</summary>\n"
        "\n"
        "- 6 rounds, order abba, paired, seed 0, min effect 1.0%, confidence 95%\n"
        "- runner: local, Test CPU, 2 cores, Linux 6\\.1, Python 3\\.11\\.7\n"
        "- config cafe0123cafe0123, measured 2026-11-26T10:00:00Z → 2026-11-26T10:01:00Z\n"
        "- score samples (no unit): base [100, 100, 100, 100, 100, 100], candidate [75, 75, 75, 75, 75, 75]\n"
        "- memory samples (MB): base [100, 100, 100, 100, 100, 100], "
        "candidate [100, 100, 100, 100, 100, 100]\n"
        "- wall\\_time samples (s): base [0.5, 0.5, 0.5, 0.5, 0.5, 0.5], "
        "candidate [0.4, 0.4, 0.4, 0.4, 0.4, 0.4]\n"
        "\n"
        "</details>\n"
    )
    # the reason is said once, in the headline
    assert md.count("beyond the 1\\.0% minimum effect") == 1
    # every paragraph stands on its own: no two text lines run together outside tables, lists, code
    paragraphs = md.split("\n\n")
    for block in paragraphs:
        lines = block.splitlines()
        if len(lines) > 1:
            assert all(line.startswith(("|", "- ", "```", "<")) for line in lines) or lines[0].startswith(
                "```"
            )


def test_decision_keeps_what_the_reason_does_not_say() -> None:
    c = comparison([100.0] * 6, [75.0] * 6)
    md = comparison_markdown(
        c, decision="discarded — improved, but autoresearch/b improved more in the same round"
    )
    assert "**Decision:** discarded — improved, but autoresearch/b improved more in the same round" in md
    md = comparison_markdown(c, decision="pending — improved: awaiting review and merge")
    assert "**Decision:** pending — improved: awaiting review and merge" in md


def test_invalid_shows_the_gates_last_lines_outside_details() -> None:
    gate = GateResult(
        command="python -m pytest -q",
        passed=False,
        returncode=1,
        seconds=2.0,
        reason="`python -m pytest -q` exited 1",
        log="FAILED tests/test_sort.py::test_sorted\n1 failed, 4 passed in 0.12s",
    )
    c = stub_comparison(verdict="invalid", reason="gate failed: `python -m pytest -q` exited 1", gate=gate)
    md = comparison_markdown(c, decision="discarded — invalid: gate failed: `python -m pytest -q` exited 1")
    before_details = md.split("<details>")[0]
    assert before_details.endswith(
        "**Decision:** discarded — invalid\n"
        "\n"
        "**Gate:** `python -m pytest -q` **failed** (exit 1, 2.0 s), its last lines:\n"
        "\n"
        "```text\n"
        "FAILED tests/test_sort.py::test_sorted\n"
        "1 failed, 4 passed in 0.12s\n"
        "```\n"
        "\n"
    )
    assert md.count("gate failed") == 1


def test_invalid_shows_the_commands_last_lines_outside_details() -> None:
    c = stub_comparison(
        verdict="invalid",
        reason="candidate fast: the benchmark failed (exit 1): ValueError: boom; logs in /x",
        failure_output='Traceback (most recent call last):\n  File "bench.py", line 3\nValueError: boom',
    )
    md = comparison_markdown(c)
    assert (
        "**Output** (last lines):\n\n```text\nTraceback (most recent call last):\n"
        in md.split("<details>")[0]
    )
    text = comparison_text(c)
    assert "output (last lines):\n  Traceback (most recent call last):\n" in text


def test_protected_files_are_named() -> None:
    gate = GateResult(
        command=None, passed=False, protected_paths_touched=("bench.py", "tests/a.py"), reason="x"
    )
    c = stub_comparison(
        verdict="invalid", reason="candidate changes protected file bench.py (+1 more)", gate=gate
    )
    assert (
        "**Protected files changed:** `bench.py`, `tests/a.py` (`gate.protected_paths`)"
        in comparison_markdown(c)
    )


def test_measured_by_and_benchmark_source_are_shown() -> None:
    c = stub_comparison(
        measured_by="compare",
        benchmark=BenchmarkFiles(source="candidate", sha="c" * 40, patterns=("bench.py",)),
    )
    md = comparison_markdown(c)
    assert "<sub>measured by compare with Python 3\\.11\\.7 on Test CPU" in md
    assert "**Benchmark:** bench\\.py from candidate on both sides (tree cccccccc)" in md


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
    assert "**Gate:** `make 'rm' | tee` **failed** (exit 1, 0.0 s), its last lines:" in md
    assert "```text\n` ` `\n<script>alert(1)</script>\n```" in md  # literal inside the code block


def test_mermaid_chart_exact() -> None:
    chart = mermaid_chart([(1, 0.080, 0.080), (2, None, 0.080), (3, 0.072, 0.072)], metric="score", unit="s")
    assert chart == (
        "```mermaid\n"
        "xychart-beta\n"
        '    title "score: candidates (bars), best so far (line)"\n'
        '    x-axis ["1", "2 invalid", "3"]\n'
        '    y-axis "score (ms)" 0 --> 88\n'
        "    bar [80, 0, 72]\n"
        "    line [80, 80, 72]\n"
        "```"
    )


def test_chart_scale_and_axis() -> None:
    assert display_scale([0.0004, 0.0009], "s") == (1e-6, "µs")
    assert display_scale([1.5, 0.9], "s") == (1.0, "s")
    assert display_scale([3 * 1024**2], "bytes") == (1024.0**2, "MiB")
    assert display_scale([12.0], "ops/s") == (1.0, "ops/s")
    assert display_scale([], "s") == (1e-9, "ns")
    points = [
        ChartPoint(label="start", bar=1200.0, line=1200.0),
        ChartPoint(label="1", bar=1350.0, line=1350.0),
    ]
    chart = xychart(points, metric="throughput", unit="ops/s", title="t")
    assert '    y-axis "throughput (ops/s)" 0 --> 1500\n' in chart  # from 0: heights compare


def test_pr_history_chart_says_what_its_line_is() -> None:
    first = evaluation(comparison([100.0] * 6, [90.0] * 6), decision="discarded", iteration=1)
    gate = GateResult(command="t", passed=False, reason="t failed")
    second = evaluation(stub_comparison(verdict="invalid", gate=gate), decision="discarded", iteration=2)
    third = evaluation(comparison([100.0] * 6, [75.0] * 6), decision="pending", iteration=3)
    assert pr_history_markdown([first, second, third]) == (
        "**History of this PR** (bars: candidate, line: its baseline)\n"
        "\n"
        "```mermaid\n"
        "xychart-beta\n"
        '    title "score per evaluation: candidate (bars), its baseline (line)"\n'
        '    x-axis ["1", "2 invalid", "3"]\n'
        '    y-axis "score" 0 --> 110\n'
        "    bar [90, 0, 75]\n"
        "    line [100, 100, 100]\n"
        "```"
    )


def test_trend_names_the_side_without_samples() -> None:
    stored = Result(
        ref=RefInfo(ref="main", sha="a" * 40),
        dirty=False,
        config_hash="h",
        environment=ENV,
        metrics={"score": MetricSamples(name="score", unit="", direction="minimize", samples=(100.0, 102.0))},
        runs=2,
        warmup_runs=0,
        started_at="t",
        finished_at="t",
    )
    note = "stored baseline of main @ aaaaaaaa"
    assert trend_markdown(IMPROVED, stored, note) == (
        "**Trend:** stored baseline of main @ aaaaaaaa: score 101 then, 100 for the same base in this job: "
        "runner drift −0.99%."
    )
    invalid = stub_comparison(verdict="invalid", reason="gate failed")
    assert trend_markdown(invalid, stored, note) == (
        "**Trend:** stored baseline of main @ aaaaaaaa: score 101 then; this job has no score samples of the "
        "base (nothing was measured, verdict invalid), so no drift to show."
    )
    empty = dataclasses.replace(stored, metrics={})
    assert trend_markdown(IMPROVED, empty, note) == (
        "**Trend:** the stored baseline (stored baseline of main @ aaaaaaaa) has no score samples."
    )
    assert trend_markdown(IMPROVED, None, "no artifact yet") == (
        "**Trend:** no stored baseline to compare with (no artifact yet); measured in this job only."
    )


def test_pull_request_body_says_what_it_is() -> None:
    ev = evaluation(comparison([100.0] * 6, [75.0] * 6), decision="kept", source="branch:autoresearch/a")
    assert pull_request_body(ev, base="main", candidate="autoresearch/a") == (
        "ci-autoresearch measured `autoresearch/a` against `main` and found it **improved**: score −25.0% "
        "(95% CI −25.0% … −25.0%).\n"
        "\n"
        "This pull request proposes that change. Review it like any other; merging it makes it the new "
        "baseline of `main`, closing it discards it. The measurement stays recorded in "
        "`refs/notes/autoresearch`.\n"
        "\n"
        "- Candidate: `autoresearch/a` @ bbbbbbbb (branch:autoresearch/a)\n"
        "- Baseline: `main` @ aaaaaaaa\n"
        "- Measured: 6 rounds, paired and interleaved, measured with Python 3\\.11\\.7 on Test CPU "
        "\\(2 cores\\), "
        "Linux 6\\.1 x86\\_64, runner local, 2026-11-26T10:01:00Z\n"
        "- Gate: `pytest -q` passed\n"
        f"- Evaluation key: `{ev.key}`\n"
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
        "not beyond the 1.0% band; measured with Python 3.11.7 on Test CPU (2 cores), Linux 6.1 x86_64, "
        "runner local\n"
    )
    lines = comparison_markdown(c).splitlines()
    assert lines[0] == (
        "### 🟡 autoresearch: **inconclusive** — score likely worse: \\+1\\.4% "
        "\\(95% CI \\+0\\.53% … \\+2\\.3%, p=0\\.002, n=30\\), not beyond the 1\\.0% band"
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
    one_call = dataclasses.replace(
        both, measurement=dataclasses.replace(both.measurement, sides_per_process=1, calls_per_block=1)
    )
    assert comparison_text(one_call).splitlines()[1] == (
        "measured: worker mode, 6 worker processes (one per side and round); per side, 3 measured "
        "blocks of 1 call after 1 warm-up"
    )
    one_block = dataclasses.replace(one_call, measurement=dataclasses.replace(one_call.measurement, blocks=1))
    assert comparison_text(one_block).splitlines()[1] == (
        "measured: worker mode, 6 worker processes (one per side and round); per side, 1 measured "
        "block of 1 call after 1 warm-up"
    )
