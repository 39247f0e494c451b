"""Keep or discard: the one place that turns measured comparisons into decisions. Pure.

The local loop, ``publish`` (the GitHub path) and ``compare`` all build their evaluations here and
decide here, so the same samples always give the same decision wherever they were measured:

* a batch (one round of the loop, or the candidates of one scheduled run): the best significant winner
  is kept, every other candidate is discarded with its reason (:func:`decide_batch`);
* a labelled pull request on its own: an improvement waits for a person's review and merge (pending),
  anything else is discarded with its verdict as the reason (:func:`decide_pull`).

Which discarded verdicts close a candidate's pull request is decided here too (:func:`closes`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ci_autoresearch.config.model import Config
from ci_autoresearch.decide.stats import summary
from ci_autoresearch.decide.verdict import Decision, comparison_of
from ci_autoresearch.model import (
    Candidate,
    Comparison,
    Direction,
    Environment,
    Evaluation,
    GateResult,
    RefInfo,
    Verdict,
)

CLOSING_VERDICTS: frozenset[Verdict] = frozenset({"regressed", "invalid", "rejected"})
"""Definitive verdicts against a candidate: only these close its pull request (never inconclusive)."""


def pending(
    comparison: Comparison,
    candidate: Candidate,
    *,
    key: str,
    iteration: int,
    seconds: float,
    round_no: int = 0,
) -> Evaluation:
    """The evaluation of ``candidate`` before any decision (``pending``)."""
    obj = comparison.objective_metric
    value = summary(obj.candidate)["median"] if obj is not None and obj.candidate else None
    return Evaluation(
        comparison=comparison,
        decision="pending",
        decision_reason="",
        iteration=iteration,
        key=key,
        source=candidate.source,
        candidate_head=candidate.sha,
        objective_value=value,
        measured_seconds=seconds,
        round=round_no,
    )


def conflict(
    config: Config, *, best: RefInfo, candidate: Candidate, environment: Environment, now: str
) -> Comparison:
    """The ``invalid`` comparison of a candidate that does not merge onto the best (nothing measured)."""
    name = candidate.branch or candidate.source
    reason = f"{name} does not merge cleanly onto the current best ({best.sha[:8]})"
    return comparison_of(
        config,
        Decision(verdict="invalid", reason=reason, metrics={}),
        baseline=best,
        candidate=RefInfo(ref=name, sha=candidate.sha),
        gate=GateResult(command=None, passed=False, reason="merge conflict"),
        rounds=0,
        environment=environment,
        started_at=now,
        finished_at=now,
    )


def _gain(ev: Evaluation, direction: Direction) -> float:
    """How much better the candidate is (larger is better), by the objective's point estimate."""
    obj = ev.comparison.objective_metric
    if obj is None or obj.estimate is None:
        return 0.0
    return -obj.estimate.delta if direction == "minimize" else obj.estimate.delta


def decide_batch(measured: Sequence[Evaluation], *, direction: Direction) -> list[Evaluation]:
    """Decide every pending evaluation of one batch; already-decided ones are returned as they are.

    The pending ``improved`` candidate with the largest gain is kept (ties: the first measured); every
    other pending one is discarded -- an improvement beaten in the same batch says by which candidate.
    """
    winners = [ev for ev in measured if ev.decision == "pending" and ev.comparison.verdict == "improved"]
    winner = max(winners, key=lambda ev: _gain(ev, direction)) if winners else None
    out = []
    for ev in measured:
        if ev.decision != "pending":
            out.append(ev)
        elif ev is winner:
            out.append(
                dataclasses.replace(ev, decision="kept", decision_reason=f"kept: {ev.comparison.reason}")
            )
        elif ev.comparison.verdict == "improved" and winner is not None:
            out.append(
                dataclasses.replace(
                    ev,
                    decision="discarded",
                    decision_reason=(
                        f"improved, but {winner.comparison.candidate.ref} improved more in the same round"
                    ),
                )
            )
        else:
            out.append(_discard(ev))
    return out


def decide_pull(ev: Evaluation) -> Evaluation:
    """A labelled pull request: an improvement waits for review and merge; anything else is discarded."""
    if ev.decision != "pending":
        return ev
    if ev.comparison.verdict == "improved":
        return dataclasses.replace(ev, decision_reason="improved: awaiting review and merge")
    return _discard(ev)


def _discard(ev: Evaluation) -> Evaluation:
    c = ev.comparison
    return dataclasses.replace(ev, decision="discarded", decision_reason=f"{c.verdict}: {c.reason}")


def closes(ev: Evaluation) -> bool:
    """Whether a discarded evaluation is definitive enough to close its candidate's pull request."""
    return ev.decision == "discarded" and ev.comparison.verdict in CLOSING_VERDICTS
