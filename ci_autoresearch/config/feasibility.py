"""Settings that can never give an answer: ``validate`` warns about them. Pure.

With few rounds a rank test cannot reach significance whatever the data: with Wilcoxon's exact test,
``n`` rounds that all agree give ``p = 2 / 2**n``, so at confidence 0.95 five rounds are never
significant and every candidate, even a steady −50 %, ends ``inconclusive``. Rather than restate the
statistics, this asks the decision itself (:func:`decide.decide`) about the clearest possible data: a
candidate that is better by far more than ``min_effect`` in every round.
"""

from __future__ import annotations

from ci_autoresearch.config.model import Config
from ci_autoresearch.decide.verdict import decide, pct

MAX_SEARCH = 1000
"""The most rounds tried when looking for the smallest count that can be significant."""


def _clear_win(config: Config) -> float:
    """A per-round ratio far beyond ``min_effect`` in the objective's good direction."""
    effect = config.decision.min_effect
    if config.objective.direction == "minimize":
        return 0.5 if effect <= 0.25 else (1.0 - effect) / 2.0
    return 1.5 if effect <= 0.25 else (1.0 + effect) * 2.0


def can_decide(config: Config, rounds: int) -> bool:
    """Whether ``rounds`` rounds of a steady, large win are judged ``improved``."""
    name = config.objective.metric
    ratio = _clear_win(config)
    baseline = {name: [1.0] * rounds}
    candidate = {name: [ratio] * rounds}
    return decide(config, baseline, candidate, paired=True).verdict == "improved"


def fewest_rounds(config: Config, *, limit: int = MAX_SEARCH) -> int | None:
    """The smallest round count at which a steady, large win is ``improved``; None up to ``limit``."""
    for rounds in range(2, limit + 1):
        if can_decide(config, rounds):
            return rounds
    return None


def warnings(config: Config) -> list[str]:
    """One line per setting that makes every verdict ``inconclusive`` (key first)."""
    rounds = config.decision.max_rounds
    if can_decide(config, rounds):
        return []
    need = fewest_rounds(config)
    change = pct(_clear_win(config) - 1.0)
    confidence = f"{config.decision.confidence:g}"
    if need is None:
        return [
            f"decision.max_rounds: {rounds} rounds never reach significance at confidence {confidence}: "
            f"even a steady {change} would be inconclusive (nor would it within {MAX_SEARCH} rounds)"
        ]
    return [
        f"decision.max_rounds: {rounds} rounds can never reach significance at confidence {confidence}: "
        f"even a steady {change} ends inconclusive; it takes at least {need} rounds "
        f"(set max_rounds to {need} or more)"
    ]


__all__ = ["can_decide", "fewest_rounds", "warnings"]
