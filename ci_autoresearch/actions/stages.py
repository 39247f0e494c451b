"""The GitHub Actions stages: ``plan`` → ``evaluate`` (one job per candidate) → ``publish``, and ``ci``.

Candidate code can read everything in its job, so the stages are split by what they hold:

* ``plan`` -- trusted input only (the event, the base commit's configuration, the notes); runs no
  repository code; writes the ``matrix`` of candidates to evaluate.
* ``evaluate`` -- runs candidate code; holds no token, secret or git credential (it refuses to start
  with one), makes no API call, pushes nothing; writes one bundle per candidate for upload.
* ``publish`` -- holds the token; runs no repository code; trusts no bundle (see :mod:`publish`).

``ci`` is the one-command entry: ``push`` → the baseline; ``pull_request`` → plan and evaluate in this
(unprivileged) job; ``schedule`` / ``workflow_dispatch`` → plan and evaluate every candidate in this job,
leaving the bundles for a publish job; ``workflow_run`` → publish. It never holds a token while candidate
code runs: the paths that run candidate code refuse to start with one. ``pull_request_target`` is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ci_autoresearch import git
from ci_autoresearch.actions import runtime as gha
from ci_autoresearch.actions.bundles import read_bundle_dir
from ci_autoresearch.actions.context import (
    EMPTY_OUTPUTS,
    Stage,
    annotate_verdict,
    finish,
    load_history,
    outputs_of,
    trusted_config,
)
from ci_autoresearch.actions.evaluate import Evaluated, Request, evaluate, refuse_privileges
from ci_autoresearch.actions.event import (
    default_branch,
    pull_request_action,
    pull_request_info,
    push_info,
)
from ci_autoresearch.actions.plan import (
    MAX_SLOTS,
    Plan,
    Slot,
    base_of,
    matrix_outputs,
    plan_pull_request,
    plan_schedule,
    plan_to_json,
    track_remote_branches,
)
from ci_autoresearch.actions.publish import Context
from ci_autoresearch.actions.publish_plan import plan_from_argument, publish_plan
from ci_autoresearch.actions.publish_run import publish_run
from ci_autoresearch.artifacts import load_result, result_to_json, write_json
from ci_autoresearch.config.model import Config
from ci_autoresearch.errors import BadInputError
from ci_autoresearch.forge import RemoteForge
from ci_autoresearch.history.recorded import key_for
from ci_autoresearch.measure.environment import detect_environment
from ci_autoresearch.measure.single import measure_ref
from ci_autoresearch.model import Result
from ci_autoresearch.report.markdown import comparison_markdown, escape_md
from ci_autoresearch.report.text import comparison_text, result_text

BASELINE_FILE = "baseline.json"
PLAN_FILE = "plan.json"
STORED_BASELINE_FILE = "stored-baseline.json"
SCHEDULE_EVENTS = ("schedule", "workflow_dispatch")
PULL_EVENTS = ("pull_request",)


# --- plan ---------------------------------------------------------------------------------------------


def make_plan(stage: Stage, *, max_parallel: int | None = None) -> tuple[Plan, Config]:
    """The plan for this event (trusted input only) and the base's configuration it was made with."""
    name, event = stage.event
    if name == "pull_request_target":
        raise BadInputError(
            "pull_request_target runs with write access to the base repository: ci-autoresearch never "
            "evaluates a pull request there",
            hint="use pull_request for plan and evaluate, and workflow_run for publish (docs/github.md)",
        )
    if name in PULL_EVENTS:
        return _plan_pull(stage, event)
    if name in SCHEDULE_EVENTS:
        return _plan_scheduled(stage, name, event, max_parallel=max_parallel)
    raise BadInputError(
        f"GITHUB_EVENT_NAME is {name!r}: plan runs for pull_request, schedule or workflow_dispatch"
    )


def _plan_pull(stage: Stage, event: Mapping[str, Any]) -> tuple[Plan, Config]:
    pr = pull_request_info(event, source=stage.source)
    config = trusted_config(stage, pr.base_sha)
    key, _ = key_for(stage.repo, config, pr.base_sha, pr.head_sha, env=stage.env)
    action, added = pull_request_action(event)
    plan = plan_pull_request(
        config, pr, action=action, added_label=added, known=load_history(stage).find(key)
    )
    return plan, config


def _plan_scheduled(
    stage: Stage, name: str, event: Mapping[str, Any], *, max_parallel: int | None
) -> tuple[Plan, Config]:
    """The default branch's configuration may name another base branch: then that one's is used."""
    base_ref = default_branch(event)
    base_sha = base_of(stage.repo, base_ref, stage.remote)
    config = trusted_config(stage, base_sha)
    if config.github.base_branch and config.github.base_branch != base_ref:
        base_ref = config.github.base_branch
        base_sha = base_of(stage.repo, base_ref, stage.remote)
        config = trusted_config(stage, base_sha)
    track_remote_branches(stage.repo, stage.remote, config.candidates.branches)
    parallel = config.branching.strategy == "parallel"
    limit = max_parallel or (config.branching.max_branches if parallel else MAX_SLOTS)
    plan = plan_schedule(
        stage.repo,
        config,
        event=name,
        base_ref=base_ref,
        base_sha=base_sha,
        hist=load_history(stage),
        limit=limit,
        env=stage.env,
        say=stage.say,
    )
    return plan, config


def plan_stage(stage: Stage, *, max_parallel: int | None, forge: RemoteForge | None) -> Plan:
    """``plan``: the matrix and the plan as step outputs, a summary, and (with ``decision.baseline:
    artifact``) the stored baseline fetched for the evaluate jobs."""
    plan, config = make_plan(stage, max_parallel=max_parallel)
    text = _write_plan(stage, plan)
    outputs = dict(matrix_outputs(plan, text))
    if plan.notice:
        stage.say(gha.annotation("notice", plan.notice))
    if plan.slots and config.decision.baseline == "artifact" and forge is not None:
        stored, note = forge.fetch_baseline(
            config.github.baseline_artifact, branch=plan.base_ref, sha=plan.base_sha
        )
        if stored is not None:
            outputs["stored-baseline"] = str(
                write_json(stage.out_dir / STORED_BASELINE_FILE, result_to_json(stored))
            )
        else:
            stage.say(gha.annotation("notice", f"decision.baseline is artifact, but {note}"))
    finish(stage, outputs, plan_summary(plan))
    for slot in plan.slots:
        stage.say(f"planned {slot.id}: {slot.name} ({slot.source}) @ {(slot.candidate or slot.head)[:8]}")
    return plan


def plan_summary(plan: Plan) -> str:
    lines = [
        f"### ci-autoresearch plan: {len(plan.slots)} candidate(s) against {escape_md(plan.base_ref)} "
        f"@ {plan.base_sha[:8]}",
        "",
    ]
    lines += [f"- {escape_md(s.name)} ({escape_md(s.source)})" for s in plan.slots]
    if plan.notice:
        lines.append(f"- {escape_md(plan.notice)}")
    lines += [f"- skipped {escape_md(line)}" for line in plan.skipped[:50]]
    return "\n".join(lines) + "\n"


# --- evaluate -----------------------------------------------------------------------------------------


def evaluate_stage(
    stage: Stage, request: Request, *, allow_secrets: bool, stored_baseline: Path | None = None
) -> list[Evaluated]:
    """``evaluate``: refuse a privileged job, measure, write the bundles; outputs and summary after."""
    base_sha = git.resolve(stage.repo, request.base)
    config = trusted_config(stage, base_sha)
    refuse_privileges(stage.repo, config, stage.env, allow=allow_secrets)
    stored = _stored(stage, config, stored_baseline, base_sha)
    return _evaluate_all(stage, config, [request], stored=stored, outputs={})


def _evaluate_all(
    stage: Stage,
    config: Config,
    requests: Sequence[Request],
    *,
    stored: Result | None,
    outputs: Mapping[str, str],
    fallback: str = "",
) -> list[Evaluated]:
    """Measure every request (candidate code runs here), then write the outputs and the summary."""
    done: list[Evaluated] = []
    for request in requests:
        done += evaluate(
            stage.repo,
            config,
            request,
            env=stage.env,
            out_dir=stage.out_dir,
            say=stage.say,
            progress=stage.progress,
            remote=stage.remote,
            stored=stored,
        )
    pending = "not decided yet: the publish job decides and posts"
    reports = [comparison_markdown(d.evaluation.comparison, decision=pending) for d in done]
    result = {**EMPTY_OUTPUTS, **outputs, "bundles": str(stage.out_dir / "bundles")}
    for d in done:
        c = d.evaluation.comparison
        annotate_verdict(stage.say, c)
        if not gha.is_actions(stage.env):  # on a terminal: the table a person reads
            stage.say(comparison_text(c).rstrip())
    if done:
        result.update(outputs_of(done[0].evaluation, reports[0], done[0].bundle))
        stage.say(
            f"{len(done)} bundle(s) in {stage.out_dir / 'bundles'}: the publish job (write permissions, no "
            "repository code) decides and posts them"
        )
    finish(stage, result, "\n".join(reports) or fallback)
    return done


def _stored(stage: Stage, config: Config, path: Path | None, base_sha: str) -> Result | None:
    """With ``decision.baseline: artifact``, the stored result when it may stand for the base; else why
    not is said and the base is re-measured in this job, paired."""
    if config.decision.baseline != "artifact":
        return None
    why = ""
    stored = load_result(path) if path is not None and path.is_file() else None
    if stored is None:
        why = "no usable baseline artifact was handed to this job"
    elif stored.ref.sha and stored.ref.sha != base_sha:
        why = f"the baseline artifact is a result of {stored.ref.sha[:8]}, not of the base {base_sha[:8]}"
    elif stored.environment.fingerprint != detect_environment(stage.env).fingerprint:
        why = (
            "the baseline artifact was measured on another kind of machine "
            f"({stored.environment.cpu_model}, {stored.environment.cores} cores)"
        )
    elif stored.config_hash != config.hash:
        why = "the baseline artifact was measured with another configuration"
    elif config.objective.metric not in stored.metrics:
        why = f"the baseline artifact has no {config.objective.metric} samples"
    if why:
        stage.say(
            gha.annotation("notice", f"decision.baseline is artifact, but {why}: the base is re-measured")
        )
        return None
    return stored


# --- the baseline (push to the base branch) -----------------------------------------------------------


def baseline_stage(stage: Stage) -> None:
    """A push to the base branch: measure its head (trusted code) and write the baseline result."""
    _, event = stage.event
    push = push_info(event, source=stage.source)
    config = trusted_config(stage, push.after) if not push.deleted else None
    base = (config.github.base_branch if config else None) or default_branch(event)
    if config is None or push.branch != base:
        stage.say(
            gha.annotation("notice", f"push to {push.ref}: only pushes to {base} are measured (the baseline)")
        )
        finish(stage, EMPTY_OUTPUTS)
        return
    with gha.group(f"measure the baseline {base} @ {push.after[:8]}", env=stage.env, say=stage.say):
        result = measure_ref(
            stage.repo,
            config,
            push.after,
            env=stage.env,
            log_dir=stage.out_dir / "logs",
            progress=stage.progress,
        )
    path = write_json(stage.out_dir / BASELINE_FILE, result_to_json(result))
    title = f"### ci-autoresearch: baseline of {escape_md(base)} @ {push.after[:8]}"
    md = f"{title}\n\n```text\n{result_text(result)}```\n"
    outputs = {
        "verdict": "baseline",
        "delta": "",
        "improved": "false",
        "report": md,
        "result-path": str(path),
        "baseline-path": str(path),
    }
    finish(stage, outputs, md)


# --- ci: the one-command entry -----------------------------------------------------------------------


def ci_stage(stage: Stage, *, allow_secrets: bool, publish: Callable[[], None]) -> None:
    """Whatever the event calls for, within what one job may hold (see the module docstring)."""
    name, _ = stage.event
    if name == "push":
        baseline_stage(stage)
    elif name in (*PULL_EVENTS, *SCHEDULE_EVENTS, "pull_request_target"):
        plan, config = make_plan(stage)
        refuse_privileges(stage.repo, config, stage.env, allow=allow_secrets)
        if plan.notice:
            stage.say(gha.annotation("notice", plan.notice))
        text = _write_plan(stage, plan)
        stored = _stored(stage, config, None, plan.base_sha) if plan.slots else None
        requests = [_request(plan, slot) for slot in plan.slots]
        _evaluate_all(
            stage,
            config,
            requests,
            stored=stored,
            outputs=matrix_outputs(plan, text),
            fallback=plan_summary(plan),
        )
    elif name == "workflow_run":
        publish()
    else:
        stage.say(gha.annotation("notice", f"event {name!r} has nothing for ci-autoresearch to do"))
        finish(stage, EMPTY_OUTPUTS)


def _request(plan: Plan, slot: Slot) -> Request:
    return Request(
        base=plan.base_sha,
        candidate=slot.candidate,
        head=slot.head or None,
        source=slot.source,
        slot=slot.id,
        name=slot.name,
    )


def _write_plan(stage: Stage, plan: Plan) -> str:
    text = json.dumps(plan_to_json(plan), separators=(",", ":"))
    stage.out_dir.mkdir(parents=True, exist_ok=True)
    (stage.out_dir / PLAN_FILE).write_text(text + "\n")
    return text


# --- publish --------------------------------------------------------------------------------------------


def publish_stage(stage: Stage, forge: RemoteForge, *, plan: str | None, bundles: Path | None) -> None:
    """``publish``: a ``workflow_run`` event names the pull request run to post; otherwise the plan (the
    plan job's output) and the downloaded bundles of this run."""
    name, event = stage.event
    ctx = Context.of(stage, forge)
    if name == "workflow_run":
        outcome = publish_run(ctx, event, source=stage.source)
    else:
        if not plan or bundles is None:
            raise BadInputError(
                f"publish on {name!r} needs --plan (the plan job's `plan` output) and --bundles (the "
                "directory the evaluate jobs' bundles were downloaded to)"
            )
        docs, problems = read_bundle_dir(bundles)
        for problem in problems:
            stage.say(gha.annotation("warning", f"bundle not read: {problem}"))
        outcome = publish_plan(ctx, plan_from_argument(plan), docs)
    finish(stage, outcome.outputs, outcome.summary)
