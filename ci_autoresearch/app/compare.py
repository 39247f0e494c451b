"""``bench`` and ``compare``: measure one ref, or a candidate against a base (two refs measured
interleaved and recorded as a note, or two result files compared offline), and show the result."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from ci_autoresearch import git
from ci_autoresearch.app.workspace import (
    load_if_present,
    load_runnable,
    log_dir,
    repo_root,
    repo_root_or_none,
)
from ci_autoresearch.artifacts import comparison_to_json, dumps, result_to_json, write_json
from ci_autoresearch.console import echo, progress_printer, say_err
from ci_autoresearch.decide.offline import compare_results
from ci_autoresearch.errors import BadInputError, MeasurementError
from ci_autoresearch.history import recover
from ci_autoresearch.history.recorded import compare_and_record
from ci_autoresearch.measure.single import measure_ref
from ci_autoresearch.model import Comparison, Result
from ci_autoresearch.report.text import comparison_text, result_text


def bench(
    given: Path | None,
    ref: str | None,
    *,
    out: Path | None,
    as_json: bool,
    runs: int | None,
    env: Mapping[str, str],
) -> None:
    """Measure ``ref`` (None: the working tree as it is); a failed run still writes what it measured."""
    repo = repo_root()
    config = load_runnable(repo, given)
    progress = progress_printer(env)
    if ref is not None:
        recover.prune_stale(repo, say=say_err)
    try:
        result = measure_ref(
            repo, config, ref, env=env, log_dir=log_dir(repo, out, "bench"), runs=runs, progress=progress
        )
    except MeasurementError as err:
        if out is not None and isinstance(err.partial, Result) and err.partial.runs:
            write_json(out, result_to_json(err.partial))
            click.echo(f"partial result ({err.partial.runs} runs) written to {out}", err=True)
        raise
    emit(result_to_json(result), out, as_json, result_text(result), env=env)


def compare(
    given: Path | None,
    base: str,
    candidate: str,
    *,
    out: Path | None,
    as_json: bool,
    fresh: bool,
    env: Mapping[str, str],
) -> None:
    """Two refs measured interleaved (or their recorded evaluation), or two result files offline."""
    repo_or_none = repo_root_or_none()
    comparison: Comparison
    if offline_arguments(repo_or_none, base, candidate):
        comparison = compare_results(Path(base), Path(candidate), config=load_if_present(repo_or_none, given))
    else:
        repo = repo_root()
        config = load_runnable(repo, given)
        recover.prune_stale(repo, say=say_err)
        evaluated = compare_and_record(
            repo,
            config,
            base,
            candidate,
            env=env,
            log_dir=log_dir(repo, out, "compare"),
            progress=progress_printer(env),
            fresh=fresh,
        )
        comparison = evaluated.evaluation.comparison
        if evaluated.note:
            click.echo(evaluated.note, err=True)
    emit(comparison_to_json(comparison), out, as_json, comparison_text(comparison), env=env)


def offline_arguments(repo: Path | None, base: str, candidate: str) -> bool:
    """Whether BASE and CANDIDATE are two result files (offline) rather than git refs.

    A name git resolves is a ref, even when a file of that name exists (a file called ``main`` does
    not turn ``compare main feat`` into an offline comparison); two names that are not refs but are
    files are result files; a ref with a file, or a file with nothing, is an error.
    """
    refs = [repo is not None and git.try_resolve(repo, a) is not None for a in (base, candidate)]
    files = [Path(a).is_file() for a in (base, candidate)]
    if any(refs):
        if not all(refs) and any(files[i] and not refs[i] for i in (0, 1)):
            other = candidate if refs[0] else base
            raise BadInputError(
                f"{other}: expected a git ref like {base if refs[0] else candidate}, got a file",
                hint="compare two refs, or two result files from `bench --out`",
            )
        return False  # an unknown ref is named by compare_refs
    if any(files):
        if not all(files):
            missing = candidate if files[0] else base
            raise BadInputError(f"{missing}: expected a result file like the other argument (no such file)")
        return True
    return False


def emit(doc: dict[str, Any], out: Path | None, as_json: bool, text: str, *, env: Mapping[str, str]) -> None:
    """The document to ``out`` when given; on stdout the JSON or the table."""
    if out is not None:
        write_json(out, doc)
    if as_json:
        echo(dumps(doc), env=env, nl=False, is_json=True)
    else:
        echo(text, env=env, nl=False)
        if out is not None:
            click.echo(f"written to {out}")
