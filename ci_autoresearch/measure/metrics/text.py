"""Metrics printed by the benchmark: ``METRIC name=value`` lines or a regex (``stdout``), and a number at
a dotted path of a JSON document (``json``)."""

from __future__ import annotations

import re
from typing import Any

from ci_autoresearch.measure.metrics.numbers import (
    NotFoundError,
    ParseError,
    load_json,
    shown_names,
    to_number,
)


def default_stdout_pattern(name: str) -> str:
    """The regex for ``METRIC <name>=<value>`` lines; the group is the value's token."""
    return rf"^[ \t]*METRIC[ \t]+{re.escape(name)}[ \t]*=[ \t]*(\S*)"


def parse_stdout(text: str, name: str, pattern: str | None = None) -> float:
    """The metric ``name`` from benchmark output: the last ``METRIC name=value`` line, or the last
    match of ``pattern`` (exactly one group, the value; matched with ``re.MULTILINE``)."""
    regex_text = pattern if pattern is not None else default_stdout_pattern(name)
    try:
        regex = re.compile(regex_text, re.MULTILINE)
    except re.error as exc:
        raise ParseError(f"pattern /{regex_text}/ is not a valid regular expression ({exc})") from None
    if regex.groups != 1:
        raise ParseError(
            f"pattern /{regex_text}/ must have exactly one group (the value); it has {regex.groups}"
        )
    last: str | None = None
    for match in regex.finditer(text):
        last = match.group(1)
    if last is None:
        if pattern is None:
            raise NotFoundError(f"no line `METRIC {name}=<number>` in the benchmark's stdout")
        raise NotFoundError(f"pattern /{regex_text}/ matched nothing in the benchmark's stdout")
    return to_number(last, "the value")


def parse_json_path(text: str, path: str) -> float:
    """The number at dotted ``path`` (``a.b.0.c``; list indices may be negative) of a JSON document."""
    node: Any = load_json(text)
    walked: list[str] = []
    for segment in path.split("."):
        where = ".".join(walked) or "the document"
        if isinstance(node, dict):
            if segment not in node:
                keys = [str(k) for k in node]
                hint = f"keys: {shown_names(keys)}" if keys else "it is empty"
                raise NotFoundError(f"no key {path!r}: {where!r} has no key {segment!r} ({hint})")
            node = node[segment]
        elif isinstance(node, list):
            try:
                index = int(segment)
            except ValueError:
                raise NotFoundError(
                    f"no key {path!r}: {where!r} is a list, {segment!r} is not an index"
                ) from None
            if not -len(node) <= index < len(node):
                raise NotFoundError(f"no key {path!r}: {where!r} has {len(node)} items, no index {index}")
            node = node[index]
        else:
            raise NotFoundError(f"no key {path!r}: {where!r} is not an object or a list")
        walked.append(segment)
    return to_number(node, repr(path))
