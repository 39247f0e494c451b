"""What every parser of benchmark output shares: numbers, units, errors and picking one entry by name.

Benchmark output is untrusted: numbers must be plain and finite, JSON is nesting-capped, names shown
in messages are shortened.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ci_autoresearch import bounds

NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
"""A plain decimal number (exponent allowed; no units, no thousands separators)."""
_NUMBER_RE = re.compile(rf"\A{NUMBER}\Z")
_NONFINITE_RE = re.compile(r"\A[+-]?(?:nan|inf|infinity)\Z", re.IGNORECASE)

MAX_FILE_BYTES = 64 * 1024 * 1024
"""Result files larger than this are refused (benchmark output is untrusted)."""

TIME_UNITS: Mapping[str, float] = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
SIZE_UNITS: Mapping[str, float] = {
    "B": 1.0,
    "bytes": 1.0,
    "KB": 1e3,
    "KiB": 1024.0,
    "MB": 1e6,
    "MiB": 1024.0**2,
    "GB": 1e9,
    "GiB": 1024.0**3,
}


class ParseError(ValueError):
    """The text does not hold what was asked for. ``str()`` is a message fragment, without the metric."""


class NotFoundError(ParseError):
    """The value is absent (as opposed to present but malformed)."""


def quote(value: str, limit: int = 40) -> str:
    """``'value'`` for a message, shortened: benchmark output is untrusted and may be long."""
    text = value if len(value) <= limit else value[: limit - 1] + "…"
    return "'" + text.replace("\n", "\\n") + "'"


def shown_names(names: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "")


def to_number(value: object, what: str) -> float:
    """``value`` (a JSON value or a token of text) as a finite float, else :class:`ParseError`."""
    if isinstance(value, bool):
        raise ParseError(f"{what} is {json.dumps(value)}, not a number")
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        shown = str(value)
    elif isinstance(value, str):
        token = value.strip()
        if _NUMBER_RE.match(token) or _NONFINITE_RE.match(token):
            number = float(token)
        else:
            raise ParseError(f"{what} is {quote(value)}, not a number")
        shown = token
    elif value is None:
        raise ParseError(f"{what} is null, not a number")
    else:
        kind = "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else "a value"
        raise ParseError(f"{what} is {kind}, not a number")
    if not math.isfinite(number):
        raise ParseError(f"{what} is {shown}, not a finite number")
    return number


def load_json(text: str) -> Any:
    try:
        return bounds.loads_json(text, lenient_numbers=True)  # nesting capped before parsing
    except json.JSONDecodeError as exc:
        raise ParseError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except bounds.BoundsError as exc:
        raise ParseError(f"not valid JSON ({exc})") from None


def select_one(entries: Sequence[tuple[Sequence[str], Any]], name: str | None, *, what: str) -> Any:
    """The item whose aliases include ``name`` (the only item when ``name`` is None).

    ``entries``: ``(aliases, item)``; ``aliases[0]`` is the name shown in messages.
    """
    shown = [aliases[0] for aliases, _ in entries]
    if name is None:
        if len(entries) == 1:
            return entries[0][1]
        if not entries:
            raise NotFoundError(f"holds no {what}")
        raise ParseError(f"holds {len(entries)} {what}s; set `path:` to one of: {shown_names(shown)}")
    matches = [(aliases, item) for aliases, item in entries if name in aliases]
    if len(matches) == 1:
        return matches[0][1]
    if not matches:
        available = f"available: {shown_names(shown)}" if shown else f"it holds no {what}"
        raise NotFoundError(f"no {what} named {quote(name, 80)}; {available}")
    full = [aliases[-1] for aliases, _ in matches]
    raise ParseError(
        f"{len(matches)} {what}s are named {quote(name, 80)}; set `path:` to one of: {shown_names(full)}"
    )


def statistic(stats: Mapping[str, Any], field: str, *, allowed: Sequence[str], what: str) -> float:
    if field not in stats:
        raise ParseError(f"{field!r} is not a statistic of {what}; expected one of: {', '.join(allowed)}")
    return to_number(stats[field], f"{field!r} of {what}")
