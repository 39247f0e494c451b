"""Protected paths (``gate.protected_paths``): what a candidate may not change, as git matches it.

Patterns are git pathspec globs relative to the repository root: ``*`` matches within one folder
(``tests/*`` is ``tests/a.py`` but not ``tests/unit/b.py``), ``**`` crosses folders
(``tests/**/conftest.py``), and a folder's name, with or without a trailing ``/``, covers everything
below it (``tests/``). Git itself does the matching (``:(top,glob)`` pathspecs).

Modifying or deleting a protected file makes the candidate ``invalid`` (anti metric-gaming: the
benchmark and the tests must stay as they are). Adding a new file under a protected folder is allowed —
a performance change often comes with a new regression test — except at a path a pattern names exactly
(protect ``tests/conftest.py`` by name and a candidate cannot create it either).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ci_autoresearch import git

_WILDCARDS = frozenset("*?[")


def violations(changes: Sequence[tuple[str, str]], patterns: Sequence[str]) -> list[str]:
    """The paths among ``changes`` (``(git status letter, path)``, already matched by ``patterns``)
    that break the protection: anything but an addition, or an addition at a path named exactly."""
    exact = {p.rstrip("/") for p in patterns if not _WILDCARDS & set(p)}
    return [path for status, path in changes if status != "A" or path in exact]


def protected_changes(repo: Path, base: str, candidate: str, patterns: Sequence[str]) -> list[str]:
    """The protected paths the candidate modified or deleted since it forked from ``base``."""
    return violations(git.changed_files(repo, base, candidate, patterns), patterns)
