"""Every candidate there is, for the loop and for a scheduled CI run alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ci_autoresearch.candidates.branches import branch_candidates
from ci_autoresearch.candidates.search_space import search_candidates
from ci_autoresearch.config.model import Config
from ci_autoresearch.model import Candidate


def gather(
    repo: Path, config: Config, *, base_sha: str, exclude: Sequence[str], env: Mapping[str, str]
) -> list[Candidate]:
    """The branches matching ``candidates.branches`` minus ``exclude`` (best hypotheses first), then the
    search-space points made on ``base_sha``. The search space's own branches are left out of the
    first part: they are made again, on this base, in the second."""
    pool = branch_candidates(repo, config.candidates.branches, config.hypotheses, exclude=exclude)
    if config.search_space is not None:
        generated = config.search_space.branch_prefix
        pool = [c for c in pool if not (c.branch or "").startswith(generated)]
        pool += search_candidates(repo, config.search_space, base_sha, env=env)
    return pool
