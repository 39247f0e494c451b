"""Text cut to what GitHub accepts: one line, a length, markdown that stays well formed when cut."""

from __future__ import annotations


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line (whitespace runs made one space), cut to ``limit`` characters."""
    return cut(" ".join(str(text).split()), limit)


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the last one an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fit_markdown(text: str, limit: int, *, note: str) -> str:
    """``text`` cut to ``limit`` characters at a line end, open code fences and ``<details>`` closed."""
    if len(text) <= limit:
        return text
    tail = f"\n\n{note}\n"
    room = limit - len(tail) - len("\n```\n</details>\n")
    head = text[:room]
    if "\n" in head:
        head = head[: head.rindex("\n")]
    if head.count("```") % 2:
        head += "\n```"
    if head.count("<details") > head.count("</details>"):
        head += "\n</details>"
    return head + tail
