"""When a measuring session adds rounds: the adaptive rule, with futility, and what the noise lets a
session resolve by its last look. Pure.

The looks themselves and the intervals that hold over all of them are in
:mod:`ci_autoresearch.decide.sequential`.
"""

from __future__ import annotations

import math
from dataclasses import replace

from ci_autoresearch.decide.sequential import extra_rounds
from ci_autoresearch.model import Estimate

# --------------------------------------------------------------------------------------------------
# the adaptive rule of a session


def _final_half_width(estimate: Estimate, max_rounds: int) -> float | None:
    """The half-width (log scale) the interval is expected to have at ``max_rounds`` rounds."""
    look = estimate.look
    if look is None or not math.isfinite(look.se):
        return None
    return look.final_boundary * look.se * math.sqrt(estimate.n / max(max_rounds, estimate.n))


#: The share of ``decision.max_seconds`` the first look plans rounds for: the rest absorbs a pace that
#: slows later (a busier machine); :func:`next_look_in_time` ends a session that is slower even so.
PLAN_SHARE = 0.9


def rounds_within(
    seconds: float, *, rounds: int, elapsed: float, max_rounds: int, share: float = PLAN_SHARE
) -> int:
    """The rounds that fit in ``share`` of ``seconds`` of measuring at the pace so far (``rounds`` took
    ``elapsed`` seconds, calibration included): at least ``rounds``, at most ``max_rounds``.

    A session plans its remaining looks with it once, at its first look, from how long its rounds took
    -- never from what they measured -- so the looks are still fixed before any verdict can be read
    (``decision.max_seconds``).
    """
    if rounds <= 0 or elapsed <= 0.0 or not math.isfinite(elapsed):
        return max_rounds
    return max(rounds, min(max_rounds, math.floor(share * seconds * rounds / elapsed)))


def next_look_in_time(seconds: float, *, rounds: int, elapsed: float, target: int) -> bool:
    """Whether a session whose ``rounds`` took ``elapsed`` seconds (calibration included) reaches its
    next look, at ``target`` rounds, within ``seconds`` at that pace.

    When it would not, the session ends at the look it is at (``decision.max_seconds``). Ending at a
    look is decided from durations only, and a look's boundary holds whether or not later looks come,
    so the verdict's error rate holds; the verdict is the one at this look.
    """
    if rounds <= 0 or not math.isfinite(elapsed):
        return True
    return elapsed * target / rounds <= seconds


def resolution(estimate: Estimate, *, max_rounds: int) -> float | None:
    """The smallest change the session can tell apart by ``max_rounds`` rounds, at the noise seen so
    far: the relative half-width its interval is expected to have then (``0.03``: about ±3 %).

    An effect must exceed ``min_effect`` by about this much to come out improved or regressed; a
    session can end ``unchanged`` only when it is below ``min_effect``. None before the noise is known
    (fewer than 3 rounds).
    """
    half = _final_half_width(estimate, max_rounds)
    return None if half is None else math.expm1(half)


def rounds_for(estimate: Estimate, *, resolution_wanted: float, max_rounds: int) -> int | None:
    """About how many rounds would bring the resolution down to ``resolution_wanted`` (at this noise)."""
    now = resolution(estimate, max_rounds=max_rounds)
    if now is None or resolution_wanted <= 0.0:
        return None
    ratio = math.log1p(now) / math.log1p(resolution_wanted)
    return max(max_rounds, math.ceil(max_rounds * ratio * ratio))


def verdict_reachable(estimate: Estimate, *, min_effect: float, max_rounds: int) -> bool:
    """Whether some verdict (improved, regressed or unchanged) can still be reached by ``max_rounds``.

    Futility check for adaptive rounds. The interval is projected to ``max_rounds`` (its width at the
    last look, :func:`resolution`) and the estimate may still move by one current standard error in
    either direction; if even then the interval could neither clear the ±``min_effect`` band on one
    side nor fit inside it, more rounds would end ``inconclusive`` anyway and are not spent. At the
    first look the noise is known roughly (ten rounds, an outlier or two among them with heavy-tailed
    noise such as worker processes have), so the projection assumes it may be half what was seen.
    Stopping early for futility never makes a verdict less reliable (the intervals hold at every look).
    """
    n = estimate.n
    if n >= max_rounds:
        return False
    if estimate.look is not None and estimate.look.index == 0:
        estimate = replace(estimate, look=replace(estimate.look, se=estimate.look.se / 2.0))
    half = _final_half_width(estimate, max_rounds)
    if half is None or estimate.look is None:
        return True  # the noise is not known yet
    d = math.log(estimate.ratio)
    slack = estimate.look.se
    lo_band, hi_band = math.log1p(-min_effect), math.log1p(min_effect)
    below = d - slack + half < lo_band
    above = d + slack - half > hi_band
    inside = max(d - slack, lo_band + half) <= min(d + slack, hi_band - half)
    return below or above or inside


def rounds_to_add(
    estimate: Estimate | None,
    verdict: str,
    *,
    rounds: int,
    max_rounds: int,
    min_effect: float,
    futility: bool = True,
) -> int:
    """The adaptive rule of a measuring session: how many rounds to add after deciding on ``rounds``.

    None while a verdict other than ``inconclusive`` stands; ``extra_rounds`` while one can still be
    reached (:func:`verdict_reachable`); none once it cannot. ``futility=False``: rounds are added
    while inconclusive, reachable or not -- a session whose rounds are planned to a time limit
    (``decision.max_seconds``) uses its time, since stopping early would save little of it and cost
    verdicts (``docs/performance.md``).
    """
    if verdict != "inconclusive":
        return 0
    more = extra_rounds(rounds, max_rounds)
    if (
        more
        and futility
        and estimate is not None
        and not verdict_reachable(estimate, min_effect=min_effect, max_rounds=max_rounds)
    ):
        return 0
    return more
