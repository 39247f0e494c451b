"""The command line: Click only. Each command turns its options into one call of the module of its box.

Errors are caught in one place: :class:`_Group` runs every command inside :func:`console.exit_codes`.
Commands import their modules when they run, so that ``--help`` stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from ci_autoresearch import __version__
from ci_autoresearch.console import exit_codes

DEFAULT_CONFIG = ".autoresearch.yml"


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug")) or os.environ.get("AUTORESEARCH_DEBUG") == "1"
        with exit_codes(ctx, debug=debug):
            return super().invoke(ctx)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ci-autoresearch")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help=f"Configuration file for every command (default: {DEFAULT_CONFIG} at the repository root).",
)
def cli(debug: bool, config_path: Path | None) -> None:
    """Benchmark candidate branches against the baseline, keep only real wins.

    \b
    Exit codes: 0 done (any verdict), 2 bad input (config, refs, files),
    3 the measurement failed, 4 GitHub failed,
    130 / 143 / 129 interrupted by SIGINT / SIGTERM / SIGHUP.
    """


def _group_config(ctx: click.Context, _: click.Parameter, value: Path | None) -> Path | None:
    """``-c`` after the subcommand wins; else the one given before it (``ci-autoresearch -c F run``)."""
    if value is not None:
        return value
    given: Path | None = ctx.find_root().params.get("config_path")
    return given


config_option = click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    callback=_group_config,
    help=f"Configuration file (default: {DEFAULT_CONFIG} at the repository root).",
)


def _environ() -> dict[str, str]:
    return dict(os.environ)


@cli.command()
@config_option
@click.option("--force", is_flag=True, help="Overwrite an existing configuration (and workflow files).")
@click.option("--github", is_flag=True, help="Also write the GitHub workflows into .github/workflows/.")
def init(config_path: Path | None, force: bool, github: bool) -> None:
    """Write a .autoresearch.yml proposed from what the repository has.

    \b
    An existing pytest-benchmark, asv, hyperfine or Google Benchmark setup becomes the metric,
    the test command the gate, the benchmark's files protected paths. With nothing found, a
    commented starter. --github also writes the workflow files.
    """
    from ci_autoresearch.app.adopt import init as init_repo

    init_repo(config_path, force=force, github=github, env=_environ())


@cli.command()
@config_option
def validate(config_path: Path | None) -> None:
    """Check a configuration; one line per problem. Exit 0 when valid, 2 when not."""
    from ci_autoresearch.app.validate import validate as validate_config

    validate_config(config_path, env=_environ())


@cli.command()
@config_option
@click.argument("ref", required=False)
@click.option("--out", type=click.Path(path_type=Path), help="Write the result@1 JSON here.")
@click.option("--json", "as_json", is_flag=True, help="Print the result@1 JSON instead of the table.")
@click.option(
    "--runs", type=click.IntRange(min=1, max=1000), help="Runs after warm-up (default: measurement_runs)."
)
def bench(
    config_path: Path | None, ref: str | None, out: Path | None, as_json: bool, runs: int | None
) -> None:
    """Measure one ref (default: the working tree as it is) and write a result."""
    from ci_autoresearch.app import compare as app

    app.bench(config_path, ref, out=out, as_json=as_json, runs=runs, env=_environ())


@cli.command()
@config_option
@click.argument("base")
@click.argument("candidate")
@click.option("--out", type=click.Path(path_type=Path), help="Write the comparison@1 JSON here.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison@1 JSON instead of the table.")
@click.option("--fresh", is_flag=True, help="Measure again even when this pair's evaluation is recorded.")
def compare(
    config_path: Path | None, base: str, candidate: str, *, out: Path | None, as_json: bool, fresh: bool
) -> None:
    """Measure CANDIDATE against BASE, interleaved in this run, and decide.

    BASE and CANDIDATE are git refs; or two result files from `bench --out`, compared offline
    (unpaired and across runs: weaker than an interleaved comparison). The evaluation of two refs is
    recorded as a git note: `run` and the GitHub path reuse it, and so does `compare` (--fresh measures
    again).
    """
    from ci_autoresearch.app import compare as app

    app.compare(config_path, base, candidate, out=out, as_json=as_json, fresh=fresh, env=_environ())


@cli.command()
@config_option
@click.option("--branch", help="The working line the best lives on (default: the current branch).")
@click.option("--max-evaluations", type=click.IntRange(min=1), help="Stop after this many new evaluations.")
@click.option("--no-advance", is_flag=True, help="Record decisions but do not move the working branch.")
def run(config_path: Path | None, branch: str | None, max_evaluations: int | None, no_advance: bool) -> None:
    """Run the autoresearch loop until it converges (resumes from git notes)."""
    from ci_autoresearch.app import run as app

    app.run(
        config_path, branch=branch, max_evaluations=max_evaluations, advance=not no_advance, env=_environ()
    )


@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print ci-autoresearch/history@1 JSON.")
@click.option("--chart", type=click.Path(path_type=Path), help="Write a Markdown file with a Mermaid chart.")
@click.option("--plot", type=click.Path(path_type=Path), help="Write a PNG plot (needs the [plot] extra).")
def history(config_path: Path | None, as_json: bool, chart: Path | None, plot: Path | None) -> None:
    """List the recorded evaluations, oldest first."""
    from ci_autoresearch.app import history as app

    app.history(config_path, as_json=as_json, chart=chart, plot=plot, env=_environ())


@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print ci-autoresearch/status@1 JSON.")
def status(config_path: Path | None, as_json: bool) -> None:
    """Where the loop stands: iterations, best so far, streak, time, convergence."""
    from ci_autoresearch.app import history as app

    app.status(config_path, as_json=as_json, env=_environ())


@cli.command()
@click.option("--keep", type=click.Path(path_type=Path), help="Create the demo repository here and leave it.")
def demo(keep: Path | None) -> None:
    """Create a throwaway repository with a real hotspot and candidates, and run the loop on it."""
    from ci_autoresearch.app.demo import run_demo

    run_demo(keep, env=_environ())


out_dir_option = click.option(
    "--out-dir",
    type=click.Path(path_type=Path),
    help="Where plans, bundles, results and logs go (default: $RUNNER_TEMP/ci-autoresearch).",
)


@cli.command()
@config_option
@out_dir_option
@click.option(
    "--max-parallel", type=click.IntRange(1, 256), help="At most this many candidates in the matrix."
)
@click.option("--dry-run", is_flag=True, help="Print the GitHub API calls instead of making them.")
def plan(config_path: Path | None, out_dir: Path | None, max_parallel: int | None, dry_run: bool) -> None:
    """List what to evaluate, from trusted input only (the event, the base's configuration).

    Writes the `matrix`, `count` and `plan` step outputs. Runs no repository code.
    """
    from ci_autoresearch.actions import job

    job.plan(config_path, out_dir, max_parallel=max_parallel, dry_run=dry_run, env=_environ())


@cli.command()
@config_option
@out_dir_option
@click.option("--candidate", default="", help="The commit (or ref) to measure; for a derived one, its sha.")
@click.option("--base", default="HEAD", show_default=True, help="The base commit (or ref).")
@click.option(
    "--head", default=None, help="The candidate's own commit, when it is measured merged onto the base."
)
@click.option("--source", default=None, help="The slot's source: pr:N, branch:NAME, search:k=v,…, propose.")
@click.option("--slot", default=None, help="The slot id (names the bundle).")
@click.option("--name", default=None, help="The candidate's name in reports.")
@click.option(
    "--stored-baseline",
    type=click.Path(path_type=Path),
    help="The base's stored result (decision.baseline: artifact), as plan fetched it.",
)
@click.option(
    "--allow-secrets",
    is_flag=True,
    help="Run even with a token, a secret or a git credential in reach of the candidate code (unsafe).",
)
def evaluate(
    *,
    config_path: Path | None,
    out_dir: Path | None,
    candidate: str,
    base: str,
    head: str | None,
    source: str | None,
    slot: str | None,
    name: str | None,
    stored_baseline: Path | None,
    allow_secrets: bool,
) -> None:
    """Measure one candidate against the base and write an evaluation bundle; holds no token.

    No API call, no note, no push. The configuration is read from the base commit. Refuses to start
    with a token, secret or persisted git credential in reach (exit 2) unless --allow-secrets.
    """
    from ci_autoresearch.actions import job
    from ci_autoresearch.actions.evaluate import Request

    request = Request(base=base, candidate=candidate, head=head, source=source, slot=slot, name=name)
    job.evaluate(
        config_path,
        out_dir,
        request=request,
        allow_secrets=allow_secrets,
        stored_baseline=stored_baseline,
        env=_environ(),
    )


@cli.command()
@config_option
@out_dir_option
@click.option("--plan", "plan_arg", default=None, help="The plan job's `plan` output (JSON, or a file).")
@click.option(
    "--bundles",
    type=click.Path(path_type=Path),
    help="The directory the evaluation bundles were downloaded to.",
)
@click.option("--dry-run", is_flag=True, help="Print every GitHub API call instead of making it.")
def publish(
    config_path: Path | None, out_dir: Path | None, plan_arg: str | None, bundles: Path | None, dry_run: bool
) -> None:
    """Decide across the evaluation bundles and publish: notes, comment, labels, status, PRs.

    Needs the token; runs no repository code; every bundle is untrusted and checked against the plan
    (or, on workflow_run, against the pull request GitHub reports).
    """
    from ci_autoresearch.actions import job

    job.publish(config_path, out_dir, plan=plan_arg, bundles=bundles, dry_run=dry_run, env=_environ())


@cli.command()
@config_option
@out_dir_option
@click.option("--dry-run", is_flag=True, help="Print every GitHub API call instead of making it.")
@click.option("--allow-secrets", is_flag=True, help="See `evaluate --allow-secrets` (unsafe).")
def ci(config_path: Path | None, out_dir: Path | None, dry_run: bool, allow_secrets: bool) -> None:
    """One entry for every event ($GITHUB_EVENT_NAME), never holding a token while candidate code runs.

    \b
    push                   measure the base branch head: the baseline result
    pull_request           plan + evaluate the labelled PR in this job (no token)
    schedule, dispatch     plan + evaluate every candidate in this job (no token)
    workflow_run           publish what a pull_request run evaluated (token)
    pull_request_target    refused: use pull_request + workflow_run
    """
    from ci_autoresearch.actions import job

    job.ci(config_path, out_dir, dry_run=dry_run, allow_secrets=allow_secrets, env=_environ())
