"""Candidates from branches: the local branches matching ``candidates.branches``, ranked by hypotheses
(branches named by a hypothesis first, highest ``expected_gain`` first: see :func:`rank`), and the
commit that measures one of them against the current best (:func:`trial_commit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ci_autoresearch import git
from ci_autoresearch.config.model import Hypothesis
from ci_autoresearch.model import Candidate

PROPOSED_PREFIX = "refs/autoresearch/proposed/"
"""Where the heads a generator proposed are remembered (a restarted loop keeps calling them proposals)."""
BOT_NAME = "ci-autoresearch"
BOT_EMAIL = "ci-autoresearch@users.noreply.github.com"
TRIAL_IDENTITY = {
    "GIT_AUTHOR_NAME": BOT_NAME,
    "GIT_AUTHOR_EMAIL": BOT_EMAIL,
    "GIT_COMMITTER_NAME": BOT_NAME,
    "GIT_COMMITTER_EMAIL": BOT_EMAIL,
}


def rank(branches: Sequence[str], hypotheses: Sequence[Hypothesis]) -> list[tuple[str, Hypothesis | None]]:
    """Branches in the order to try them, each with its hypothesis (if any).

    Branches named by a hypothesis come first, highest ``expected_gain`` first (ties by branch name);
    then the others by name. Hypotheses naming a branch that is not in ``branches`` are skipped; when
    several name the same branch, the one with the highest ``expected_gain`` counts.
    """
    present = set(branches)
    by_branch: dict[str, Hypothesis] = {}
    for hyp in hypotheses:
        if hyp.branch in present:
            seen = by_branch.get(hyp.branch)
            if seen is None or hyp.expected_gain > seen.expected_gain:
                by_branch[hyp.branch] = hyp
    ranked: list[tuple[str, Hypothesis | None]] = [
        (name, by_branch[name]) for name in sorted(by_branch, key=lambda n: (-by_branch[n].expected_gain, n))
    ]
    ranked += [(name, None) for name in sorted(present - set(by_branch))]
    return ranked


def branch_candidates(
    repo: Path,
    patterns: Sequence[str],
    hypotheses: Sequence[Hypothesis],
    *,
    exclude: Sequence[str] = (),
) -> list[Candidate]:
    """The local branches matching ``patterns`` (minus ``exclude``), ranked, as candidates."""
    excluded = set(exclude)
    names = [n for n in git.local_branches(repo, patterns) if n not in excluded]
    out = []
    for name, hyp in rank(names, hypotheses):
        sha = git.resolve(repo, f"refs/heads/{name}")
        proposed = git.try_resolve(repo, f"{PROPOSED_PREFIX}{name}") == sha  # a generator's, not yet measured
        out.append(
            Candidate(
                source=f"{'propose' if proposed else 'branch'}:{name}",
                branch=name,
                sha=sha,
                expected_gain=hyp.expected_gain if hyp else 0.0,
                description=hyp.description if hyp else "",
            )
        )
    return out


def trial_commit(repo: Path, best: str, cand: Candidate) -> str | None:
    """The commit to measure for ``cand`` against ``best``: the candidate itself when it builds on the
    best, else it merged onto the best. The merge commit is deterministic (fixed identity, the
    candidate's own date), so a restart -- or another runner given the same two commits -- makes the
    same sha. None on a merge conflict."""
    if git.is_ancestor(repo, best, cand.sha):
        return cand.sha
    tree = git.merge_tree(repo, best, cand.sha)
    if tree is None:
        return None
    date = git.commit_date(repo, cand.sha)
    msg = f"autoresearch: try {cand.branch or cand.source} on {git.short(best)}\n"
    return git.commit_tree(
        repo,
        tree,
        [best, cand.sha],
        msg,
        env={**TRIAL_IDENTITY, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date},
    )
