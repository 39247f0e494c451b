"""status.py: the loop's chart, status and report, from evaluations (exact text)."""

from __future__ import annotations

import dataclasses

from ci_autoresearch.model import Change, Evaluation, GateResult
from ci_autoresearch.report.views import chart_markdown, report_markdown, status_json, status_text
from tests.factories import stub_comparison
from tests.unit.factories import comparison, evaluation


def _in_seconds(ev: Evaluation) -> Evaluation:
    c = ev.comparison
    metrics = {k: dataclasses.replace(m, unit="s") if k == "score" else m for k, m in c.metrics.items()}
    return dataclasses.replace(ev, comparison=dataclasses.replace(c, metrics=metrics))


def history() -> list[Evaluation]:
    """An invalid first candidate (nothing measured), a kept one, a regression."""
    gate = GateResult(command="pytest -q", passed=False, returncode=1, reason="`pytest -q` exited 1")
    invalid = evaluation(
        stub_comparison(verdict="invalid", reason="gate failed", gate=gate), decision="discarded"
    )
    base = [0.100, 0.101, 0.099, 0.100, 0.102, 0.100]
    kept = _in_seconds(evaluation(comparison(base, [0.080] * 6), decision="kept", iteration=2))
    worse = _in_seconds(evaluation(comparison([0.080] * 6, [0.085] * 6), decision="discarded", iteration=3))
    return [
        dataclasses.replace(invalid, key="k1"),
        dataclasses.replace(kept, key="k2", source="branch:autoresearch/fast"),
        dataclasses.replace(worse, key="k3", source="branch:autoresearch/slow"),
    ]


def test_chart_starts_from_the_first_measured_base_and_marks_invalid() -> None:
    assert chart_markdown(history(), None) == (
        "# score over iterations\n"
        "\n"
        "```mermaid\n"
        "xychart-beta\n"
        '    title "score per iteration: candidates (bars), best so far (line)"\n'
        '    x-axis ["start", "1 invalid", "2", "3"]\n'
        '    y-axis "score (ms)" 0 --> 110\n'
        "    bar [100, 0, 80, 85]\n"
        "    line [100, 100, 80, 80]\n"
        "```\n"
    )


def test_status_after_an_invalid_first_iteration_has_a_start_and_a_gain() -> None:
    doc = status_json(history(), None)
    assert doc["start_value"] == 0.1 and doc["best_value"] == 0.08
    assert round(doc["gain"], 9) == 0.2
    assert status_text(doc) == (
        "objective: score (minimize)\n"
        "iterations: 3, kept: 1, no-improvement streak: 1\n"
        "best: 80 ms at bbbbbbbb (20.0% better than the start); start: 100 ms\n"
        "time measuring: 0.1 min\n"
        "stop conditions: none met yet\n"
    )


def test_loop_report_is_a_table_linking_its_pull_requests() -> None:
    evs = history()
    changes = [
        Change(key="k2", branch="autoresearch/fast", action="opened", url="https://github.com/o/r/pull/12"),
        Change(key="k3", branch="autoresearch/slow", action="closed", url=None),
    ]
    assert report_markdown(
        evs, None, title="ci-autoresearch (schedule): no untried candidates left", changes=changes
    ) == (
        "### ci\\-autoresearch \\(schedule\\): no untried candidates left\n"
        "\n"
        "**score** (minimize): start 100 ms, best 80 ms (20.0% better) after 3 iterations, 1 kept. "
        "Stop conditions: none met yet.\n"
        "\n"
        "```mermaid\n"
        "xychart-beta\n"
        '    title "score per iteration: candidates (bars), best so far (line)"\n'
        '    x-axis ["start", "1 invalid", "2", "3"]\n'
        '    y-axis "score (ms)" 0 --> 110\n'
        "    bar [100, 0, 80, 85]\n"
        "    line [100, 100, 80, 80]\n"
        "```\n"
        "\n"
        "| # | candidate | verdict | Δ score | decision | pull request |\n"
        "| ---: | --- | --- | ---: | --- | --- |\n"
        "| 1 | fast | ⛔ invalid | – | discarded |  |\n"
        "| 2 | autoresearch/fast | 🟢 improved | −20.0% | kept | "
        "opened [#12](https://github.com/o/r/pull/12) |\n"
        "| 3 | autoresearch/slow | 🔴 regressed | +6.3% | discarded | closed autoresearch/slow |\n"
    )


def test_compare_measurements_are_not_iterations() -> None:
    evs = history()
    standalone = dataclasses.replace(
        evs[1], key="k0", source="compare:autoresearch/x", iteration=0, decision="pending"
    )
    assert status_json([standalone, *evs], None)["iterations"] == 3
