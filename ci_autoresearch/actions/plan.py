"""``plan``: what to evaluate, decided from trusted input only. Runs no repository code.

Trusted input is the event GitHub sent, the base commit's configuration (never the candidate's) and the
git notes. For a ``pull_request`` the plan is the labelled PR; for ``schedule`` / ``workflow_dispatch``
it is the untried candidate branches (best hypotheses first), the search-space points and, when nothing
else is left, one generator run -- at most ``limit`` slots. Each slot names the exact commit to measure,
so an ``evaluate`` job on another runner measures that commit or refuses, and ``publish`` checks every
bundle against the slot it claims (the plan, unlike a bundle, is trusted).

The plan is written as ``ci-autoresearch/plan@1`` JSON and as an Actions ``matrix``
(``{"include": [{"slot", "name", "candidate", "head", "base", "source"}, ...]}``; empty when there is
nothing to do).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ci_autoresearch import __version__, git
from ci_autoresearch import candidates as propose
from ci_autoresearch.actions.event import PullInfo
from ci_autoresearch.artifacts import SCHEMA_IDS, parse_document
from ci_autoresearch.config import load_config_text
from ci_autoresearch.config.model import Config
from ci_autoresearch.errors import BadInputError
from ci_autoresearch.history import notes as history
from ci_autoresearch.history.convergence import state_from, stop_reason
from ci_autoresearch.model import Candidate, Evaluation

SlotKind = Literal["pr", "branch", "search", "propose"]
PR_ACTIONS = ("opened", "synchronize", "reopened", "labeled")
MAX_SLOTS = 256  # GitHub runs at most 256 jobs from one matrix


@dataclass(frozen=True, kw_only=True)
class Slot:
    """One candidate to evaluate (one matrix job).

    ``head``: the candidate's own commit (a branch head, a PR head); ``candidate``: the commit measured
    (``head`` itself, or ``head`` merged onto the base, or a search-space commit on the base); empty for
    a merge conflict (then nothing is measured: the candidate is ``invalid``) and for ``propose``.
    """

    id: str
    kind: SlotKind
    source: str
    name: str
    branch: str | None
    head: str
    candidate: str
    pull: int | None = None


@dataclass(frozen=True, kw_only=True)
class Plan:
    event: str
    base_ref: str
    base_sha: str
    config_hash: str
    slots: tuple[Slot, ...]
    skipped: tuple[str, ...] = ()  # one line per candidate left out, and why
    stop: str | None = None  # the convergence reason, when the loop is done
    notice: str = ""  # why there is nothing to do, when there is nothing

    def slot(self, slot_id: str) -> Slot | None:
        return next((s for s in self.slots if s.id == slot_id), None)

    @property
    def matrix(self) -> dict[str, list[dict[str, str]]]:
        return {
            "include": [
                {
                    "slot": s.id,
                    "name": s.name,
                    "candidate": s.candidate,
                    "head": s.head,
                    "base": self.base_sha,
                    "source": s.source,
                }
                for s in self.slots
            ]
        }


PROPOSE_SLOT = Slot(
    id="propose", kind="propose", source="propose", name="propose", branch=None, head="", candidate=""
)
"""One run of ``propose.command`` (it may run the code it writes: it runs in an evaluate job)."""


def plan_to_json(plan: Plan) -> dict[str, Any]:
    return {
        "schema": SCHEMA_IDS["plan"],
        "tool_version": __version__,
        "event": plan.event,
        "base": {"ref": plan.base_ref, "sha": plan.base_sha},
        "config_hash": plan.config_hash,
        "slots": [dataclasses.asdict(s) for s in plan.slots],
        "skipped": list(plan.skipped),
        "stop": plan.stop,
        "notice": plan.notice,
    }


def plan_from_text(text: str, *, source: str) -> Plan:
    """A plan@1 document (validated), e.g. the ``plan`` output of the plan job handed to ``publish``."""
    kind, doc = parse_document(text, source=source)
    if kind != "plan":
        raise BadInputError(f"{source}: schema: expected {SCHEMA_IDS['plan']}, got {SCHEMA_IDS[kind]}")
    return Plan(
        event=doc["event"],
        base_ref=doc["base"]["ref"],
        base_sha=doc["base"]["sha"],
        config_hash=doc["config_hash"],
        slots=tuple(Slot(**s) for s in doc["slots"]),
        skipped=tuple(doc["skipped"]),
        stop=doc["stop"],
        notice=doc["notice"],
    )


# --- trusted configuration ------------------------------------------------------------------------------


def config_path_in_repo(repo: Path, given: Path | None, default: str = ".autoresearch.yml") -> str:
    """The configuration's path inside the repository (for reading it from a commit)."""
    if given is None:
        return default
    path = given if given.is_absolute() else Path.cwd() / given
    try:
        return path.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        raise BadInputError(
            f"{given}: the configuration must be a file of the repository (it is read from the base commit)"
        ) from None


def config_at(repo: Path, sha: str, path: str) -> Config:
    """The configuration as committed in ``sha`` (the base: never the candidate's, which could weaken the
    gate or change the benchmark)."""
    text = git.file_at(repo, sha, path)
    if text is None:
        raise BadInputError(
            f"{path}: not in the base commit {sha[:8]}; the configuration is read from the base, never "
            "from the candidate",
            hint="commit .autoresearch.yml on the base branch",
        )
    return load_config_text(text, source=f"{path} at {sha[:8]}")


def pull_slot(number: int, *, head_ref: str, head_sha: str) -> Slot:
    """A labelled PR: its head measured against its base, as it is."""
    return Slot(
        id=f"pr-{number}",
        kind="pr",
        source=f"pr:{number}",
        name=head_ref,
        branch=head_ref,
        head=head_sha,
        candidate=head_sha,
        pull=number,
    )


# --- pull requests -------------------------------------------------------------------------------------


def plan_pull_request(
    config: Config,
    pr: PullInfo,
    *,
    action: str,
    added_label: str | None,
    known: Evaluation | None,
    event: str = "pull_request",
) -> Plan:
    """The labelled PR as one slot, or no slot and the reason (not a candidate, measured before, …)."""
    label = config.github.labels.candidate

    def nothing(notice: str) -> Plan:
        return Plan(
            event=event,
            base_ref=pr.base_ref,
            base_sha=pr.base_sha,
            config_hash=config.hash,
            slots=(),
            notice=notice,
        )

    if action not in PR_ACTIONS:
        return nothing(f"pull_request {action!r}: nothing to evaluate")
    if label not in pr.labels:
        return nothing(f"PR #{pr.number} has no {label!r} label: not a candidate, nothing measured")
    if action == "labeled" and added_label != label:
        return nothing(f"PR #{pr.number}: another label was added; it was evaluated when it was pushed")
    if known is not None:
        return nothing(
            f"PR #{pr.number} @ {pr.head_sha[:8]} was evaluated before against {pr.base_sha[:8]} "
            f"({known.comparison.verdict}); not measuring twice, publish posts that evaluation again"
        )
    slot = pull_slot(pr.number, head_ref=pr.head_ref, head_sha=pr.head_sha)
    return Plan(
        event=event, base_ref=pr.base_ref, base_sha=pr.base_sha, config_hash=config.hash, slots=(slot,)
    )


# --- the scheduled loop --------------------------------------------------------------------------------


def loop_evaluations(hist: history.History) -> list[Evaluation]:
    """The loop's own evaluations (pull requests are judged on their own, not as loop iterations)."""
    return [ev for ev in hist.latest() if not ev.source.startswith("pr:")]


def plan_schedule(
    repo: Path,
    config: Config,
    *,
    event: str,
    base_ref: str,
    base_sha: str,
    hist: history.History,
    limit: int,
    env: Mapping[str, str],
    say: Callable[[str], None] = lambda _: None,
) -> Plan:
    """The candidates of one scheduled run: untried branches ranked by hypotheses, search-space points on
    the base, and one generator run when nothing else is left; at most ``limit`` of them."""
    evaluations = loop_evaluations(hist)
    state = state_from(evaluations, direction=config.objective.direction)
    stop = stop_reason(state, config.constraints, config.objective)

    def plan(slots: Sequence[Slot], skipped: Sequence[str], notice: str = "", why: str | None = None) -> Plan:
        return Plan(
            event=event,
            base_ref=base_ref,
            base_sha=base_sha,
            config_hash=config.hash,
            slots=tuple(slots),
            skipped=tuple(skipped),
            stop=why,
            notice=notice,
        )

    if stop is not None:
        return plan([], [], notice=f"converged: {stop.message}", why=stop.message)
    pool = propose.gather(repo, config, base_sha=base_sha, exclude=[base_ref], env=env)
    slots, skipped = _choose(repo, pool, evaluations, base_ref=base_ref, base_sha=base_sha, limit=limit)
    if not slots and config.propose is not None:
        slots.append(PROPOSE_SLOT)
    notice = "" if slots else "no untried candidates: nothing to evaluate"
    for line in skipped:
        say(f"skipped {line}")
    return plan(slots, skipped, notice=notice)


def _choose(
    repo: Path,
    pool: Sequence[Candidate],
    evaluations: Sequence[Evaluation],
    *,
    base_ref: str,
    base_sha: str,
    limit: int,
) -> tuple[list[Slot], list[str]]:
    """The untried candidates of ``pool`` as slots (at most ``limit``), and one line for each left out."""
    decided = {ev.candidate_head: ev for ev in evaluations if ev.decision != "pending"}
    tried_sources = {ev.source for ev in evaluations if ev.decision != "pending"}
    base_tree = git.tree_of(repo, base_sha)
    slots: list[Slot] = []
    skipped: list[str] = []
    for cand in pool:
        name = cand.branch or cand.source
        seen = decided.get(cand.sha)
        if seen is not None or (cand.source.startswith("search:") and cand.source in tried_sources):
            verdict = f" ({seen.decision}, {seen.comparison.verdict})" if seen else ""
            skipped.append(f"{name}: evaluated before{verdict}")
            continue
        if git.is_ancestor(repo, cand.sha, base_sha):
            skipped.append(f"{name}: already in {base_ref}")
            continue
        if git.tree_of(repo, cand.sha) == base_tree:
            skipped.append(f"{name}: no change against {base_ref}")
            continue
        if len(slots) >= min(limit, MAX_SLOTS):
            skipped.append(f"{name}: left for the next run (at most {limit} per run)")
            continue
        slots.append(_slot(repo, cand, base_sha, index=len(slots) + 1))
    return slots, skipped


def _slot(repo: Path, cand: Candidate, base_sha: str, *, index: int) -> Slot:
    kind: SlotKind = "search" if cand.source.startswith("search:") else "branch"
    trial = propose.trial_commit(repo, base_sha, cand)
    return Slot(
        id=f"c{index}",
        kind=kind,
        source=cand.source,
        name=cand.branch or cand.source,
        branch=cand.branch,
        head=cand.sha,
        candidate=trial or "",
    )


def track_remote_branches(repo: Path, remote: str, patterns: Sequence[str]) -> None:
    """In a CI checkout candidate branches exist as ``refs/remotes/<remote>/*``: give them local names."""
    current = git.current_branch(repo)
    for ref in git.list_refs(repo, f"refs/remotes/{remote}/"):
        name = ref.removeprefix(f"refs/remotes/{remote}/")
        if name in ("HEAD", current):
            continue
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            git.update_ref(repo, f"refs/heads/{name}", git.resolve(repo, ref))


def base_of(repo: Path, branch: str, remote: str) -> str:
    """The sha of the base branch: the remote's when the checkout has it (CI), else the local branch."""
    sha = git.try_resolve(repo, f"refs/remotes/{remote}/{branch}") or git.try_resolve(
        repo, f"refs/heads/{branch}"
    )
    if sha is None:
        raise BadInputError(
            f"the base branch {branch!r} is not in this checkout", hint="fetch it (fetch-depth: 0)"
        )
    return sha


def matrix_outputs(plan: Plan, plan_json: str) -> Mapping[str, str]:
    """The plan job's step outputs: the matrix, how many slots, and the whole plan for ``publish``."""
    return {
        "matrix": json.dumps(plan.matrix, separators=(",", ":")),
        "count": str(len(plan.slots)),
        "plan": plan_json,
    }
