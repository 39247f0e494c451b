"""Bounds on everything that enters the tool: files, JSON and YAML documents, numbers, text.

Every input (the configuration, result files, evaluation notes, the event payload, benchmark output) can
be hostile or broken. Before anything parses it, it is checked here against documented limits:

* files: only regular files are read (``/dev/zero``, a FIFO or a directory are refused without blocking),
  and never more than a given number of bytes;
* nesting: JSON and YAML documents deeper than :data:`MAX_DEPTH` are refused before they are built
  (Python's parsers recurse and would fail with a ``RecursionError``);
* numbers: finite after conversion (``1e400`` is infinite as a float), integers of at most
  :data:`MAX_INT_DIGITS` digits, ``NaN`` / ``Infinity`` refused;
* text: NUL bytes refused (no process argument, environment variable or path can hold one);
* metric values: zero or a magnitude between :data:`MIN_METRIC` and :data:`MAX_METRIC`, so that the
  ratio of any two of them, its logarithm, sums of :data:`MAX_SAMPLES` of them and their squares stay
  finite; at most :data:`MAX_SAMPLES` samples per side, which the statistics judge in about a second.

Failures raise :class:`BoundsError` (a ``ValueError``) with a message fragment; callers add the file
and turn it into their own error type.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

MAX_DEPTH = 64
"""Deepest nesting of lists and mappings accepted in any JSON or YAML input."""
MAX_INT_DIGITS = 30
"""Longest integer literal accepted in JSON input (a 400-digit integer overflows every float)."""
MAX_SAMPLES = 1000
"""Most samples per side (rounds, runs) a result, comparison or evaluation may hold.

A paired decision on 1 000 rounds takes about half a second per metric on a shared runner, an unpaired
one about a second; 100 000 samples took over 100 s and 8 GB."""
MAX_METRIC = 1e150
"""Largest magnitude of a metric value. Together with :data:`MIN_METRIC`: ratios of two values lie
within 1e±300, so their logarithm and its exponential stay finite."""
MIN_METRIC = 1e-150
"""Smallest non-zero magnitude of a metric value."""
MAX_NUMBER = 2**53 - 1
"""Largest integer an identifier may be (pull request and run numbers, seeds): exact in every JSON reader."""
MAX_DERIVED = 1e300
"""Largest magnitude of any other number in a configuration or a document (medians, deltas, targets):
far from overflow when added, subtracted or converted to a float."""
MAX_TIMEOUT_SECONDS = 604_800.0
"""Longest timeout a configuration may set (a week); longer ones overflow the operating system's timers."""


class BoundsError(ValueError):
    """An input exceeds a documented bound. ``str()`` is a message fragment without the file."""


# --- files -------------------------------------------------------------------------------------------


def read_limited(path: Path, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes`` of them.

    Opened without blocking (a FIFO with no writer would block a plain ``open``), then refused unless
    ``fstat`` says it is a regular file: devices (``/dev/zero``), FIFOs, sockets and directories never
    end or are not documents. Raises :class:`BoundsError` for those and for a file that is too large,
    :class:`FileNotFoundError` when it does not exist, and :class:`OSError` for other failures.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except IsADirectoryError:
        raise BoundsError("is a directory, expected a regular file") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BoundsError(f"is {_kind(info.st_mode)}, expected a regular file")
        if info.st_size > max_bytes:
            raise BoundsError(f"is {info.st_size} bytes, more than the limit of {max_bytes}")
        chunks: list[bytes] = []
        total = 0
        while True:  # the file may grow while we read it: never read past the limit
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise BoundsError(f"is more than the limit of {max_bytes} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


# --- JSON --------------------------------------------------------------------------------------------

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def json_depth(text: str) -> int:
    """The deepest nesting of ``[`` / ``{`` in JSON text (strings skipped); linear, no recursion."""
    depth = deepest = 0
    for match in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> Any:
    raise BoundsError(f"{name} is not a finite number (JSON has no {name})")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise BoundsError(f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _lenient_int(text: str) -> int | float:
    return int(text) if len(text.lstrip("-")) <= MAX_INT_DIGITS else math.inf


EXTREME = 1e130
"""Numbers beyond ±EXTREME or closer than 1/EXTREME to zero are flagged by :func:`loads_json_flagged`
for the range checks of the caller (every bound here lies beyond them); the others need no check."""


def loads_json(text: str, *, max_depth: int = MAX_DEPTH, lenient_numbers: bool = False) -> Any:
    """``json.loads`` within bounds: nesting at most ``max_depth`` (checked before parsing), numbers
    finite, integers at most :data:`MAX_INT_DIGITS` digits, no ``NaN`` / ``Infinity``, no NUL byte in
    a string or a key. Raises :class:`BoundsError`, or ``json.JSONDecodeError`` for a syntax error.

    ``lenient_numbers`` (benchmark output, where only the value picked out is checked): ``NaN``,
    ``Infinity`` and overflowing numbers are read as non-finite floats instead of refused.
    """
    return loads_json_flagged(text, max_depth=max_depth, lenient_numbers=lenient_numbers)[0]


def loads_json_flagged(
    text: str, *, max_depth: int = MAX_DEPTH, lenient_numbers: bool = False
) -> tuple[Any, bool]:
    """:func:`loads_json`, and whether a number beyond :data:`EXTREME` (either way) was read: only then
    do the caller's range checks need to walk the document (reading 10 000 notes stays fast)."""
    if text.count("[") + text.count("{") > max_depth:  # else it cannot be nested that deep
        depth = json_depth(text)
        if depth > max_depth:
            raise BoundsError(f"nested {depth} levels deep, more than the limit of {max_depth}")
    extreme = False

    def number(token: str) -> float:
        nonlocal extreme
        value = float(token)
        magnitude = abs(value)
        if magnitude > EXTREME or 0.0 < magnitude < 1.0 / EXTREME:  # inf too (1e400)
            extreme = True
            if not lenient_numbers and not math.isfinite(value):
                raise BoundsError(f"{token[:40]} is not a finite number (too large for a float)")
        return value

    try:
        if lenient_numbers:
            doc = json.loads(text, parse_float=number, parse_int=_lenient_int)
        else:
            doc = json.loads(
                text, parse_constant=_refuse_constant, parse_float=number, parse_int=_bounded_int
            )
    except RecursionError:  # pragma: no cover - the depth check above comes first
        raise BoundsError(f"nested more than {max_depth} levels deep") from None
    if "\\u0000" in text:  # a NUL in a JSON string can only be written escaped
        where = first_nul(doc)
        if where is not None:
            raise BoundsError(f"{where}: contains a NUL byte")
    return doc, extreme


# --- walking documents -------------------------------------------------------------------------------

KeyPath = tuple[str | int, ...]


def format_path(path: KeyPath) -> str:
    """``("a", 0, "b")`` → ``a[0].b``; the empty path is ``(top level)``."""
    text = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _walk(doc: Any) -> Iterator[tuple[KeyPath, Any]]:
    """Every (key path, value) of a nested document, mapping keys included as values; iterative."""
    stack: list[tuple[KeyPath, Any]] = [((), doc)]
    while stack:
        where, value = stack.pop()
        yield where, value
        if isinstance(value, Mapping):
            for key, item in reversed(list(value.items())):
                child = (*where, key if isinstance(key, str | int) else str(key))
                yield child, key
                stack.append((child, item))
        elif isinstance(value, list | tuple):
            for i in range(len(value) - 1, -1, -1):
                stack.append(((*where, i), value[i]))


def problems(doc: Any, *, limit: float = MAX_DERIVED) -> Iterator[tuple[KeyPath, str]]:
    """(key path, message) for every string holding a NUL byte and every number (not a bool) that is
    not finite or whose magnitude exceeds ``limit``, in document order."""
    for where, value in _walk(doc):
        if isinstance(value, str):
            if "\x00" in value:
                yield where, "contains a NUL byte"
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if isinstance(value, float) and not math.isfinite(value):
                yield where, f"expected a finite number, got {value!r}"
            elif abs(value) > limit:
                yield where, f"expected a number within ±{limit:g}, got {show_number(value)}"


def first_nul(doc: Any) -> str | None:
    """The key path of the first string (value or key) holding a NUL byte, or None."""
    for where, value in _walk(doc):
        if isinstance(value, str) and "\x00" in value:
            return format_path(where)
    return None


def first_problem(doc: Any, *, limit: float = MAX_DERIVED) -> str | None:
    """``key: message`` for the first of :func:`problems`, or None."""
    for where, message in problems(doc, limit=limit):
        return f"{format_path(where)}: {message}"
    return None


def show_number(value: Any) -> str:
    """A number for a message, shortened (a 400-digit integer is not printed in full)."""
    text = repr(value)
    if len(text) > 24:
        digits = len(str(abs(value))) if isinstance(value, int) else len(text)
        return f"{text[:12]}… ({digits} digits)"
    return text


def metric_value_problem(value: float) -> str | None:
    """Why ``value`` cannot be a metric value, or None when it can (see :data:`MAX_METRIC`)."""
    if not math.isfinite(value):
        return f"{value!r} is not a finite number"
    magnitude = abs(value)
    if magnitude > MAX_METRIC:
        return f"{value:g} is larger in magnitude than the supported {MAX_METRIC:g}"
    if 0.0 < magnitude < MIN_METRIC:
        return f"{value:g} is closer to zero than the supported {MIN_METRIC:g} (and not 0)"
    return None


def samples_problem(values: Sequence[Any]) -> str | None:
    """Why a list of samples cannot be judged (too many, or a value out of range), or None."""
    if len(values) > MAX_SAMPLES:
        return f"{len(values)} samples, more than the supported {MAX_SAMPLES}"
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"[{i}]: {value!r} is not a number"
        problem = metric_value_problem(float(value))
        if problem:
            return f"[{i}]: {problem}"
    return None


# --- YAML --------------------------------------------------------------------------------------------


class DepthLimitedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses nesting deeper than :data:`MAX_DEPTH` while composing.

    PyYAML's scanner and parser are iterative; only composing the node tree recurses (several Python
    frames per level). Counting the levels there stops a 5 000-deep document long before Python's
    recursion limit, with a :class:`yaml.MarkedYAMLError` that names the line.
    """

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested more than {MAX_DEPTH} levels deep",
                    event.start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


__all__ = [
    "EXTREME",
    "MAX_DEPTH",
    "MAX_DERIVED",
    "MAX_INT_DIGITS",
    "MAX_METRIC",
    "MAX_NUMBER",
    "MAX_SAMPLES",
    "MAX_TIMEOUT_SECONDS",
    "MIN_METRIC",
    "BoundsError",
    "DepthLimitedLoader",
    "first_nul",
    "first_problem",
    "format_path",
    "json_depth",
    "loads_json",
    "loads_json_flagged",
    "metric_value_problem",
    "problems",
    "read_limited",
    "samples_problem",
    "show_number",
]
