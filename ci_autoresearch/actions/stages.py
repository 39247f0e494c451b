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

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ci_autoresearch import git
from ci_autoresearch.actions import runtime as gha
from ci_autoresearch.actions.evaluate import Evaluated, Request, evaluate, refuse_privileges
from ci_autoresearch.actions.plan import (
    MAX_SLOTS,
    Plan,
    Slot,
    base_of,
    config_at,
    matrix_outputs,
    plan_pull_request,
    plan_schedule,
    plan_to_json,
    track_remote_branches,
)
from ci_autoresearch.actions.publish import (
    Context,
    plan_from_argument,
    publish_plan,
    publish_run,
    read_bundle_dir,
)
from ci_autoresearch.artifacts import load_result, result_to_json, write_json
from ci_autoresearch.config.model import Config
from ci_autoresearch.errors import AutoresearchError, BadInputError
from ci_autoresearch.forge import RemoteForge
from ci_autoresearch.history import notes as history
from ci_autoresearch.history.recorded import key_for
from ci_autoresearch.measure.environment import detect_environment
from ci_autoresearch.measure.session import ProgressFn, measure_ref
from ci_autoresearch.model import Result
from ci_autoresearch.report.render import comparison_markdown, comparison_text, escape_md, result_text

BASELINE_FILE = "baseline.json"
PLAN_FILE = "plan.json"
STORED_BASELINE_FILE = "stored-baseline.json"
SCHEDULE_EVENTS = ("schedule", "workflow_dispatch")
PULL_EVENTS = ("pull_request",)
EMPTY_OUTPUTS: Mapping[str, str] = {"verdict": "", "delta": "", "improved": "false", "report": ""}


@dataclass(frozen=True, kw_only=True)
class Stage:
    """What every stage is given: the checkout, where the configuration lives in it, the environment."""

    repo: Path
    config_file: str  # inside the repository; read from the base commit
    env: Mapping[str, str]
    out_dir: Path
    say: Callable[[str], None]
    progress: ProgressFn
    remote: str = "origin"

    def adjust(self, config: Config) -> Config:
        return apply_action_inputs(config, self.env)


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


def _source(stage: Stage) -> str:
    return stage.env.get("GITHUB_EVENT_PATH", "event payload")


def _finish(stage: Stage, outputs: Mapping[str, str], summary: str = "") -> None:
    """Outputs and the step summary (in Actions), written by the tool after candidate code finished, from
    its own data."""
    if not gha.is_actions(stage.env):
        return
    gha.write_outputs(stage.env, outputs)
    if summary:
        gha.append_summary(stage.env, summary)


def _config_at(stage: Stage, sha: str) -> Config:
    if not git.fetch_commit(stage.repo, stage.remote, sha):
        raise BadInputError(
            f"the base commit {sha[:12]} is not in this checkout and cannot be fetched",
            hint="check out with fetch-depth: 0",
        )
    return stage.adjust(config_at(stage.repo, sha, stage.config_file))


def _history(stage: Stage) -> history.History:
    if git.remote_url(stage.repo, stage.remote) is not None:
        try:
            history.fetch_notes(stage.repo, stage.remote)
        except AutoresearchError as err:
            stage.say(
                gha.annotation("warning", f"could not fetch evaluation notes from {stage.remote}: {err}")
            )
    return history.load(stage.repo)


# --- plan ---------------------------------------------------------------------------------------------


def make_plan(stage: Stage, *, max_parallel: int | None = None) -> tuple[Plan, Config]:
    """The plan for this event (trusted input only) and the base's configuration it was made with."""
    name, event = gha.load_event(stage.env)
    if name == "pull_request_target":
        raise BadInputError(
            "pull_request_target runs with write access to the base repository: ci-autoresearch never "
            "evaluates a pull request there",
            hint="use pull_request for plan and evaluate, and workflow_run for publish (docs/github.md)",
        )
    if name in PULL_EVENTS:
        pr = gha.pull_request_info(event, source=_source(stage))
        config = _config_at(stage, pr.base_sha)
        key, _ = key_for(stage.repo, config, pr.base_sha, pr.head_sha)
        label = event.get("label")
        added = str(label.get("name", "")) if isinstance(label, dict) else None
        plan = plan_pull_request(
            config,
            pr,
            action=str(event.get("action", "")),
            added_label=added,
            known=_history(stage).find(key),
        )
        return plan, config
    if name in SCHEDULE_EVENTS:
        repository = event.get("repository")
        default = repository.get("default_branch") if isinstance(repository, dict) else None
        base_ref = str(default or "main")
        config = _config_at(stage, base_of(stage.repo, base_ref, stage.remote))
        if config.github.base_branch and config.github.base_branch != base_ref:
            base_ref = config.github.base_branch
            config = _config_at(stage, base_of(stage.repo, base_ref, stage.remote))
        track_remote_branches(stage.repo, stage.remote, config.candidates.branches)
        parallel = config.branching.strategy == "parallel"
        limit = max_parallel or (config.branching.max_branches if parallel else MAX_SLOTS)
        plan = plan_schedule(
            stage.repo,
            config,
            event=name,
            base_ref=base_ref,
            base_sha=base_of(stage.repo, base_ref, stage.remote),
            hist=_history(stage),
            limit=limit,
            env=stage.env,
            say=stage.say,
        )
        return plan, config
    raise BadInputError(
        f"GITHUB_EVENT_NAME is {name!r}: plan runs for pull_request, schedule or workflow_dispatch"
    )


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
    _finish(stage, outputs, plan_summary(plan))
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
    config = _config_at(stage, base_sha)
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
            stored=stored,
        )
    pending = "not decided yet: the publish job decides and posts"
    reports = [comparison_markdown(d.evaluation.comparison, decision=pending) for d in done]
    result = {**EMPTY_OUTPUTS, **outputs, "bundles": str(stage.out_dir / "bundles")}
    for d in done:
        c = d.evaluation.comparison
        _annotate(stage, c.verdict, c.reason, c.candidate.ref)
        if not gha.is_actions(stage.env):  # on a terminal: the table a person reads
            stage.say(comparison_text(c).rstrip())
    if done:
        first = done[0].evaluation.comparison
        obj = first.objective_metric
        result.update(
            verdict=first.verdict,
            delta=f"{obj.estimate.delta:.6f}" if obj and obj.estimate else "",
            improved="true" if first.verdict == "improved" else "false",
            report=reports[0],
        )
        result["result-path"] = str(done[0].bundle)
        stage.say(
            f"{len(done)} bundle(s) in {stage.out_dir / 'bundles'}: the publish job (write permissions, no "
            "repository code) decides and posts them"
        )
    _finish(stage, result, "\n".join(reports) or fallback)
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


def _annotate(stage: Stage, verdict: str, reason: str, ref: str) -> None:
    if verdict in ("invalid", "rejected"):
        stage.say(gha.annotation("error", reason, title=f"ci-autoresearch: {ref} is {verdict}"))
    elif verdict == "regressed":
        stage.say(gha.annotation("warning", reason, title=f"ci-autoresearch: {ref} regressed"))


# --- the baseline (push to the base branch) -----------------------------------------------------------


def baseline_stage(stage: Stage) -> None:
    """A push to the base branch: measure its head (trusted code) and write the baseline result."""
    _, event = gha.load_event(stage.env)
    push = gha.push_info(event, source=_source(stage))
    config = _config_at(stage, push.after) if not push.deleted else None
    repository = event.get("repository")
    default = repository.get("default_branch") if isinstance(repository, dict) else None
    base = (config.github.base_branch if config else None) or str(default or "main")
    if config is None or push.branch != base:
        stage.say(
            gha.annotation("notice", f"push to {push.ref}: only pushes to {base} are measured (the baseline)")
        )
        _finish(stage, EMPTY_OUTPUTS)
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
    _finish(stage, outputs, md)


# --- ci: the one-command entry -----------------------------------------------------------------------


def ci_stage(stage: Stage, *, allow_secrets: bool, publish: Callable[[], None]) -> None:
    """Whatever the event calls for, within what one job may hold (see the module docstring)."""
    name, _ = gha.load_event(stage.env)
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
        _finish(stage, EMPTY_OUTPUTS)


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
    name, event = gha.load_event(stage.env)
    ctx = Context(
        repo=stage.repo,
        config_file=stage.config_file,
        adjust=stage.adjust,
        env=stage.env,
        forge=forge,
        out_dir=stage.out_dir,
        say=stage.say,
        remote=stage.remote,
    )
    if name == "workflow_run":
        outcome = publish_run(ctx, event, source=_source(stage))
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
    _finish(stage, outcome.outputs, outcome.summary)
