"""``publish`` of a planned run (``needs:`` plan and the evaluate matrix): decide across its bundles.

The plan job's output says what was planned; each bundle is checked against its slot. The loop's
candidates measured against the same base are decided by the one keep/discard module (one round with
``branching.strategy: parallel``), labelled pull requests on their own; the notes are recorded and pushed
first, then GitHub is told: comments, labels, statuses, pull requests opened for wins (a generated
candidate's branch pushed first) and closed for definitive losses, and kept candidates of earlier runs
whose pull request is missing get it now.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from ci_autoresearch import candidates as propose
from ci_autoresearch import git
from ci_autoresearch.actions import runtime as gha
from ci_autoresearch.actions.bundles import Accepted, accept
from ci_autoresearch.actions.context import load_history
from ci_autoresearch.actions.plan import Plan, Slot, loop_evaluations, plan_from_text
from ci_autoresearch.actions.publish import (
    PUBLISH_FILE,
    Context,
    Outcome,
    post,
    publish_config,
    pull_markdown,
    push_notes,
    record,
)
from ci_autoresearch.artifacts import evaluation_to_json, write_json
from ci_autoresearch.config.model import Config
from ci_autoresearch.decide import keep
from ci_autoresearch.decide.verdict import pct
from ci_autoresearch.errors import BadInputError, GitError
from ci_autoresearch.forge import FoundBundle
from ci_autoresearch.history import notes as history
from ci_autoresearch.model import Evaluation
from ci_autoresearch.report.markdown import escape_md, evaluation_markdown, pull_request_body


def publish_plan(ctx: Context, plan: Plan, docs: Sequence[FoundBundle]) -> Outcome:
    """Decide across the bundles of one planned run, record, then open / close / label on GitHub."""
    config = publish_config(ctx, plan.base_sha)
    if config.hash != plan.config_hash:
        raise BadInputError(
            f"the plan was made with configuration {plan.config_hash}, the base's is {config.hash}; "
            "publish the plan of this run"
        )
    accepted, refused = accept(ctx.repo, docs, plan=plan, config=config, say=ctx.say, env=ctx.env)
    hist = load_history(ctx)
    by_key = {a.evaluation.key: a for a in accepted}
    pulls = [keep.decide_pull(a.evaluation) for a in accepted if a.slot.kind == "pr"]
    round_no = max((ev.round for ev in hist.evaluations), default=0) + 1
    batch = [dataclasses.replace(a.evaluation, round=round_no) for a in accepted if a.slot.kind != "pr"]
    # the same bundles always give the same decisions: what a killed run recorded is what it decided
    decided = record(ctx, hist, [*pulls, *decide_round(batch, config)])
    push_notes(ctx)
    lines: list[str] = []
    for ev in decided:
        item = by_key[ev.key]
        lines.append(_effects(ctx, config, plan, item, ev, hist=hist))
    lines += _reconcile(ctx, config, plan, history.load(ctx.repo), done={ev.key for ev in decided})
    measured_slots = {a.slot.id for a in accepted}
    missing = [s for s in plan.slots if s.id not in measured_slots]
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    path = write_json(
        ctx.out_dir / PUBLISH_FILE,
        {"evaluations": [evaluation_to_json(ev) for ev in decided], "refused": refused},
    )
    md = plan_markdown(plan, decided, lines, refused=refused, missing=missing)
    kept = [ev for ev in decided if ev.decision == "kept"]
    return Outcome(
        outputs={
            "verdict": "improved" if kept else ("none" if not decided else "no-keep"),
            "delta": "",
            "improved": "true" if kept else "false",
            "report": md,
            "result-path": str(path),
        },
        summary=md,
    )


def decide_round(batch: Sequence[Evaluation], config: Config) -> list[Evaluation]:
    """A scheduled run's candidates were all measured against the same base: with ``branching.strategy:
    parallel`` they are one round (only the best significant winner is kept); sequentially each is a
    round of its own (every significant improvement is kept and gets its pull request)."""
    direction = config.objective.direction
    if config.branching.strategy == "parallel":
        return keep.decide_batch(batch, direction=direction)
    return [keep.decide_batch([ev], direction=direction)[0] for ev in batch]


def _effects(
    ctx: Context, config: Config, plan: Plan, item: Accepted, ev: Evaluation, *, hist: history.History
) -> str:
    """GitHub's side of one decided evaluation; the line the summary shows for it."""
    slot = item.slot
    if slot.kind == "pr" and slot.pull is not None:
        state = ctx.forge.pull_state(slot.pull)
        if state is None or state.head_sha != slot.head:
            return f"#{slot.pull}: its head moved since the plan; not posted"
        md = pull_markdown(ctx, config, ev, hist, pull=state, measured_elsewhere=True)
        post(ctx, config, ev, md, pull=slot.pull, branch=slot.branch)
        return f"#{slot.pull}: {ev.decision}"
    branch = item.branch or slot.branch
    if ev.decision == "kept" and branch:
        opened = _open(ctx, config, plan, branch, ev)
        return f"{escape_md(branch)}: kept ({_delta(ev)}); {opened}"
    if branch:
        closed = post(ctx, config, ev, evaluation_markdown(ev), pull=None, branch=branch)
        return f"{escape_md(branch)}: {ev.decision}" + (" (its pull request closed)" if closed else "")
    return f"{escape_md(branch or slot.name)}: {ev.decision}"


def _open(ctx: Context, config: Config, plan: Plan, branch: str, ev: Evaluation) -> str:
    """Push the branch of a generated candidate, then open its pull request (unless one exists)."""
    c = ev.comparison
    if not config.github.open_prs:
        return "no pull request (github.open_prs is off)"
    if ev.source.startswith(("search:", "propose:")):
        _push_generated(ctx, config, plan, branch, ev)
    title = f"autoresearch: {c.objective} {_delta(ev)} ({branch})"
    url = ctx.forge.open_change(
        branch=branch,
        base=plan.base_ref,
        title=title,
        body=pull_request_body(ev, base=plan.base_ref, candidate=branch),
        report=evaluation_markdown(ev),
    )
    if config.github.auto_merge and not url.startswith("(dry run)"):
        number = next((p.number for p in ctx.forge.pulls_of_branch(branch) if p.state == "open"), None)
        if number is not None and ctx.forge.merge(number, title=title):
            return f"[merged]({url})"
    return f"[pull request]({url})"


def _push_generated(ctx: Context, config: Config, plan: Plan, branch: str, ev: Evaluation) -> None:
    """The branch of a generated candidate, pushed by publish: a search point is made again here from
    the base and the trusted configuration (deterministic: the same sha, or nothing is pushed); a
    proposal's commit came in through its verified git bundle."""
    sha = ev.comparison.candidate.sha
    if ev.source.startswith("search:") and config.search_space is not None:
        remade = [
            c.sha
            for c in propose.search_candidates(ctx.repo, config.search_space, plan.base_sha, env=ctx.env)
        ]
        if sha not in remade:
            ctx.say(
                gha.annotation("warning", f"{branch}: the search point does not come out as {sha[:12]} here")
            )
            return
    if git.try_resolve(ctx.repo, sha) is None:
        ctx.say(gha.annotation("warning", f"{branch}: commit {sha[:12]} is not here; not pushed"))
        return
    try:
        git.push(ctx.repo, ctx.remote, f"{sha}:refs/heads/{branch}")
    except GitError as err:
        ctx.say(gha.annotation("warning", f"could not push {branch}: {err.message}"))


def _reconcile(
    ctx: Context, config: Config, plan: Plan, hist: history.History, *, done: set[str]
) -> list[str]:
    """Kept candidates of earlier runs whose pull request was never opened (a run killed between the
    notes push and the PR): opened now. A PR that exists in any state -- closed by a person -- is left."""
    if not config.github.open_prs:
        return []
    lines = []
    for ev in loop_evaluations(hist):
        if ev.decision != "kept" or ev.key in done or ev.comparison.baseline.sha != plan.base_sha:
            continue
        branch = _branch_of(ev)
        if branch is None or ctx.forge.pulls_of_branch(branch):
            continue
        lines.append(
            f"{escape_md(branch)}: kept earlier, its pull request was missing; "
            + _open(ctx, config, plan, branch, ev)
        )
    return lines


def _delta(ev: Evaluation, missing: str = "") -> str:
    """The objective's change, as reports show it."""
    obj = ev.comparison.objective_metric
    return pct(obj.estimate.delta) if obj and obj.estimate else missing


def _branch_of(ev: Evaluation) -> str | None:
    if ev.source.startswith(("branch:", "propose:")):
        return ev.source.split(":", 1)[1] or None
    ref = ev.comparison.candidate.ref
    return ref if ev.source.startswith("search:") and ref and not ref.startswith("search:") else None


def plan_markdown(
    plan: Plan,
    decided: Sequence[Evaluation],
    lines: Sequence[str],
    *,
    refused: Sequence[str],
    missing: Sequence[Slot],
) -> str:
    parts = [
        f"### ci-autoresearch: {len(decided)} candidate(s) decided against {escape_md(plan.base_ref)} "
        f"@ {plan.base_sha[:8]}",
        "",
    ]
    if decided:
        parts += ["| candidate | verdict | Δ | decision |", "| --- | --- | ---: | --- |"]
        for ev in decided:
            parts.append(
                f"| {escape_md(ev.comparison.candidate.ref)} | {ev.comparison.verdict} | {_delta(ev, '–')} "
                f"| {ev.decision} |"
            )
        parts.append("")
    parts += [f"- {line}" for line in lines]
    parts += [
        f"- not evaluated: {escape_md(s.name)} (no bundle: its evaluate job failed or was cancelled)"
        for s in missing
    ]
    parts += [f"- refused: {escape_md(r)}" for r in refused]
    if plan.stop:
        parts.append(f"- converged: {escape_md(plan.stop)}")
    return "\n".join(parts).rstrip() + "\n"


def plan_from_argument(value: str) -> Plan:
    """``--plan``: the plan job's ``plan`` output (JSON text) or a file holding it."""
    text = value
    if not value.lstrip().startswith("{"):
        path = Path(value)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise BadInputError(f"{value}: the plan cannot be read ({err.strerror or err})") from None
    return plan_from_text(text, source="--plan")
