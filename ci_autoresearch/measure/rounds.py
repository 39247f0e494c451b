"""The rounds of a measuring session: their order, the looks at which the decision is taken, rounds
added while it is inconclusive, and the time they are planned to fit in (``decision.max_seconds``).

A round is one run of each side (or, in worker mode, fresh worker processes timing blocks of calls),
in ABBA or seeded random order, so slow drifts of the machine hit both sides alike and rounds pair
up. At the looks of ``sequential.look_schedule`` the decision comes from
:func:`~ci_autoresearch.decide.verdict.decide`; rounds are added while it is inconclusive
(``stopping.rounds_to_add``), up to ``decision.max_rounds`` and within ``decision.max_seconds``. The
session around the rounds (checkouts, setup, gate, the ending) is :mod:`ci_autoresearch.measure.session`.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ci_autoresearch.config.model import Config
from ci_autoresearch.decide.sequential import look_schedule, paired_estimate
from ci_autoresearch.decide.stopping import next_look_in_time, rounds_to_add, rounds_within
from ci_autoresearch.decide.verdict import Decision, decide, resolution_text
from ci_autoresearch.measure.progress import Progress, ProgressFn
from ci_autoresearch.measure.sides import Side, SideName, SideRunner, measure_side, worker_round
from ci_autoresearch.measure.worker import WorkerRounds
from ci_autoresearch.model import Estimate, GateResult

GLANCE_SECONDS = 0.5
"""Between looks, the progress line shows the estimate at most this often: an estimate costs O(n²)
(the Walsh averages) and a repeated p-value, which at a few hundred short worker rounds would
otherwise take more CPU than the rounds themselves."""
GLANCE_SHARE = 0.05
"""...and glances take at most this share of the time: the next comes no sooner than the last one's
cost divided by it (at 800 rounds an estimate takes about 0.1 s here, so glances are 2 s apart)."""


@dataclass(kw_only=True)
class Session:
    """The state of one comparison while it measures: the sides and their samples, the rounds so far."""

    config: Config
    runner: SideRunner
    sides: dict[str, Side]
    workers: WorkerRounds | None
    paired: bool
    looks: tuple[int, ...]
    progress: ProgressFn
    rounds: int = 0
    gate: GateResult | None = None
    glanced: float = -math.inf  # when the progress line last showed an estimate (time.monotonic)
    glance_cost: float = 0.0  # the seconds that estimate took

    @property
    def measured(self) -> list[Side]:
        """The sides measured in this job: both, or the candidate only against a stored baseline."""
        return list(self.sides.values()) if self.paired else [self.sides["candidate"]]

    def decide(self) -> Decision:
        """The decision on the samples so far (:func:`~ci_autoresearch.decide.verdict.decide`)."""
        return decide(
            self.config,
            self.sides["baseline"].samples,
            self.sides["candidate"].samples,
            paired=self.paired,
            looks=self.looks,
        )


def round_order(
    order: str, rounds: int, rng: random.Random, *, start: int = 0
) -> Iterator[tuple[SideName, SideName]]:
    """The order of the two sides in each of ``rounds`` rounds from round ``start`` (0-based): ABBA
    alternates by the round's place in the session -- baseline first in rounds 0, 2, 4, ... whatever
    the looks that split them -- and random flips a seeded coin."""
    for i in range(start, start + rounds):
        if order == "random":
            first_base = rng.random() < 0.5
        else:
            first_base = i % 2 == 0
        yield ("baseline", "candidate") if first_base else ("candidate", "baseline")


def measure_until_decided(session: Session) -> Decision:
    """Rounds up to the first look, then more at each look while the objective is inconclusive."""
    config = session.config
    rng = random.Random(config.decision.seed)
    target = min(config.collection.measurement_runs, config.decision.max_rounds)
    timed = config.decision.max_seconds is not None  # rounds planned to a time limit
    started = time.perf_counter()
    while True:
        _play_rounds(session, target, rng)
        if session.rounds == session.looks[0] and timed:
            config = _plan_within(session, time.perf_counter() - started)
        decision = session.decide()
        if decision.resolution is not None and session.rounds == session.looks[0]:
            note = resolution_text(decision.resolution, min_effect=config.decision.min_effect)
            if timed:  # no futility stop: the note ends nothing
                note += " (projected from the first rounds; measuring goes on within decision.max_seconds)"
            session.progress(Progress(phase="note", round=session.rounds, message=note))
        objective = decision.metrics.get(config.objective.metric)
        more = rounds_to_add(
            objective.estimate if objective else None,
            decision.verdict,
            rounds=session.rounds,
            max_rounds=config.decision.max_rounds,
            min_effect=config.decision.min_effect,
            futility=not timed,
        )
        if more <= 0 or _out_of_time(session, session.rounds + more, time.perf_counter() - started):
            return decision
        target = session.rounds + more
        message = f"inconclusive after {session.rounds} rounds; adding {more}"
        session.progress(Progress(phase="extend", round=session.rounds, total=target, message=message))


def _plan_within(session: Session, elapsed: float) -> Config:
    """At the first look, lower ``max_rounds`` to the rounds that fit in ``decision.max_seconds`` at the
    pace so far (the looks are planned again, from durations only); the session's configuration."""
    config = session.config
    limit = config.decision.max_seconds
    assert limit is not None
    planned = rounds_within(
        limit, rounds=session.rounds, elapsed=elapsed, max_rounds=config.decision.max_rounds
    )
    if planned < config.decision.max_rounds:
        session.config = dataclasses.replace(
            config, decision=dataclasses.replace(config.decision, max_rounds=planned)
        )
        session.looks = look_schedule(session.looks[0], planned)
        message = (
            f"{session.rounds} rounds took {elapsed:.1f} s: at most {planned} rounds fit in "
            f"{limit:g} s (decision.max_seconds)"
        )
        session.progress(Progress(phase="note", round=session.rounds, message=message))
    return session.config


def _out_of_time(session: Session, target: int, elapsed: float) -> bool:
    """Whether the next look, at ``target`` rounds, would end after ``decision.max_seconds`` at the pace
    so far: then the session ends at this look (with a note); the verdict is this look's."""
    limit = session.config.decision.max_seconds
    if limit is None or next_look_in_time(limit, rounds=session.rounds, elapsed=elapsed, target=target):
        return False
    message = (
        f"{session.rounds} rounds took {elapsed:.1f} s: the next look, at {target} rounds, would end "
        f"after {limit:g} s (decision.max_seconds); ending at this look"
    )
    session.progress(Progress(phase="note", round=session.rounds, message=message))
    return True


def _play_rounds(session: Session, target: int, rng: random.Random) -> None:
    """Rounds until ``target``: each side once per round (the measured ones), in the configured order."""
    orders = round_order(session.config.decision.order, target - session.rounds, rng, start=session.rounds)
    for order in orders:
        names = [n for n in order if session.paired or n == "candidate"]
        label = f"round{session.rounds + 1}"
        if session.workers is not None:
            worker_round(session.workers, session.sides, names, label, then=f"round{session.rounds + 2}")
        else:
            for name in names:
                measure_side(session.runner, session.sides[name], label, record=True)
        session.rounds += 1
        estimate = None
        now = time.monotonic()
        if session.rounds in session.looks or glance_due(now, session.glanced, session.glance_cost):
            estimate = _objective_estimate(session.config, session.sides, session.looks)
            session.glanced, session.glance_cost = now, time.monotonic() - now
        session.progress(Progress(phase="round", round=session.rounds, total=target, estimate=estimate))


def glance_due(now: float, glanced: float, cost: float) -> bool:
    """Whether the progress line shows the estimate again, at ``now``: the last one was at ``glanced``
    and took ``cost`` seconds (:data:`GLANCE_SECONDS`, :data:`GLANCE_SHARE`)."""
    return now - glanced >= max(GLANCE_SECONDS, cost / GLANCE_SHARE)


def _objective_estimate(config: Config, sides: Mapping[str, Side], looks: tuple[int, ...]) -> Estimate | None:
    name = config.objective.metric
    b, c = sides["baseline"].samples.get(name, []), sides["candidate"].samples.get(name, [])
    if len(b) < 2 or len(b) != len(c) or min(b + c) <= 0:
        return None
    return paired_estimate(b, c, confidence=config.decision.confidence, looks=looks, interim=True)
