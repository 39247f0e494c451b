"""Where candidates come from: branches ranked by hypotheses (:mod:`.branches`), a search space
(:mod:`.search_space`), a generator command (:mod:`.generator`); all but the generator at once
(:mod:`.pool`). The package's facade names what the loop and the CI stages use."""

from ci_autoresearch.candidates.branches import BOT_EMAIL, BOT_NAME, branch_candidates, rank, trial_commit
from ci_autoresearch.candidates.generator import parse_branch_lines, run_propose
from ci_autoresearch.candidates.pool import gather
from ci_autoresearch.candidates.search_space import branch_name, combinations, search_candidates

__all__ = [
    "BOT_EMAIL",
    "BOT_NAME",
    "branch_candidates",
    "branch_name",
    "combinations",
    "gather",
    "parse_branch_lines",
    "rank",
    "run_propose",
    "search_candidates",
    "trial_commit",
]
