"""Evaluation bundles: read from where they were downloaded, and checked claim by claim against the plan.

A bundle is untrusted: an ``evaluate`` job ran candidate code before writing it. Each one is validated and
size-limited when read, bound to the job that uploaded it (its artifact's name), and accepted only when
the base commit, the configuration, the measured commit, the candidate's own commit and the benchmark
files are the ones planned; a generator's proposal comes with its commits as a git bundle, verified and
fetched under ``refs/autoresearch/proposed/``. Anything else is refused with the reason.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci_autoresearch import git
from ci_autoresearch.actions import runtime as gha
from ci_autoresearch.actions.plan import Plan, Slot
from ci_autoresearch.artifacts import MAX_BYTES, evaluation_from_json, parse_document
from ci_autoresearch.config.model import Config
from ci_autoresearch.errors import ArtifactError, AutoresearchError, BadInputError, GitError
from ci_autoresearch.forge import BUNDLE_ARTIFACT_PREFIX, FoundBundle
from ci_autoresearch.history import notes as history
from ci_autoresearch.measure import overlay
from ci_autoresearch.model import Comparison, Evaluation

MAX_BUNDLE_FILES = 64


@dataclass(frozen=True, kw_only=True)
class Accepted:
    slot: Slot
    evaluation: Evaluation  # pending; every claim checked against the slot
    label: str
    branch: str | None = None  # a proposal: the branch it is pushed to when kept


class Refused(Exception):
    """A bundle whose claims do not match the plan: it is not used."""


def read_bundle_dir(path: Path) -> tuple[list[FoundBundle], list[str]]:
    """The bundle@1 documents under ``path`` (as ``actions/download-artifact`` lays them out: one folder
    per artifact), each validated and size-limited, with the problems of the files that are not."""
    if not path.is_dir():
        raise BadInputError(
            f"{path}: no such directory (--bundles: where the evaluation bundles were downloaded)"
        )
    files = sorted(p for p in path.rglob("*.json") if p.is_file() and not p.is_symlink())
    docs: list[FoundBundle] = []
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


def check_bundle(
    repo: Path, doc: Mapping[str, Any], *, plan: Plan, config: Config, label: str, env: Mapping[str, str]
) -> Accepted:
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
    _check_benchmark_files(repo, c, plan=plan, config=config, label=label, env=env)
    key = history.evaluation_key(c.candidate.sha, plan.base_sha, config.hash, overlay.key_part(c.benchmark))
    if ev.key != key:
        raise Refused(f"{label}: key {ev.key[:60]!r} is not the evaluation key {key}")
    return Accepted(slot=slot, evaluation=ev, label=label, branch=branch)


def _check_benchmark_files(
    repo: Path, c: Comparison, *, plan: Plan, config: Config, label: str, env: Mapping[str, str]
) -> None:
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
        here = overlay.resolve(
            repo, config.benchmark, base_sha=plan.base_sha, cand_sha=c.candidate.sha, env=env
        )
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


def accept(
    repo: Path,
    docs: Sequence[FoundBundle],
    *,
    plan: Plan,
    config: Config,
    say: Callable[[str], None],
    env: Mapping[str, str],
) -> tuple[list[Accepted], list[str]]:
    """The bundles whose claims match the plan. A bundle uploaded by another slot's job is refused; two
    bundles that could each speak for one slot are both refused: a forgery can withhold a decision,
    never make one."""
    refused: list[str] = []
    bound: list[FoundBundle] = []
    for label, artifact, doc in docs:
        slot_id = str(doc["slot"])
        uploaded_for = (
            artifact.removeprefix(BUNDLE_ARTIFACT_PREFIX)
            if artifact and artifact.startswith(BUNDLE_ARTIFACT_PREFIX)
            else None
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
            accepted.append(check_bundle(repo, doc, plan=plan, config=config, label=label, env=env))
        except Refused as why:
            refused.append(str(why))
    for line in refused:
        say(gha.annotation("warning", f"bundle refused: {line}"))
    return accepted, refused
