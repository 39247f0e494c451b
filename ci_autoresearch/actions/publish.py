"""``publish``: the privileged stage. Holds the token, runs no repository code, trusts no bundle.

It runs in its own job, after the unprivileged ``evaluate`` jobs: through ``needs:`` in the same
workflow run (the scheduled loop: the plan job's output says what was planned), or from a
``workflow_run`` workflow for pull requests, forks included (the run's event and the API say which PR).

Routing -- which repository, which PR, which commit -- comes from that trusted side, never from a
bundle. Every bundle is checked against the slot it claims: the base commit, the configuration, the
measured commit and the candidate's own commit must be the ones planned (for a generator's proposal:
a commit built on the base, carried as a verified git bundle); anything else is refused with the reason.
Then the one keep/discard module decides, the notes are written and pushed first (the checkpoint), and
only then is GitHub told: the sticky comment, labels, the commit status, PRs opened for wins and closed
for definitive losses. Every step is idempotent and reconciled on the next run, so re-running publish
writes nothing new and a run killed half-way converges on the next one.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import fnmatch
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci_autoresearch import candidates as propose
from ci_autoresearch import git
from ci_autoresearch.actions import runtime as gha
from ci_autoresearch.actions.plan import Plan, Slot, config_at, loop_evaluations, pull_slot
from ci_autoresearch.artifacts import (
    MAX_BYTES,
    evaluation_from_json,
    evaluation_to_json,
    parse_document,
    write_json,
)
from ci_autoresearch.config.model import Config
from ci_autoresearch.decide import keep
from ci_autoresearch.decide.verdict import pct
from ci_autoresearch.errors import ArtifactError, AutoresearchError, BadInputError, GitError
from ci_autoresearch.forge import Publication, PullState, RemoteForge
from ci_autoresearch.history import notes as history
from ci_autoresearch.measure import overlay
from ci_autoresearch.model import Comparison, Evaluation
from ci_autoresearch.report.render import (
    comparison_markdown,
    escape_md,
    pr_history_markdown,
    pull_request_body,
    trend_markdown,
)

MAX_BUNDLE_FILES = 64
BUNDLE_PREFIX = "autoresearch-bundle-"  # the artifact each evaluate job uploads: + its slot
PUBLISH_FILE = "publish.json"


@dataclass(frozen=True, kw_only=True)
class Context:
    repo: Path
    config_file: str  # the configuration's path inside the repository (read from the base commit)
    adjust: Callable[[Config], Config]  # the action's inputs applied to the trusted configuration
    env: Mapping[str, str]
    forge: RemoteForge
    out_dir: Path
    say: Callable[[str], None]
    remote: str = "origin"


@dataclass(frozen=True, kw_only=True)
class Outcome:
    outputs: dict[str, str]
    summary: str = ""


@dataclass(frozen=True, kw_only=True)
class Accepted:
    slot: Slot
    evaluation: Evaluation  # pending; every claim checked against the slot
    label: str
    branch: str | None = None  # a proposal: the branch it is pushed to when kept


class Refused(Exception):
    """A bundle whose claims do not match the plan: it is not used."""


NOTHING = Outcome(outputs={"verdict": "", "delta": "", "improved": "false", "report": ""})


# --- reading and checking bundles -----------------------------------------------------------------------


Found = tuple[str, str | None, dict[str, Any]]
"""A bundle as read: where it came from, the artifact it was uploaded in (when known), the document."""


def read_bundle_dir(path: Path) -> tuple[list[Found], list[str]]:
    """The bundle@1 documents under ``path`` (as ``actions/download-artifact`` lays them out: one folder
    per artifact), each validated and size-limited, with the problems of the files that are not."""
    if not path.is_dir():
        raise BadInputError(
            f"{path}: no such directory (--bundles: where the evaluation bundles were downloaded)"
        )
    files = sorted(p for p in path.rglob("*.json") if p.is_file() and not p.is_symlink())
    docs: list[Found] = []
    problems: list[str] = []
    if len(files) > MAX_BUNDLE_FILES:
        problems.append(f"{path}: {len(files)} JSON files; only the first {MAX_BUNDLE_FILES} are read")
    for file in files[:MAX_BUNDLE_FILES]:
        label = file.relative_to(path).as_posix()
        artifact = label.split("/", 1)[0] if "/" in label else None
        try:
            if file.stat().st_size > MAX_BYTES:
                raise ArtifactError(f"{label}: larger than {MAX_BYTES // (1024 * 1024)} MiB")
            kind, doc = parse_document(file.read_text(encoding="utf-8", errors="replace"), source=label)
        except (ArtifactError, OSError) as err:
            problems.append(str(err))
            continue
        if kind != "bundle":
            problems.append(f"{label}: a {kind} document, not an evaluation bundle")
            continue
        docs.append((label, artifact, doc))
    return docs, problems


def check_bundle(repo: Path, doc: Mapping[str, Any], *, plan: Plan, config: Config, label: str) -> Accepted:
    """The bundle's evaluation, once every claim it makes matches the (trusted) plan; :class:`Refused`
    with the reason otherwise."""
    slot_id = str(doc["slot"])
    slot = plan.slot(slot_id)
    if slot is None and slot_id.startswith("propose"):
        slot = plan.slot("propose")
    if slot is None:
        raise Refused(f"{label}: names slot {slot_id!r}, which the plan does not have")
    ev = evaluation_from_json(doc["evaluation"])
    c = ev.comparison
    if c.baseline.sha != plan.base_sha:
        raise Refused(
            f"{label}: measured against {c.baseline.sha[:12]}, but the base of {slot.name} is "
            f"{plan.base_sha[:12]}"
        )
    if c.config_hash != config.hash or plan.config_hash != config.hash:
        raise Refused(f"{label}: measured with configuration {c.config_hash}, not the base's {config.hash}")
    branch = None
    if slot.kind == "propose":
        if not ev.source.startswith("propose:"):
            raise Refused(f"{label}: source {ev.source[:60]!r} is not a proposal")
        branch = _take_proposal(repo, doc, ev, plan=plan, config=config, label=label)
    else:
        if ev.source != slot.source:
            raise Refused(f"{label}: source {ev.source[:60]!r}, but slot {slot.id} is {slot.source}")
        if ev.candidate_head != slot.head:
            raise Refused(
                f"{label}: candidate {ev.candidate_head[:12]}, but {slot.name} is at {slot.head[:12]}"
            )
        measured = slot.candidate or slot.head  # no candidate commit: a merge conflict, nothing measured
        if c.candidate.sha != measured or (not slot.candidate and c.verdict != "invalid"):
            raise Refused(f"{label}: measured {c.candidate.sha[:12]}, but slot {slot.id} is {measured[:12]}")
    _check_benchmark_files(repo, c, plan=plan, config=config, label=label)
    key = history.evaluation_key(c.candidate.sha, plan.base_sha, config.hash, overlay.key_part(c.benchmark))
    if ev.key != key:
        raise Refused(f"{label}: key {ev.key[:60]!r} is not the evaluation key {key}")
    return Accepted(slot=slot, evaluation=ev, label=label, branch=branch)


def _check_benchmark_files(repo: Path, c: Comparison, *, plan: Plan, config: Config, label: str) -> None:
    """The benchmark's files came from where the base's configuration says (``benchmark.from``); when
    that is the base or a ref, the tree the bundle names is the one git has here."""
    wanted = config.benchmark.source
    claimed = c.benchmark
    if (claimed is None) != (wanted is None) or (claimed is not None and claimed.source != wanted):
        said = claimed.source if claimed else "each side's own"
        raise Refused(f"{label}: benchmark files from {said}, but benchmark.from is {wanted or 'not set'}")
    if claimed is None or wanted in ("candidate", "working-tree"):
        return
    try:
        here = overlay.resolve(repo, config.benchmark, base_sha=plan.base_sha, cand_sha=c.candidate.sha)
    except AutoresearchError as err:
        raise Refused(f"{label}: the benchmark files cannot be checked here ({err})") from None
    if here is None or here.sha != claimed.sha:
        raise Refused(
            f"{label}: benchmark files {claimed.sha[:12]}, "
            f"but {wanted} has {here.sha[:12] if here else 'none'}"
        )


def _take_proposal(
    repo: Path, doc: Mapping[str, Any], ev: Evaluation, *, plan: Plan, config: Config, label: str
) -> str:
    """Bring a generator's commits in from the bundle's git bundle (verified, every object checked); the
    measured commit must be one of them and must build on the base. The branch it will be pushed to."""
    sha = ev.comparison.candidate.sha
    if ev.candidate_head != sha:
        raise Refused(f"{label}: a proposal is measured as it is ({ev.candidate_head[:12]} != {sha[:12]})")
    encoded = doc.get("commits")
    if not encoded:
        raise Refused(f"{label}: a proposal without its commits")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(f"{label}: commits: not base64") from None
    with tempfile.TemporaryDirectory(prefix="autoresearch-publish-") as tmp:
        path = Path(tmp) / "proposal.bundle"
        path.write_bytes(data)
        try:
            heads = git.bundle_heads(repo, path)
            match = [ref for head, ref in heads if head == sha]
            if len(heads) != 1 or not match:
                raise Refused(f"{label}: the git bundle must hold exactly the measured commit {sha[:12]}")
            git.bundle_fetch(repo, path, match[0], f"refs/autoresearch/proposed/{sha}")
        except GitError as err:
            raise Refused(f"{label}: the git bundle is not usable ({err.message[:200]})") from None
    if sha == plan.base_sha or not git.is_ancestor(repo, plan.base_sha, sha):
        raise Refused(f"{label}: the proposal {sha[:12]} does not build on the base {plan.base_sha[:12]}")
    wanted = str(doc.get("branch") or "")
    patterns = config.candidates.branches
    if (
        wanted
        and git.is_valid_branch_name(repo, wanted)
        and any(fnmatch.fnmatchcase(wanted, p) for p in patterns)
    ):
        return wanted
    return f"autoresearch/proposed-{sha[:12]}"


def _accept(
    ctx: Context, docs: Sequence[Found], *, plan: Plan, config: Config
) -> tuple[list[Accepted], list[str]]:
    """The bundles whose claims match the plan. A bundle uploaded by another slot's job is refused; two
    bundles that could each speak for one slot are both refused: a forgery can withhold a decision,
    never make one."""
    refused: list[str] = []
    bound: list[Found] = []
    for label, artifact, doc in docs:
        slot_id = str(doc["slot"])
        uploaded_for = (
            artifact.removeprefix(BUNDLE_PREFIX) if artifact and artifact.startswith(BUNDLE_PREFIX) else None
        )
        if (
            uploaded_for is not None
            and slot_id != uploaded_for
            and not slot_id.startswith(f"{uploaded_for}-")
        ):
            refused.append(
                f"{label}: claims slot {slot_id!r} but was uploaded by the job of {uploaded_for!r}"
            )
        else:
            bound.append((label, artifact, doc))
    claims: dict[str, int] = {}
    for _, _, doc in bound:
        claims[str(doc["slot"])] = claims.get(str(doc["slot"]), 0) + 1
    accepted: list[Accepted] = []
    for label, _, doc in bound:
        if claims[str(doc["slot"])] > 1:
            refused.append(
                f"{label}: {claims[str(doc['slot'])]} bundles claim slot {doc['slot']!r}; none is used"
            )
            continue
        try:
            accepted.append(check_bundle(ctx.repo, doc, plan=plan, config=config, label=label))
        except Refused as why:
            refused.append(str(why))
    for line in refused:
        ctx.say(gha.annotation("warning", f"bundle refused: {line}"))
    return accepted, refused


# --- the notes: decided first, recorded first ------------------------------------------------------------


def _record(ctx: Context, hist: history.History, evaluations: Sequence[Evaluation]) -> list[Evaluation]:
    """Record what the notes do not hold yet (numbered after the last iteration) and return every
    evaluation as recorded: a decision already in the notes wins (a re-run changes nothing)."""
    out = []
    iteration = hist.next_iteration()
    for ev in evaluations:
        known = hist.find(ev.key)
        if known is not None and (known.decision != "pending" or ev.decision == "pending"):
            out.append(known)
            continue
        if known is None:
            number, iteration = iteration, iteration + 1
        else:  # a pending note (a run killed before deciding) now decided
            number = known.iteration
        recorded = dataclasses.replace(ev, iteration=number)
        history.record(ctx.repo, recorded)
        out.append(recorded)
    return out


def _fetch_notes(ctx: Context) -> history.History:
    if git.remote_url(ctx.repo, ctx.remote) is not None:
        try:
            history.fetch_notes(ctx.repo, ctx.remote)
        except AutoresearchError as err:
            ctx.say(gha.annotation("warning", f"could not fetch evaluation notes from {ctx.remote}: {err}"))
    return history.load(ctx.repo)


def _push_notes(ctx: Context) -> None:
    if git.remote_url(ctx.repo, ctx.remote) is None:
        return
    history.push_notes(ctx.repo, ctx.remote, attempts=5)


def _trusted_config(ctx: Context, base_sha: str) -> Config:
    if not git.fetch_commit(ctx.repo, ctx.remote, base_sha):
        raise BadInputError(f"the base commit {base_sha[:12]} is not in this checkout and cannot be fetched")
    config = ctx.adjust(config_at(ctx.repo, base_sha, ctx.config_file))
    ctx.forge.use_config(config.github)
    return config


# --- pull requests (workflow_run) -------------------------------------------------------------------------


def publish_run(ctx: Context, event: Mapping[str, Any], *, source: str) -> Outcome:
    """Post what the ``pull_request`` run named by a ``workflow_run`` event evaluated."""
    run = gha.workflow_run_info(event, source=source)
    if run.event != "pull_request":
        ctx.say(
            gha.annotation(
                "notice", f"workflow_run {run.id} ran for {run.event!r}: only pull_request runs are published"
            )
        )
        return NOTHING
    pull = ctx.forge.pull_for_run(run)
    if pull is None:
        ctx.say(
            gha.annotation(
                "notice",
                f"workflow_run {run.id}: no open pull request has head {run.head_sha[:12]} "
                f"({run.head_repo_full_name or 'deleted repository'}:{run.head_branch}); nothing posted",
            )
        )
        return NOTHING
    config = _trusted_config(ctx, pull.base_sha)
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
        return NOTHING
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
    accepted, _ = _accept(ctx, docs, plan=plan, config=config)
    hist = _fetch_notes(ctx)
    known = hist.find_pair(pull.head_sha, pull.base_sha, config.hash)
    if accepted:
        [ev] = _record(ctx, hist, [keep.decide_pull(accepted[0].evaluation)])
    elif known is not None:
        ev = known
        ctx.say(
            f"#{pull.number} @ {pull.head_sha[:8]} was evaluated before ({ev.comparison.verdict}); "
            "posting it again"
        )
    else:
        why = problems[0] if problems else f"run {run.id} uploaded no evaluation bundle for #{pull.number}"
        ctx.say(
            gha.annotation(
                "notice", f"workflow_run {run.id} ({run.conclusion or run.status}): {why}; nothing posted"
            )
        )
        return NOTHING
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    path = write_json(ctx.out_dir / PUBLISH_FILE, evaluation_to_json(ev))
    _push_notes(ctx)
    md = pull_markdown(ctx, config, ev, hist, pull=pull, measured_elsewhere=True)
    ctx.forge.publish(Publication(evaluation=ev, markdown=md, pull=pull.number, branch=pull.head_ref))
    if keep.closes(ev) and config.github.close_discarded:
        ctx.forge.close_change(pull=pull.number, reason=ev.decision_reason, key=ev.key)
    _annotate(ctx, ev)
    return Outcome(outputs=outputs_of(ev, md, path), summary=md)


def pull_markdown(
    ctx: Context,
    config: Config,
    ev: Evaluation,
    hist: history.History,
    *,
    pull: PullState,
    measured_elsewhere: bool,
) -> str:
    baseline, note = ctx.forge.fetch_baseline(
        config.github.baseline_artifact, branch=pull.base_ref, sha=pull.base_sha
    )
    extra = [trend_markdown(ev.comparison, baseline, note)]
    if measured_elsewhere:
        extra.append(
            "> measured in an unprivileged job without a token; its bundle was checked before this was posted"
        )
    past = [e for e in hist.latest() if e.source == ev.source and e.key != ev.key] + [ev]
    if len(past) > 1:
        extra.append(pr_history_markdown(past))
    return comparison_markdown(ev.comparison, decision=f"{ev.decision} — {ev.decision_reason}", extra=extra)


# --- the scheduled loop (needs: plan, evaluate matrix) ----------------------------------------------------


def publish_plan(ctx: Context, plan: Plan, docs: Sequence[Found]) -> Outcome:
    """Decide across the bundles of one planned run, record, then open / close / label on GitHub."""
    config = _trusted_config(ctx, plan.base_sha)
    if config.hash != plan.config_hash:
        raise BadInputError(
            f"the plan was made with configuration {plan.config_hash}, the base's is {config.hash}; "
            "publish the plan of this run"
        )
    accepted, refused = _accept(ctx, docs, plan=plan, config=config)
    hist = _fetch_notes(ctx)
    by_key = {a.evaluation.key: a for a in accepted}
    pulls = [keep.decide_pull(a.evaluation) for a in accepted if a.slot.kind == "pr"]
    round_no = max((ev.round for ev in hist.evaluations), default=0) + 1
    batch = [dataclasses.replace(a.evaluation, round=round_no) for a in accepted if a.slot.kind != "pr"]
    # the same bundles always give the same decisions: what a killed run recorded is what it decided
    decided = _record(ctx, hist, [*pulls, *decide_round(batch, config)])
    _push_notes(ctx)
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
    c = ev.comparison
    obj = c.objective_metric
    delta = pct(obj.estimate.delta) if obj and obj.estimate else ""
    md = comparison_markdown(c, decision=f"{ev.decision} — {ev.decision_reason}")
    if slot.kind == "pr" and slot.pull is not None:
        state = ctx.forge.pull_state(slot.pull)
        if state is None or state.head_sha != slot.head:
            return f"#{slot.pull}: its head moved since the plan; not posted"
        md = pull_markdown(ctx, config, ev, hist, pull=state, measured_elsewhere=True)
        ctx.forge.publish(Publication(evaluation=ev, markdown=md, pull=slot.pull, branch=slot.branch))
        if keep.closes(ev) and config.github.close_discarded:
            ctx.forge.close_change(pull=slot.pull, reason=ev.decision_reason, key=ev.key)
        return f"#{slot.pull}: {ev.decision}"
    branch = item.branch or slot.branch
    if ev.decision == "kept" and branch:
        opened = _open(ctx, config, plan, branch, ev, item=item)
        return f"{escape_md(branch)}: kept ({delta}); {opened}"
    if branch:
        ctx.forge.publish(Publication(evaluation=ev, markdown=md, branch=branch))
        if keep.closes(ev) and config.github.close_discarded:
            closed = ctx.forge.close_change(branch=branch, reason=ev.decision_reason, key=ev.key)
            return f"{escape_md(branch)}: {ev.decision}" + (" (its pull request closed)" if closed else "")
    return f"{escape_md(branch or slot.name)}: {ev.decision}"


def _open(
    ctx: Context, config: Config, plan: Plan, branch: str, ev: Evaluation, *, item: Accepted | None
) -> str:
    """Push the branch of a generated candidate, then open its pull request (unless one exists)."""
    c = ev.comparison
    if not config.github.open_prs:
        return "no pull request (github.open_prs is off)"
    if ev.source.startswith(("search:", "propose:")):
        _push_generated(ctx, config, plan, branch, ev)
    obj = c.objective_metric
    delta = pct(obj.estimate.delta) if obj and obj.estimate else ""
    title = f"autoresearch: {c.objective} {delta} ({branch})"
    url = ctx.forge.open_change(
        branch=branch,
        base=plan.base_ref,
        title=title,
        body=pull_request_body(ev, base=plan.base_ref, candidate=branch),
        report=comparison_markdown(c, decision=f"{ev.decision} — {ev.decision_reason}"),
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
            + _open(ctx, config, plan, branch, ev, item=None)
        )
    return lines


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
            obj = ev.comparison.objective_metric
            delta = pct(obj.estimate.delta) if obj and obj.estimate else "–"
            parts.append(
                f"| {escape_md(ev.comparison.candidate.ref)} | {ev.comparison.verdict} | {delta} "
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


# --- outputs ---------------------------------------------------------------------------------------------


def outputs_of(ev: Evaluation, md: str, path: Path) -> dict[str, str]:
    obj = ev.comparison.objective_metric
    delta = f"{obj.estimate.delta:.6f}" if obj and obj.estimate else ""
    return {
        "verdict": ev.comparison.verdict,
        "delta": delta,
        "improved": "true" if ev.comparison.verdict == "improved" else "false",
        "report": md,
        "result-path": str(path),
    }


def _annotate(ctx: Context, ev: Evaluation) -> None:
    c = ev.comparison
    if c.verdict in ("invalid", "rejected"):
        ctx.say(gha.annotation("error", c.reason, title=f"ci-autoresearch: {c.candidate.ref} is {c.verdict}"))
    elif c.verdict == "regressed":
        ctx.say(gha.annotation("warning", c.reason, title=f"ci-autoresearch: {c.candidate.ref} regressed"))


def plan_from_argument(value: str) -> Plan:
    """``--plan``: the plan job's ``plan`` output (JSON text) or a file holding it."""
    from ci_autoresearch.actions.plan import plan_from_text  # noqa: PLC0415

    text = value
    if not value.lstrip().startswith("{"):
        path = Path(value)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise BadInputError(f"{value}: the plan cannot be read ({err.strerror or err})") from None
    return plan_from_text(text, source="--plan")


__all__ = ["Context", "Outcome", "check_bundle", "publish_plan", "publish_run", "read_bundle_dir"]
