"""What every stage of reading a configuration reports into: one :class:`Problem` per key path, kept
with the line of each key so that :meth:`Found.sorted` gives them in document order. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from ci_autoresearch import bounds
from ci_autoresearch.bounds import KeyPath
from ci_autoresearch.errors import ConfigError

__all__ = ["Found", "KeyPath", "Problem", "key_text"]


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One thing wrong with a configuration file; ``str()`` is the one-line form the CLI prints."""

    file: str
    key: str | None
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        return str(self.to_error())

    def to_error(self) -> ConfigError:
        return ConfigError(self.file, self.key, self.message, hint=self.hint)


def key_text(path: KeyPath) -> str:
    """``benchmark.metrics[1].source`` for ``("benchmark", "metrics", 1, "source")``; ``""`` for the
    top level (the message then names the file only)."""
    return bounds.format_path(path) if path else ""


class Found:
    """Problems keyed by path, one per key path, and the line of each key (for document order)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[KeyPath, int] = {}
        self.items: list[tuple[KeyPath, Problem]] = []
        self._keys: set[str | None] = set()

    def add(self, path: KeyPath | None, message: str, hint: str | None = None) -> None:
        key = None if path is None else key_text(path)
        if key in self._keys:
            return
        self._keys.add(key)
        self.items.append((path or (), Problem(file=self.file, key=key, message=message, hint=hint)))

    def line(self, path: KeyPath) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 0)

    def sorted(self) -> list[Problem]:
        order = sorted(range(len(self.items)), key=lambda i: (self.line(self.items[i][0]), i))
        return [self.items[i][1] for i in order]
