"""``publish`` on ``workflow_run``: post what a ``pull_request`` run (a fork's included) evaluated.

Routing comes from the trusted side only: the ``workflow_run`` event names the run, the API names the
open pull request whose head is still the run's commit, and the base commit's configuration says whether
it is a candidate. The run's bundles are checked against the one slot that pull request makes; when the
run left none, an evaluation the notes already hold for that head is posted again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ci_autoresearch.actions import runtime as gha
from ci_autoresearch.actions.bundles import accept
from ci_autoresearch.actions.context import annotate_verdict, load_history, outputs_of
from ci_autoresearch.actions.event import WorkflowRunInfo, workflow_run_info
from ci_autoresearch.actions.plan import Plan, pull_slot
from ci_autoresearch.actions.publish import (
    NOTHING,
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
from ci_autoresearch.forge import PullState
from ci_autoresearch.history import notes as history
from ci_autoresearch.model import Evaluation


def publish_run(ctx: Context, event: Mapping[str, Any], *, source: str) -> Outcome:
    """Post what the ``pull_request`` run named by a ``workflow_run`` event evaluated."""
    run = workflow_run_info(event, source=source)
    routed = _route(ctx, run)
    if routed is None:
        return NOTHING
    pull, config = routed
    found = _evaluation(ctx, run, pull, config)
    if found is None:
        return NOTHING
    ev, hist = found
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    path = write_json(ctx.out_dir / PUBLISH_FILE, evaluation_to_json(ev))
    push_notes(ctx)
    md = pull_markdown(ctx, config, ev, hist, pull=pull, measured_elsewhere=True)
    post(ctx, config, ev, md, pull=pull.number, branch=pull.head_ref)
    annotate_verdict(ctx.say, ev.comparison)
    return Outcome(outputs=outputs_of(ev, md, path), summary=md)


def _route(ctx: Context, run: WorkflowRunInfo) -> tuple[PullState, Config] | None:
    """The pull request the run was for, as the API reports it now, and its base's configuration; None
    (and the reason, said) when there is nothing to post."""
    if run.event != "pull_request":
        ctx.say(
            gha.annotation(
                "notice", f"workflow_run {run.id} ran for {run.event!r}: only pull_request runs are published"
            )
        )
        return None
    pull = ctx.forge.pull_for_run(run)
    if pull is None:
        ctx.say(
            gha.annotation(
                "notice",
                f"workflow_run {run.id}: no open pull request has head {run.head_sha[:12]} "
                f"({run.head_repo_full_name or 'deleted repository'}:{run.head_branch}); nothing posted",
            )
        )
        return None
    config = publish_config(ctx, pull.base_sha)
    label = config.github.labels.candidate
    if label not in pull.labels:
        removed = ctx.forge.remove_verdict_labels(pull.number)
        ctx.say(
            gha.annotation(
                "notice",
                f"#{pull.number} has no {label!r} label: not a candidate"
                + (f"; removed {', '.join(removed)}" if removed else ""),
            )
        )
        return None
    return pull, config


def _evaluation(
    ctx: Context, run: WorkflowRunInfo, pull: PullState, config: Config
) -> tuple[Evaluation, history.History] | None:
    """The run's bundle for the pull request, checked and decided (and recorded), or what the notes
    already hold for its head, with the notes; None (and why, said) when there is neither."""
    slot = pull_slot(pull.number, head_ref=pull.head_ref, head_sha=pull.head_sha)
    plan = Plan(
        event="pull_request",
        base_ref=pull.base_ref,
        base_sha=pull.base_sha,
        config_hash=config.hash,
        slots=(slot,),
    )
    fetched = ctx.forge.fetch_run_bundles(run.id)
    docs, problems = fetched if fetched is not None else ([], [f"run {run.id} was not found (deleted?)"])
    for problem in problems:
        ctx.say(gha.annotation("warning", f"workflow_run {run.id}: {problem}"))
    accepted, _ = accept(ctx.repo, docs, plan=plan, config=config, say=ctx.say, env=ctx.env)
    hist = load_history(ctx)
    known = hist.find_pair(pull.head_sha, pull.base_sha, config.hash)
    if accepted:
        [ev] = record(ctx, hist, [keep.decide_pull(accepted[0].evaluation)])
        return ev, hist
    if known is not None:
        ctx.say(
            f"#{pull.number} @ {pull.head_sha[:8]} was evaluated before ({known.comparison.verdict}); "
            "posting it again"
        )
        return known, hist
    why = problems[0] if problems else f"run {run.id} uploaded no evaluation bundle for #{pull.number}"
    ctx.say(
        gha.annotation(
            "notice", f"workflow_run {run.id} ({run.conclusion or run.status}): {why}; nothing posted"
        )
    )
    return None
