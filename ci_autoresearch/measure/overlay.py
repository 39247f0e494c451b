"""The benchmark's own files from one fixed source, laid over both checkouts (``benchmark.from``).

Comparing two commits needs the same benchmark on both sides: upstream history may not have the
benchmark yet, and a pull request that improves the benchmark itself cannot be judged with two
different benchmarks. With ``benchmark.from`` the files matching ``benchmark.files`` (git pathspec
globs, as in :mod:`ci_autoresearch.measure.protect`) are taken from one source —

* ``candidate``: the candidate commit (a PR that changes its benchmark is measured with the new one on
  both sides),
* ``base``: the baseline commit,
* ``working-tree``: the files as they are on disk now, committed or not,
* any other value: a git ref (a branch, a tag, a sha), resolved when the measurement starts —

and written into each checkout in place of that side's own copies (files of the side that match the
patterns but are not in the source are removed). Their content is identified by the sha of a git tree
holding exactly those files; it is recorded in the result (``benchmark.sha``) and is part of the
evaluation key, so changing the benchmark means measuring again.

All of it is git plumbing with a temporary index: the user's index, ``HEAD`` and working tree are never
touched (``working-tree`` only reads it).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from ci_autoresearch import git
from ci_autoresearch.config.model import BenchmarkConfig
from ci_autoresearch.errors import BadInputError, GitError
from ci_autoresearch.model import BenchmarkFiles


@contextmanager
def _index(env: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """``env`` for git commands working on a fresh temporary index."""
    with tempfile.TemporaryDirectory(prefix="autoresearch-overlay-") as tmp:
        yield {**env, "GIT_INDEX_FILE": str(Path(tmp) / "index")}


def _entries(repo: Path, commit: str, patterns: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """The index entries (``mode sha stage<TAB>path``) of the files of ``commit`` matching ``patterns``
    (``ls-tree`` does not take glob pathspecs, ``ls-files`` on a temporary index does)."""
    with _index(env) as index_env:
        git.read_tree(repo, commit, env=index_env)
        return git.index_entries(repo, patterns, env=index_env)


def _tree_of_commit(repo: Path, commit: str, patterns: Sequence[str], env: Mapping[str, str]) -> str | None:
    """A tree holding the files of ``commit`` that match ``patterns``; None when none does."""
    entries = _entries(repo, commit, patterns, env)
    if not entries:
        return None
    with _index(env) as index_env:
        git.update_index_info(repo, entries, env=index_env)
        return git.write_tree(repo, env=index_env)


def _tree_of_working_tree(repo: Path, patterns: Sequence[str], env: Mapping[str, str]) -> str | None:
    """A tree holding the files on disk that match ``patterns`` (tracked or not, unless ignored)."""
    paths = sorted({p for p in git.listed_files(repo, patterns) if (repo / p).is_file()})
    if not paths:
        return None
    with _index(env) as index_env:
        git.add_force(repo, paths, env=index_env)
        return git.write_tree(repo, env=index_env)


def _commit_of(repo: Path, source: str, *, base_sha: str, cand_sha: str) -> str:
    if source == "candidate":
        return cand_sha
    if source == "base":
        return base_sha
    try:
        return git.resolve(repo, source)
    except GitError:
        raise BadInputError(
            f"benchmark.from: unknown git ref {source!r}",
            hint="candidate, base, working-tree, or a branch, tag or sha of this repository",
        ) from None


def resolve(
    repo: Path, benchmark: BenchmarkConfig, *, base_sha: str, cand_sha: str, env: Mapping[str, str]
) -> BenchmarkFiles | None:
    """The benchmark files both sides will run (None without ``benchmark.from``).

    Raises :class:`BadInputError` for an unknown ref, or when the patterns match no file in the source.
    """
    source = benchmark.source
    if source is None:
        return None
    if source == "working-tree":
        tree = _tree_of_working_tree(repo, benchmark.files, env)
        where = "the working tree"
    else:
        commit = _commit_of(repo, source, base_sha=base_sha, cand_sha=cand_sha)
        tree = _tree_of_commit(repo, commit, benchmark.files, env)
        where = f"{source} ({git.short(commit)})"
    if tree is None:
        raise BadInputError(
            f"benchmark.files: no file matches {', '.join(benchmark.files)} in {where} (benchmark.from)"
        )
    return BenchmarkFiles(source=source, sha=tree, patterns=benchmark.files)


def apply(
    repo: Path, files: BenchmarkFiles | None, checkout: Path, side_sha: str, *, env: Mapping[str, str]
) -> None:
    """Lay ``files`` over ``checkout`` (a checkout of ``side_sha``): the side's own files matching the
    patterns are removed, then the source's files are written. Nothing happens for ``None``."""
    if files is None:
        return
    for entry in _entries(repo, side_sha, files.patterns, env):
        (checkout / entry.split("\t", 1)[1]).unlink(missing_ok=True)
    with _index(env) as index_env:
        git.read_tree(repo, files.sha, env=index_env)
        git.checkout_index(repo, checkout, env=index_env)


def key_part(files: BenchmarkFiles | None) -> str | None:
    """What the benchmark adds to an evaluation key (its tree sha), None without ``benchmark.from``."""
    return None if files is None else files.sha
