"""Candidates from a search space: one commit per combination of parameter values, on the current best.

:func:`search_candidates` makes them without touching any worktree, the user's index or ``HEAD``. Each
parameter's ``pattern`` is a regular expression (compiled with ``re.MULTILINE``, so ``^``/``$`` match at
line boundaries) with at least one group; it is searched in the file's text at the base commit, and the
span of group 1 of the **first** match is replaced by the value (the value is inserted literally;
backslashes are not special). No match is an error, and so is a file that cannot be rewritten
faithfully (not UTF-8, or with CR line endings). The commits are deterministic (fixed author and
committer ``ci-autoresearch``, dates taken from the base commit), so the same values on the same base
always give the same sha and are never measured twice. Each commit is put on a branch
``<branch_prefix><name>-<value>[_<name>-<value>…]``, created or moved with ``update-ref``.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from ci_autoresearch import git
from ci_autoresearch.candidates.branches import BOT_EMAIL, BOT_NAME
from ci_autoresearch.config.model import SearchParameter, SearchSpaceConfig
from ci_autoresearch.errors import BadInputError
from ci_autoresearch.model import Candidate

MAX_GRID = 100_000
"""A search space with more combinations than this is refused (set ``limit`` with ``order: random``)."""


def combinations(space: SearchSpaceConfig) -> list[tuple[tuple[str, str], ...]]:
    """The combinations to try, each as ``((name, value), …)`` in the parameters' declared order.

    ``grid``: :func:`itertools.product` in declared order; ``random``: the grid shuffled with
    ``random.Random(seed)``; ``limit`` keeps the first ``limit`` of them.
    """
    size = 1
    for p in space.parameters:
        size *= len(p.values)
    if size > MAX_GRID:
        raise BadInputError(
            f"search_space: {size} combinations is more than {MAX_GRID}",
            hint="use fewer values per parameter",
        )
    names = [p.name for p in space.parameters]
    grid = [
        tuple(zip(names, values, strict=True))
        for values in itertools.product(*(p.values for p in space.parameters))
    ]
    if space.order == "random":
        random.Random(space.seed).shuffle(grid)
    if space.limit is not None:
        grid = grid[: max(space.limit, 0)]
    return grid


_UNSAFE = re.compile(r"[^A-Za-z0-9._+=/-]+")


def branch_name(prefix: str, combo: Sequence[tuple[str, str]]) -> str:
    """``<prefix><name>-<value>[_<name>-<value>…]`` made acceptable to git.

    Characters other than letters, digits and ``._+=/-`` become ``_``; ``..``, ``//``, a component
    starting with ``.`` or ending with ``.lock`` and a trailing ``.`` or ``/`` are repaired.
    """
    raw = prefix + "_".join(f"{name}-{value}" for name, value in combo)
    name = _UNSAFE.sub("_", raw)
    name = re.sub(r"/{2,}", "/", name)
    name = re.sub(r"\.{2,}", "_", name)
    parts = []
    for raw_part in name.split("/"):
        part = "_" + raw_part[1:] if raw_part.startswith(".") else raw_part
        if part.endswith(".lock"):
            part = part[: -len(".lock")] + "_lock"
        parts.append(part)
    name = "/".join(p for p in parts if p)
    name = name.rstrip("./")
    if name.startswith("-"):
        name = "_" + name[1:]
    return name or "autoresearch-search"


def _key(index: int) -> str:
    return f"search_space.parameters[{index}]"


def _base_texts(repo: Path, space: SearchSpaceConfig, base_sha: str) -> dict[str, str]:
    texts: dict[str, str] = {}
    for i, param in enumerate(space.parameters):
        if param.file in texts:
            continue
        text = git.file_at(repo, base_sha, param.file)
        if text is None:
            raise BadInputError(
                f"{_key(i)}.file: {param.file} does not exist in {git.short(base_sha)}",
                hint="the path is relative to the repository root",
            )
        size = git.file_size(repo, base_sha, param.file)
        if size != len(text.encode("utf-8")):
            raise BadInputError(
                f"{_key(i)}.file: {param.file} is not plain UTF-8 text with LF line endings; "
                "ci-autoresearch cannot rewrite it without changing other bytes"
            )
        texts[param.file] = text
    return texts


def _spans(space: SearchSpaceConfig, texts: Mapping[str, str]) -> list[tuple[int, int]]:
    """Where each parameter's value goes: the span of group 1 of its pattern's first match."""
    spans = []
    for i, param in enumerate(space.parameters):
        try:
            regex = re.compile(param.pattern, re.MULTILINE)
        except re.error as exc:
            raise BadInputError(f"{_key(i)}.pattern: not a valid regular expression: {exc}") from exc
        if regex.groups < 1:
            raise BadInputError(
                f"{_key(i)}.pattern: {param.pattern!r} has no group",
                hint="put the part to replace in parentheses, e.g. 'chunk = (\\d+)'",
            )
        match = regex.search(texts[param.file])
        if match is None or match.start(1) < 0:
            raise BadInputError(
                f"{_key(i)}.pattern: {param.pattern!r} matches nothing in {param.file}",
                hint="the pattern is searched in the file's text at the current best",
            )
        spans.append(match.span(1))
    by_file: dict[str, list[tuple[int, int, int]]] = {}
    for i, (param, (start, end)) in enumerate(zip(space.parameters, spans, strict=True)):
        by_file.setdefault(param.file, []).append((start, end, i))
    for items in by_file.values():
        items.sort()
        for (_, end_a, a), (start_b, _, b) in itertools.pairwise(items):
            if start_b < end_a:
                raise BadInputError(
                    f"{_key(b)}.pattern: its match overlaps the one of {_key(a)}.pattern "
                    f"in {space.parameters[b].file}"
                )
    return spans


def _render(
    params: Sequence[SearchParameter],
    spans: Sequence[tuple[int, int]],
    texts: Mapping[str, str],
    values: Sequence[str],
) -> dict[str, str]:
    """The new text of every file a combination changes (spans replaced from the end backwards)."""
    edits: dict[str, list[tuple[int, int, str]]] = {}
    for param, (start, end), value in zip(params, spans, values, strict=True):
        edits.setdefault(param.file, []).append((start, end, value))
    files = {}
    for path, items in edits.items():
        text = texts[path]
        for start, end, value in sorted(items, reverse=True):
            text = text[:start] + value + text[end:]
        files[path] = text
    return files


def search_candidates(
    repo: Path, space: SearchSpaceConfig, base_sha: str, *, env: Mapping[str, str]
) -> list[Candidate]:
    """One deterministic commit (and branch) per combination of the search space, on top of ``base_sha``.

    Everything is checked before any commit is made: a missing file, a pattern that does not compile,
    has no group, matches nothing or overlaps another one is a :class:`BadInputError` naming
    ``search_space.parameters[i]``. Combinations whose text equals the base (the value is already
    there) give no candidate. Branches are created or moved with ``update-ref``; the branch checked out
    in ``repo`` is never moved. ``env`` is the environment of the git processes that make the commits.
    """
    base_sha = git.resolve(repo, base_sha)
    combos = combinations(space)
    if not combos:
        return []
    texts = _base_texts(repo, space, base_sha)
    spans = _spans(space, texts)
    date = git.committer_date(repo, base_sha)
    checked_out = git.current_branch(repo)
    used: set[str] = set()
    out: list[Candidate] = []
    for combo in combos:
        values = [value for _, value in combo]
        files = _render(space.parameters, spans, texts, values)
        if all(files[path] == texts[path] for path in files):
            continue
        label = ",".join(f"{name}={value}" for name, value in combo)
        shown = ", ".join(f"{name}={value}" for name, value in combo)
        message = (
            f"autoresearch: {shown}\n\n"
            f"Search-space candidate: {shown} substituted into {', '.join(sorted(files))} "
            f"by ci-autoresearch.\n\n"
            f"Autoresearch-Source: search:{label}\n"
            f"Autoresearch-Base: {base_sha}\n"
        )
        sha = git.commit_files(
            repo, base_sha, files, message, name=BOT_NAME, email=BOT_EMAIL, date=date, env=env
        )
        branch = branch_name(space.branch_prefix, combo)
        if branch in used:  # two value sets sanitised to the same name
            branch = f"{branch}-{git.short(sha)}"
        if not git.is_valid_branch_name(repo, branch):
            raise BadInputError(
                f"search_space.branch_prefix: {branch!r} is not a valid git branch name",
                hint="use letters, digits, '-', '_' and '/' in the prefix",
            )
        if branch == checked_out:
            raise BadInputError(
                f"search_space.branch_prefix: {branch!r} is the branch checked out in {repo}; "
                "refusing to move it",
                hint="check out another branch, or choose another branch_prefix",
            )
        used.add(branch)
        git.update_ref(repo, f"refs/heads/{branch}", sha)
        out.append(Candidate(source=f"search:{label}", branch=branch, sha=sha, description=shown))
    return out
