"""``history`` and ``status``: the recorded evaluations (git notes, which may come from a remote: their text
is untrusted and printed inert), as a table, JSON, a chart or a plot, and where the loop stands."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import click

from ci_autoresearch.app.workspace import load_if_present, repo_root
from ci_autoresearch.console import echo
from ci_autoresearch.history import notes
from ci_autoresearch.report import views
from ci_autoresearch.report.text import history_text


def history(
    given: Path | None, *, as_json: bool, chart: Path | None, plot: Path | None, env: Mapping[str, str]
) -> None:
    """The evaluations oldest first; ``chart`` and ``plot`` also write a Markdown chart and a PNG."""
    repo = repo_root()
    hist = notes.load(repo)
    config = load_if_present(repo, given)
    evaluations = hist.latest()
    for problem in hist.problems:
        echo(f"warning: {problem}", env=env, err=True)
    if chart is not None:
        chart.write_text(views.chart_markdown(evaluations, config))
        click.echo(f"chart written to {chart}", err=True)
    if plot is not None:
        views.plot_png(evaluations, config, plot)
        click.echo(f"plot written to {plot}", err=True)
    if as_json:
        echo(views.history_json_text(evaluations), env=env, nl=False, is_json=True)
    else:
        echo(history_text(evaluations), env=env, nl=False)


def status(given: Path | None, *, as_json: bool, env: Mapping[str, str]) -> None:
    """Iterations, best so far, streak, time and convergence, as text or ``status@1`` JSON."""
    repo = repo_root()
    config = load_if_present(repo, given)
    doc = views.status_json(notes.load(repo).latest(), config)
    if as_json:
        echo(json.dumps(doc, indent=2), env=env, is_json=True)
    else:
        echo(views.status_text(doc), env=env, nl=False)
