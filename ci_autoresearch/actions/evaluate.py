"""``evaluate``: measure one candidate against the base in an unprivileged job and write a bundle.

This is where candidate code runs in CI, so this job must hold nothing worth stealing: it refuses to
start with a token or another secret in its environment, or with a credential persisted in the
checkout's git configuration (``actions/checkout`` with ``persist-credentials: true``), unless told
otherwise on purpose (``--allow-secrets``). It makes no API call, writes no note and pushes nothing.

The configuration is read from the base commit, never from the candidate (which could weaken the gate
or change the benchmark). The commit measured is derived from the slot exactly as ``plan`` derived it
(a branch head, its deterministic merge onto the base, a search-space commit) and must be the one the
slot names. What it produces -- one ``ci-autoresearch/bundle@1`` JSON file per candidate, with the
evaluation, log tails and, for a generator's proposal, the commits as a git bundle -- is untrusted input
for ``publish``, which checks it against the plan.
"""

from __future__ import annotations

import base64
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ci_autoresearch import __version__, git
from ci_autoresearch import candidates as propose
from ci_autoresearch.actions import runtime as gha
from ci_autoresearch.actions.context import fetch_remote_notes
from ci_autoresearch.artifacts import SCHEMA_IDS, evaluation_to_json, write_json
from ci_autoresearch.config.model import Config
from ci_autoresearch.decide import keep
from ci_autoresearch.decide.verdict import Decision, comparison_of
from ci_autoresearch.errors import BadInputError
from ci_autoresearch.history import notes as history
from ci_autoresearch.measure import overlay
from ci_autoresearch.measure.environment import detect_environment, now_iso
from ci_autoresearch.measure.progress import ProgressFn
from ci_autoresearch.measure.scrub import secrets_in
from ci_autoresearch.measure.session import compare_refs
from ci_autoresearch.model import Candidate, Comparison, Evaluation, RefInfo, Result

MAX_LOG_TAIL = 4000
MAX_LOGS = 24
MAX_COMMITS_BYTES = 12 * 1024 * 1024
PRIVILEGED_EVENTS = ("pull_request_target", "workflow_run")


@dataclass(frozen=True, kw_only=True)
class Request:
    """What to evaluate: a slot of the plan (or a plain ``--candidate`` / ``--base`` pair).

    ``source``: ``pr:N``, ``branch:NAME``, ``search:k=v,…``, ``propose``, or None for a plain ref.
    ``candidate``: the commit (or ref) to measure; for a derived commit (a merge onto the base, a search
    point) the sha it must come out as, and empty for a merge conflict. ``head``: the candidate's own
    commit when it differs from the measured one (a branch merged onto the base).
    """

    base: str
    candidate: str
    source: str | None = None
    head: str | None = None
    slot: str | None = None
    name: str | None = None


@dataclass(frozen=True, kw_only=True)
class Evaluated:
    evaluation: Evaluation
    bundle: Path


# --- what the job may hold -----------------------------------------------------------------------------


def refuse_privileges(repo: Path, config: Config, env: Mapping[str, str], *, allow: bool) -> None:
    """Refuse (exit 2, one line) to run candidate code in a job that holds a token, a secret or a
    persisted git credential, or that a privileged event started; ``allow`` is the documented override
    (``--allow-secrets``) for the first two only."""
    event = env.get("GITHUB_EVENT_NAME", "")
    if event in PRIVILEGED_EVENTS:
        raise BadInputError(
            f"refusing to run candidate code in a {event} job: it runs with write access to the base "
            "repository",
            hint="evaluate in a pull_request workflow and publish from a workflow_run workflow "
            "(see docs/github.md)",
        )
    if allow:
        return
    passed = (*config.benchmark.pass_env, *(config.propose.pass_env if config.propose else ()))
    names = secrets_in(env, allowed=passed)
    if names:
        raise BadInputError(
            f"refusing to run candidate code with secrets in this job's environment: {', '.join(names[:5])}"
            + (f" (+{len(names) - 5} more)" if len(names) > 5 else ""),
            hint="the evaluate job needs no token: remove them, or pass --allow-secrets if you accept "
            "that candidate code can read them",
        )
    stored = git.persisted_credentials(repo)
    if stored:
        raise BadInputError(
            f"refusing to run candidate code next to a credential in the repository's git config: "
            f"{', '.join(stored[:3])}",
            hint="check out with `persist-credentials: false`, or pass --allow-secrets",
        )


# --- the candidate of a slot ---------------------------------------------------------------------------


def _candidates(
    repo: Path,
    config: Config,
    request: Request,
    base_sha: str,
    *,
    env: Mapping[str, str],
    log_dir: Path,
    remote: str,
) -> list[tuple[Candidate, str | None]]:
    """Each candidate of the request with the commit to measure (None: a merge conflict)."""
    source = request.source or ""
    if source == "propose":
        return [
            (c, c.sha) for c in _proposals(repo, config, base_sha, env=env, log_dir=log_dir, remote=remote)
        ]
    if source.startswith("search:"):
        if config.search_space is None:
            raise BadInputError(f"--source {source}: the base's configuration has no search_space")
        found = [
            c
            for c in propose.search_candidates(repo, config.search_space, base_sha, env=env)
            if c.source == source
        ]
        if not found:
            raise BadInputError(f"--source {source}: not a point of the base's search_space")
        cand = found[0]
        _expect(request, cand.sha)
        return [(cand, cand.sha)]
    head_ref = request.head or request.candidate
    if not head_ref:
        raise BadInputError("--candidate: expected the commit or ref to measure")
    head = git.resolve(repo, head_ref)
    name = request.name or (source.split(":", 1)[1] if ":" in source else head_ref)
    cand = Candidate(source=source or f"ref:{head_ref}", branch=name, sha=head)
    if source.startswith("branch:"):
        trial = propose.trial_commit(repo, base_sha, cand)
        _expect(request, trial or "")
        return [(cand, trial)]
    if request.head and request.candidate and git.resolve(repo, request.candidate) != head:
        raise BadInputError("--candidate and --head name different commits for a pull request or ref")
    return [(cand, head)]


def _expect(request: Request, sha: str) -> None:
    """The derived commit must be the one the plan named (same inputs, same deterministic sha)."""
    if request.candidate and request.candidate != sha:
        raise BadInputError(
            f"--candidate {request.candidate[:12]}: this checkout derives {sha[:12] or 'a merge conflict'} "
            f"for {request.source}; the plan and this job disagree (was the branch pushed since?)"
        )


def _proposals(
    repo: Path, config: Config, base_sha: str, *, env: Mapping[str, str], log_dir: Path, remote: str
) -> list[Candidate]:
    if config.propose is None:
        raise BadInputError("--source propose: the base's configuration has no propose.command")
    if git.remote_url(repo, remote) is not None:
        fetch_remote_notes(repo, remote, say=None)  # when that fails: the history this checkout has
    hist = history.load(repo, use_cache=False)
    payload = {
        "schema": "ci-autoresearch/propose-input@1",
        "objective": {
            "metric": config.objective.metric,
            "direction": config.objective.direction,
            "target": config.objective.target,
        },
        "best": {"sha": base_sha},
        "history": [
            {k: v for k, v in evaluation_to_json(ev).items() if k != "environment"} for ev in hist.latest()
        ],
    }
    found = propose.run_propose(repo, config.propose, payload, best_sha=base_sha, env=env, log_dir=log_dir)
    return found[: config.propose.max_proposals]


# --- measuring ----------------------------------------------------------------------------------------


def evaluate(
    repo: Path,
    config: Config,
    request: Request,
    *,
    env: Mapping[str, str],
    out_dir: Path,
    say: Callable[[str], None],
    progress: ProgressFn,
    remote: str,
    stored: Result | None = None,
) -> list[Evaluated]:
    """Measure every candidate of ``request`` and write one bundle per candidate into ``out_dir``.

    ``stored``: the base's stored result (``decision.baseline: artifact``), measured only on the candidate
    side then. ``remote``: where a generator's history (the notes) is fetched from."""
    base_sha = git.resolve(repo, request.base)
    job = _Job(
        repo=repo,
        config=config,
        base_sha=base_sha,
        base_name=config.github.base_branch or request.base,
        env=env,
        say=say,
        progress=progress,
        stored=stored,
        guard=gha.CommandFiles.snapshot(env),
    )
    log_root = out_dir / "logs"
    cands = _candidates(repo, config, request, base_sha, env=env, log_dir=log_root / "propose", remote=remote)
    if not cands:
        say(gha.annotation("notice", "propose.command proposed nothing: nothing to evaluate"))
    done: list[Evaluated] = []
    for index, (cand, trial) in enumerate(cands, 1):
        slot = request.slot or _slot_id(cand, index)
        if len(cands) > 1:
            slot = f"{slot}-{index}"
        log_dir = log_root / slot
        ev = _measure(job, cand, trial, log_dir=log_dir)
        commits = _git_bundle(repo, base_sha, cand) if request.source == "propose" else None
        doc = bundle_json(
            slot, ev, logs=log_tails(log_dir), branch=cand.branch if commits else None, commits=commits
        )
        path = write_json(out_dir / "bundles" / f"bundle-{slot}.json", doc)
        done.append(Evaluated(evaluation=ev, bundle=path))
    return done


@dataclass(frozen=True, kw_only=True)
class _Job:
    """What measuring each candidate of one request needs."""

    repo: Path
    config: Config
    base_sha: str
    base_name: str
    env: Mapping[str, str]
    say: Callable[[str], None]
    progress: ProgressFn
    stored: Result | None
    guard: gha.CommandFiles  # the runner's command files as they were before candidate code ran


def _measure(job: _Job, cand: Candidate, trial: str | None, *, log_dir: Path) -> Evaluation:
    """One candidate measured against the base (``trial`` None: a merge conflict, nothing run), the
    command files restored after it: the pending evaluation."""
    t0 = time.monotonic()
    name = cand.branch or cand.source
    if trial is None:
        comparison = keep.conflict(
            job.config,
            best=RefInfo(ref=job.base_name, sha=job.base_sha),
            candidate=cand,
            environment=detect_environment(job.env),
            now=now_iso(),
        )
    else:
        with gha.group(
            f"measure {name} @ {trial[:8]} against {job.base_name} @ {job.base_sha[:8]}",
            env=job.env,
            say=job.say,
        ):
            comparison = compare_refs(
                job.repo,
                job.config,
                job.base_sha,
                trial,
                env=job.env,
                log_dir=log_dir,
                progress=job.progress,
                labels=(job.base_name, name),
                stored=job.stored,
                measured_by="evaluate",
            )
    tampered = job.guard.restore()
    if tampered:
        comparison = _tampered(job.config, comparison, tampered)
    key = history.evaluation_key(
        comparison.candidate.sha, job.base_sha, job.config.hash, overlay.key_part(comparison.benchmark)
    )
    return keep.pending(comparison, cand, key=key, iteration=0, seconds=time.monotonic() - t0)


def _slot_id(cand: Candidate, index: int) -> str:
    if cand.source.startswith("pr:"):
        return f"pr-{cand.source[3:]}"
    return f"c{index}"


def _tampered(config: Config, c: Comparison, names: Sequence[str]) -> Comparison:
    """Candidate code wrote to the runner's command files: restored, and the candidate is invalid."""
    reason = (
        f"candidate code wrote to ${', $'.join(names)} (the runner's command files); restored, and "
        "nothing it measured is used"
    )
    return comparison_of(
        config,
        Decision(verdict="invalid", reason=reason, metrics={}),
        baseline=c.baseline,
        candidate=c.candidate,
        gate=c.gate,
        rounds=c.rounds,
        environment=c.environment,
        started_at=c.started_at,
        finished_at=c.finished_at,
        paired=c.paired,
        order=c.order,
        notes=c.notes,
    )


def log_tails(log_dir: Path) -> list[dict[str, str]]:
    """The last lines of the setup and gate logs and of the newest benchmark runs, for the bundle."""
    if not log_dir.is_dir():
        return []
    files = [p for p in log_dir.iterdir() if p.is_file() and p.suffix == ".log"]
    first = sorted(p for p in files if ".setup." in p.name or ".gate." in p.name)
    rest = sorted((p for p in files if p not in first), key=lambda p: p.stat().st_mtime)[-8:]
    tails = []
    for path in (first + rest)[:MAX_LOGS]:
        text = path.read_bytes()[-MAX_LOG_TAIL * 4 :].decode("utf-8", errors="replace")[-MAX_LOG_TAIL:]
        if text.strip():
            tails.append({"name": path.name[:128], "tail": text})
    return tails


def _git_bundle(repo: Path, base_sha: str, cand: Candidate) -> str:
    """The proposal's commits (base..candidate) as a git bundle, base64: how a generator's work reaches
    ``publish``, which verifies it before pushing anything."""
    with tempfile.TemporaryDirectory(prefix="autoresearch-bundle-") as tmp:
        path = Path(tmp) / "proposal.bundle"
        ref = f"refs/autoresearch/proposal/{cand.sha}"
        git.update_ref(repo, ref, cand.sha)
        try:
            git.bundle_create(repo, path, ref, exclude=base_sha)
        finally:
            git.delete_ref(repo, ref)
        data = path.read_bytes()
    if len(data) > MAX_COMMITS_BYTES:
        raise BadInputError(
            f"the proposal {cand.branch} is {len(data)} bytes as a git bundle; the limit is 12 MiB"
        )
    return base64.b64encode(data).decode("ascii")


def bundle_json(
    slot: str,
    ev: Evaluation,
    *,
    logs: Sequence[Mapping[str, str]],
    branch: str | None = None,
    commits: str | None = None,
) -> dict[str, Any]:
    return {
        "schema": SCHEMA_IDS["bundle"],
        "tool_version": __version__,
        "slot": slot,
        "evaluation": evaluation_to_json(replace(ev, iteration=0)),
        "logs": list(logs),
        "branch": branch,
        "commits": commits,
    }
