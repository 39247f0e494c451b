"""The Markdown a person reads: the PR comment and step summary, the trend line, a pull request's body.

Pure; untrusted text (branch names, metric names, command output) is escaped; tested against exact text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ci_autoresearch.decide.stats import median_of, summary
from ci_autoresearch.decide.verdict import pct
from ci_autoresearch.model import Comparison, Evaluation, Result
from ci_autoresearch.report.cells import (
    ci_cell,
    format_value,
    leaning,
    measured_on,
    measurement_text,
)

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


def _metric_table(c: Comparison) -> list[str]:
    """``metric | base | candidate | Δ | CI | verdict``, one row per metric (the objective in bold)."""
    level = round(c.confidence * 100)
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
                    format_value(median_of(m.baseline), escape_md(m.unit)),
                    format_value(median_of(m.candidate), escape_md(m.unit)),
                    pct(m.estimate.delta) if m.estimate else "–",
                    ci_cell(m),
                    leaning(m) if m.role != "guard" else m.verdict,
                ]
            )
        )
    return table


def comparison_markdown(c: Comparison, *, decision: str | None = None, extra: Sequence[str] = ()) -> str:
    """The report a person reads on a PR or in the step summary. Untrusted text is escaped.

    It leads with the verdict and its reason (said once), then who measured it and where, the
    decision, what failed (for ``invalid``, the failing command's last lines), the metric table, the
    notes, ``extra`` blocks (trend, history) and the samples in ``<details>``. Every paragraph is
    separated by a blank line, so nothing runs together when GitHub renders it.
    """
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
        blocks.append(_metric_table(c))
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
