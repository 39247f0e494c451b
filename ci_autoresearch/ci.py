"""``ci-autoresearch ci``: one entry point for every GitHub Actions event.

- ``push`` to the base branch: measure its head, write the baseline result (uploaded as the artifact).
- ``pull_request`` (opened / synchronize / reopened / labeled) with the candidate label: evaluate head
  against base in this job, record the evaluation note, publish the sticky comment, labels and status.
- ``schedule`` / ``workflow_dispatch``: run the loop over candidate branches; open a PR for each kept
  one, close discarded candidate PRs when configured.
- ``workflow_run``: post the evaluation that an unprivileged job (a fork's PR) uploaded, treating it as
  untrusted input.
Results are written to disk before any API call, so a GitHub failure loses nothing.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci_autoresearch import gha, git, history
from ci_autoresearch.artifacts import evaluation_to_json, result_to_json, write_json
from ci_autoresearch.config_model import Config
from ci_autoresearch.decide import pct
from ci_autoresearch.environment import detect_environment
from ci_autoresearch.errors import AutoresearchError
from ci_autoresearch.forge import Forge, Publication
from ci_autoresearch.measure import ProgressFn, compare_refs, measure_ref
from ci_autoresearch.model import Candidate, Evaluation, Result
from ci_autoresearch.report import comparison_markdown, escape_md, format_value, mermaid_chart, result_text
from ci_autoresearch.stats import summary

PR_ACTIONS = ("opened", "synchronize", "reopened", "labeled")
EVALUATION_FILE = "evaluation.json"
BASELINE_FILE = "baseline.json"


@dataclass(frozen=True, kw_only=True)
class CiContext:
    repo: Path
    config: Config
    env: Mapping[str, str]
    forge: Any  # Forge plus fetch_baseline (GithubForge) — optional capabilities are probed
    out_dir: Path
    say: Callable[[str], None]
    progress: ProgressFn


@dataclass(frozen=True, kw_only=True)
class CiOutcome:
    outputs: dict[str, str]
    summary: str = ""


def apply_action_inputs(config: Config, env: Mapping[str, str]) -> Config:
    """The action's ``candidate-label`` and ``baseline-artifact`` inputs override the config file."""
    gh = config.github
    label = env.get("AUTORESEARCH_CANDIDATE_LABEL", "").strip()
    artifact = env.get("AUTORESEARCH_BASELINE_ARTIFACT", "").strip()
    if label:
        gh = dataclasses.replace(gh, labels=dataclasses.replace(gh.labels, candidate=label))
    if artifact:
        gh = dataclasses.replace(gh, baseline_artifact=artifact)
    return dataclasses.replace(config, github=gh)


def run_ci(ctx: CiContext) -> CiOutcome:
    name, event = gha.load_event(ctx.env)
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    if name == "push":
        outcome = _on_push(ctx, event)
    elif name in ("pull_request", "pull_request_target"):
        outcome = _on_pull_request(ctx, event)
    elif name in ("schedule", "workflow_dispatch"):
        outcome = _on_schedule(ctx)
    elif name == "workflow_run":
        outcome = _on_workflow_run(ctx, event)
    else:
        ctx.say(gha.annotation("notice", f"event {name!r} has nothing for ci-autoresearch to do"))
        outcome = CiOutcome(outputs={"verdict": "", "delta": "", "improved": "false", "report": ""})
    gha.write_outputs(ctx.env, outcome.outputs)
    if outcome.summary:
        gha.append_summary(ctx.env, outcome.summary)
    return outcome


def _event_file(ctx: CiContext) -> str:
    return ctx.env.get("GITHUB_EVENT_PATH", "event payload")


def _base_branch(ctx: CiContext, event: Mapping[str, Any]) -> str:
    configured = ctx.config.github.base_branch
    if configured:
        return configured
    repo = event.get("repository") or {}
    return str(repo.get("default_branch") or "main")


# --- push: the baseline ------------------------------------------------------------------------------


def _on_push(ctx: CiContext, event: Mapping[str, Any]) -> CiOutcome:
    push = gha.push_info(event, source=_event_file(ctx))
    base = _base_branch(ctx, event)
    if push.branch != base:
        ctx.say(
            gha.annotation("notice", f"push to {push.ref}: only pushes to {base} are measured (the baseline)")
        )
        return CiOutcome(outputs={"verdict": "", "delta": "", "improved": "false", "report": ""})
    with gha.group(f"measure the baseline {base} @ {push.after[:8]}", env=ctx.env, say=ctx.say):
        result = measure_ref(
            ctx.repo, ctx.config, push.after, env=ctx.env, log_dir=ctx.out_dir / "logs", progress=ctx.progress
        )
    path = write_json(ctx.out_dir / BASELINE_FILE, result_to_json(result))
    text = result_text(result)
    md = f"### ci-autoresearch: baseline of {escape_md(base)} @ {push.after[:8]}\n\n```text\n{text}```\n"
    return CiOutcome(
        outputs={
            "verdict": "baseline",
            "delta": "",
            "improved": "false",
            "report": md,
            "result-path": str(path),
            "baseline-path": str(path),
        },
        summary=md,
    )


# --- pull_request: one candidate ---------------------------------------------------------------------


def _on_pull_request(ctx: CiContext, event: Mapping[str, Any]) -> CiOutcome:
    action = str(event.get("action", ""))
    pr = gha.pull_request_info(event, source=_event_file(ctx))
    label = ctx.config.github.labels.candidate
    none = CiOutcome(outputs={"verdict": "", "delta": "", "improved": "false", "report": ""})
    if action not in PR_ACTIONS:
        ctx.say(gha.annotation("notice", f"pull_request {action!r}: nothing to do"))
        return none
    if label not in pr.labels:
        ctx.say(
            gha.annotation(
                "notice", f"PR #{pr.number} has no {label!r} label: not a candidate, nothing measured"
            )
        )
        return none
    if action == "labeled" and str((event.get("label") or {}).get("name", "")) != label:
        ctx.say(
            gha.annotation("notice", f"PR #{pr.number}: another label was added; already evaluated on push")
        )
        return none
    remote = ctx.config.checkpoint.remote or "origin"
    _fetch_notes_quietly(ctx, remote)
    hist = history.load(ctx.repo)
    key = history.evaluation_key(pr.head_sha, pr.base_sha, ctx.config.hash)
    known = hist.find(key)
    cand = Candidate(source=f"pr:{pr.number}", branch=pr.head_ref, sha=pr.head_sha)
    baseline, baseline_note = _fetch_baseline(ctx, pr.base_ref, pr.base_sha)
    if known is not None:
        ctx.say(
            f"PR #{pr.number} @ {pr.head_sha[:8]} was evaluated before ({known.comparison.verdict}); "
            "publishing that evaluation again, not measuring twice"
        )
        ev = known
    else:
        t0 = time.monotonic()
        with gha.group(
            f"measure PR #{pr.number}: {pr.base_ref} @ {pr.base_sha[:8]} "
            f"vs {pr.head_ref} @ {pr.head_sha[:8]}",
            env=ctx.env,
            say=ctx.say,
        ):
            stored, fallback = _stored_baseline(ctx, baseline, baseline_note)
            if fallback:
                ctx.say(gha.annotation("notice", fallback))
            comparison = compare_refs(
                ctx.repo,
                ctx.config,
                pr.base_sha,
                pr.head_sha,
                env=ctx.env,
                log_dir=ctx.out_dir / "logs",
                progress=ctx.progress,
                labels=(pr.base_ref, pr.head_ref),
                stored=stored,
            )
            if fallback:
                comparison = dataclasses.replace(comparison, notes=(*comparison.notes, fallback))
        improved = comparison.verdict == "improved"
        obj = comparison.objective_metric
        ev = Evaluation(
            comparison=comparison,
            decision="pending" if improved else "discarded",
            decision_reason=(
                "improved: awaiting review and merge"
                if improved
                else f"{comparison.verdict}: {comparison.reason}"
            ),
            iteration=hist.next_iteration(),
            key=key,
            source=cand.source,
            candidate_head=pr.head_sha,
            objective_value=summary(obj.candidate)["median"] if obj and obj.candidate else None,
            measured_seconds=time.monotonic() - t0,
        )
        history.record(ctx.repo, ev)
    write_json(ctx.out_dir / EVALUATION_FILE, evaluation_to_json(ev))
    _push_notes_quietly(ctx, remote)
    md = _pr_markdown(ctx, ev, hist, baseline=baseline, baseline_note=baseline_note, number=pr.number)
    if pr.is_fork:
        ctx.say(
            gha.annotation(
                "notice",
                "PR from a fork: this job has no write access; the evaluation is "
                "uploaded for the workflow_run job to post",
            )
        )
    else:
        ctx.forge.publish(Publication(evaluation=ev, markdown=md, pull=pr.number, branch=pr.head_ref))
        if ev.decision == "discarded" and ctx.config.github.close_discarded:
            ctx.forge.close_change(branch=pr.head_ref, reason=ev.decision_reason)
    _annotate(ctx, ev)
    return CiOutcome(outputs=_outputs(ev, md, ctx.out_dir / EVALUATION_FILE), summary=md)


def _pr_markdown(
    ctx: CiContext,
    ev: Evaluation,
    hist: history.History,
    *,
    baseline: Result | None,
    baseline_note: str,
    number: int,
) -> str:
    extra = [_trend(ev, baseline, baseline_note)]
    past = [e for e in hist.latest() if e.source == f"pr:{number}" and e.key != ev.key] + [ev]
    if len(past) > 1:
        series = []
        for i, e in enumerate(past, 1):
            obj = e.comparison.objective_metric
            cand = summary(obj.candidate)["median"] if obj and obj.candidate else None
            base = summary(obj.baseline)["median"] if obj and obj.baseline else None
            series.append((i, cand, base))
        unit = ev.comparison.objective_metric.unit if ev.comparison.objective_metric else ""
        extra.append(
            "**History of this PR** (bars: candidate, line: its baseline)\n\n"
            + mermaid_chart(series, metric=ev.comparison.objective, unit=unit)
        )
    return comparison_markdown(ev.comparison, decision=f"{ev.decision} — {ev.decision_reason}", extra=extra)


def _trend(ev: Evaluation, baseline: Result | None, note: str) -> str:
    """Drift of today's runner against the stored baseline artifact of the base branch."""
    c = ev.comparison
    obj = c.objective_metric
    if baseline is None:
        return (
            f"**Trend:** no stored baseline to compare with ({escape_md(note)}); measured in this job only."
        )
    stored = baseline.metrics.get(c.objective)
    if stored is None or not stored.samples or obj is None or not obj.baseline:
        return f"**Trend:** the stored baseline has no {escape_md(c.objective)} samples ({escape_md(note)})."
    then = summary(stored.samples)["median"]
    now = summary(obj.baseline)["median"]
    drift = now / then - 1 if then else 0.0
    same = baseline.environment.fingerprint == c.environment.fingerprint
    return (
        f"**Trend:** {escape_md(note)}: {escape_md(c.objective)} {format_value(then, obj.unit)} then, "
        f"{format_value(now, obj.unit)} for the same base in this job: runner drift {pct(drift)}"
        + ("" if same else " (different machine type)")
        + "."
    )


def _stored_baseline(ctx: CiContext, baseline: Result | None, note: str) -> tuple[Result | None, str]:
    """With ``decision.baseline: artifact``, the stored result when it may stand for the base; else why
    not (then the base is re-measured in this job, paired)."""
    if ctx.config.decision.baseline != "artifact":
        return None, ""
    why = ""
    if baseline is None:
        why = f"no usable baseline artifact ({note})"
    elif baseline.environment.fingerprint != detect_environment(ctx.env).fingerprint:
        why = (
            "the baseline artifact was measured on another kind of machine "
            f"({baseline.environment.cpu_model}, {baseline.environment.cores} cores)"
        )
    elif baseline.config_hash != ctx.config.hash:
        why = "the baseline artifact was measured with another configuration"
    elif ctx.config.objective.metric not in baseline.metrics:
        why = f"the baseline artifact has no {ctx.config.objective.metric} samples"
    if why:
        return None, f"decision.baseline is artifact, but {why}: the base was re-measured in this job"
    return baseline, ""


def _fetch_baseline(ctx: CiContext, branch: str, sha: str | None) -> tuple[Result | None, str]:
    fetch = getattr(ctx.forge, "fetch_baseline", None)
    if fetch is None:
        return None, "no forge to fetch it from"
    result: tuple[Result | None, str] = fetch(ctx.config.github.baseline_artifact, branch=branch, sha=sha)
    return result


def _outputs(ev: Evaluation, md: str, path: Path) -> dict[str, str]:
    obj = ev.comparison.objective_metric
    delta = f"{obj.estimate.delta:.6f}" if obj and obj.estimate else ""
    return {
        "verdict": ev.comparison.verdict,
        "delta": delta,
        "improved": "true" if ev.comparison.verdict == "improved" else "false",
        "report": md,
        "result-path": str(path),
    }


def _annotate(ctx: CiContext, ev: Evaluation) -> None:
    c = ev.comparison
    if c.verdict in ("invalid", "rejected"):
        ctx.say(gha.annotation("error", c.reason, title=f"ci-autoresearch: {c.candidate.ref} is {c.verdict}"))
    elif c.verdict == "regressed":
        ctx.say(gha.annotation("warning", c.reason, title=f"ci-autoresearch: {c.candidate.ref} regressed"))


def _fetch_notes_quietly(ctx: CiContext, remote: str) -> None:
    if git.remote_url(ctx.repo, remote) is None:
        return
    try:
        history.fetch_notes(ctx.repo, remote)
    except AutoresearchError as err:
        ctx.say(gha.annotation("warning", f"could not fetch evaluation notes from {remote}: {err}"))


def _push_notes_quietly(ctx: CiContext, remote: str) -> None:
    """Pull-request jobs often have a read-only token: then the note stays in the uploaded artifact."""
    if git.remote_url(ctx.repo, remote) is None:
        return
    try:
        history.push_notes(ctx.repo, remote, attempts=3)
    except AutoresearchError as err:
        ctx.say(gha.annotation("warning", f"could not push evaluation notes to {remote}: {err}"))


# --- schedule / workflow_dispatch: the loop ----------------------------------------------------------


def _on_schedule(ctx: CiContext) -> CiOutcome:
    from ci_autoresearch.loop import Loop, LoopOptions
    from ci_autoresearch.status import report_markdown

    name, event = gha.load_event(ctx.env)
    base = _base_branch(ctx, event)
    remote = ctx.config.checkpoint.remote or "origin"
    _track_remote_candidates(ctx, remote)
    config = ctx.config
    if git.remote_url(ctx.repo, remote) is not None and not config.checkpoint.remote:
        config = dataclasses.replace(config, checkpoint=dataclasses.replace(config.checkpoint, remote=remote))
    if git.try_resolve(ctx.repo, f"refs/heads/{base}") is None:
        git.update_ref(ctx.repo, f"refs/heads/{base}", git.resolve(ctx.repo, f"refs/remotes/{remote}/{base}"))
    forge: Forge = ctx.forge
    loop = Loop(
        ctx.repo,
        config,
        env=ctx.env,
        forge=forge,
        options=LoopOptions(branch=base, advance=False),
        log_root=ctx.out_dir / "logs",
        say=ctx.say,
        progress=ctx.progress,
    )
    outcome = loop.run()
    ctx.say(f"stopped: {outcome.reason}")
    evaluations = history.load(ctx.repo).latest()
    md = report_markdown(evaluations, config, title=f"ci-autoresearch ({name}): {outcome.reason}")
    kept = [e for e in outcome.evaluations if e.decision == "kept"]
    write_json(
        ctx.out_dir / "loop.json",
        {"evaluations": [evaluation_to_json(e) for e in outcome.evaluations], "stopped": outcome.reason},
    )
    return CiOutcome(
        outputs={
            "verdict": "improved" if kept else ("none" if not outcome.evaluations else "no-keep"),
            "delta": "",
            "improved": "true" if kept else "false",
            "report": md,
            "result-path": str(ctx.out_dir / "loop.json"),
        },
        summary=md,
    )


def _track_remote_candidates(ctx: CiContext, remote: str) -> None:
    """In a CI checkout candidate branches exist as ``refs/remotes/origin/*``: give them local names."""
    current = git.current_branch(ctx.repo)
    for ref in git.list_refs(ctx.repo, f"refs/remotes/{remote}/"):
        name = ref.removeprefix(f"refs/remotes/{remote}/")
        if name in ("HEAD", current):
            continue
        if any(fnmatch.fnmatchcase(name, p) for p in ctx.config.candidates.branches):
            git.update_ref(ctx.repo, f"refs/heads/{name}", git.resolve(ctx.repo, ref))


# --- workflow_run: post what an unprivileged job measured --------------------------------------------


def _on_workflow_run(ctx: CiContext, event: Mapping[str, Any]) -> CiOutcome:
    run = event.get("workflow_run") or {}
    run_id = run.get("id")
    fetch = getattr(ctx.forge, "fetch_run_evaluation", None)
    if not isinstance(run_id, int) or fetch is None:
        ctx.say(gha.annotation("notice", "workflow_run without a run id or a forge: nothing to post"))
        return CiOutcome(outputs={"verdict": "", "delta": "", "improved": "false", "report": ""})
    ev, pull, note = fetch(run_id)
    if ev is None:
        ctx.say(gha.annotation("notice", f"workflow_run {run_id}: {note}"))
        return CiOutcome(outputs={"verdict": "", "delta": "", "improved": "false", "report": ""})
    md = comparison_markdown(
        ev.comparison,
        decision=f"{ev.decision} — {ev.decision_reason}",
        extra=[f"> measured in run {run_id} (untrusted artifact, validated)"],
    )
    write_json(ctx.out_dir / EVALUATION_FILE, evaluation_to_json(ev))
    ctx.forge.publish(Publication(evaluation=ev, markdown=md, pull=pull, branch=ev.comparison.candidate.ref))
    _annotate(ctx, ev)
    return CiOutcome(outputs=_outputs(ev, md, ctx.out_dir / EVALUATION_FILE), summary=md)
