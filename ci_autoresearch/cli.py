"""The command line: Click only. Each command parses its options and calls one core function.

Errors are caught in one place (:class:`_Group`): an :class:`AutoresearchError` prints one line and exits
with its code; anything else is a bug (exit 1), with the traceback only under ``--debug``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from ci_autoresearch import __version__
from ci_autoresearch.errors import EXIT_INTERRUPTED, AutoresearchError, BadInputError

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_CONFIG = ".autoresearch.yml"


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug")) or os.environ.get("AUTORESEARCH_DEBUG") == "1"
        try:
            return super().invoke(ctx)
        except AutoresearchError as err:
            if debug:
                traceback.print_exc()
            click.echo(f"error: {err}", err=True)
            ctx.exit(err.exit_code)
        except KeyboardInterrupt:
            click.echo("\ninterrupted; worktrees removed, results written so far are kept", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as err:  # a bug: say so in one line unless --debug
            if debug:
                raise
            click.echo(
                f"internal error: {type(err).__name__}: {err} (rerun with --debug for the traceback; "
                "please report it)",
                err=True,
            )
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ci-autoresearch")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """Benchmark candidate branches against the baseline, keep only real wins.

    \b
    Exit codes: 0 done (any verdict), 2 bad input (config, refs, files),
    3 the measurement failed, 4 GitHub failed, 130 interrupted.
    """


def config_option(f: F) -> F:
    return click.option(
        "-c",
        "--config",
        "config_path",
        type=click.Path(path_type=Path),
        default=None,
        help=f"Configuration file (default: {DEFAULT_CONFIG} at the repository root).",
    )(f)


def _environ() -> dict[str, str]:
    return dict(os.environ)


def _repo() -> Path:
    from ci_autoresearch import git

    return git.toplevel(Path.cwd())


def _config_path(repo: Path | None, given: Path | None) -> Path:
    """The config file, relative to the current directory when it is below it (shorter messages)."""
    if given is not None:
        return given
    path = (repo or Path.cwd()) / DEFAULT_CONFIG
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _load(repo: Path, given: Path | None) -> Any:
    from ci_autoresearch.config import load_config, runnability_problems

    config = load_config(_config_path(repo, given))
    problems = runnability_problems(config)
    if problems:
        raise BadInputError(f"{config.path}: {problems[0]}")
    return config


def _log_dir(repo: Path, out: Path | None, what: str) -> Path:
    if out is not None:
        return out.parent / f"{out.name}.logs"
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return repo / ".autoresearch" / "runs" / f"{stamp}-{what}"


class ProgressPrinter:
    """Round i of n and the current estimate: a redrawn line on a terminal, one line per round in CI."""

    def __init__(self, stream: TextIO, *, env: Mapping[str, str], quiet: bool = False) -> None:
        self.stream = stream
        self.tty = stream.isatty() and not env.get("CI")
        self.quiet = quiet

    def __call__(self, p: Any) -> None:
        if self.quiet:
            return
        from ci_autoresearch.decide import describe

        if p.phase == "round":
            est = f"  {describe(p.estimate)}" if p.estimate is not None else ""
            text = f"round {p.round}/{p.total}{est}{'  ' + p.message if p.message else ''}"
        elif p.phase == "warmup":
            text = f"warm-up {p.round}/{p.total}"
        elif p.phase == "done":
            if self.tty:
                self.stream.write("\r\033[K")
                self.stream.flush()
            return
        else:
            text = f"{p.phase}: {p.message}" if p.message else p.phase
        if self.tty:
            self.stream.write("\r\033[K" + text[:200])
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


# --- init / validate ---------------------------------------------------------------------------------


@cli.command()
@config_option
@click.option("--force", is_flag=True, help="Overwrite an existing configuration.")
def init(config_path: Path | None, force: bool) -> None:
    """Write a commented starter .autoresearch.yml."""
    from ci_autoresearch.config import starter_config

    path = config_path or Path.cwd() / DEFAULT_CONFIG
    if path.exists() and not force:
        raise BadInputError(f"{path} already exists", hint="use --force to overwrite it")
    path.write_text(starter_config())
    click.echo(f"wrote {path}; edit benchmark.command, then run `ci-autoresearch validate`")


@cli.command()
@config_option
def validate(config_path: Path | None) -> None:
    """Check a configuration; one line per problem. Exit 0 when valid, 2 when not."""
    from ci_autoresearch.config import load_config, runnability_problems, validate_config

    try:
        repo: Path | None = _repo()
    except AutoresearchError:
        repo = None
    path = _config_path(repo, config_path)
    problems = validate_config(path)
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        raise click.exceptions.Exit(2)
    config = load_config(path)
    notes = runnability_problems(config)
    for note in notes:
        click.echo(f"{path}: note: {note}")
    click.echo(f"{path}: valid" + (" (not runnable yet)" if notes else ""))


# --- bench / compare ---------------------------------------------------------------------------------


def _emit(doc: dict[str, Any], out: Path | None, as_json: bool, text: str) -> None:
    from ci_autoresearch.artifacts import dumps, write_json

    if out is not None:
        write_json(out, doc)
    if as_json:
        click.echo(dumps(doc), nl=False)
    else:
        click.echo(text, nl=False)
        if out is not None:
            click.echo(f"written to {out}")


@cli.command()
@config_option
@click.argument("ref", required=False)
@click.option("--out", type=click.Path(path_type=Path), help="Write the result@1 JSON here.")
@click.option("--json", "as_json", is_flag=True, help="Print the result@1 JSON instead of the table.")
@click.option("--runs", type=click.IntRange(min=1), help="Runs after warm-up (default: measurement_runs).")
def bench(
    config_path: Path | None, ref: str | None, out: Path | None, as_json: bool, runs: int | None
) -> None:
    """Measure one ref (default: the working tree as it is) and write a result."""
    from ci_autoresearch.artifacts import result_to_json, write_json
    from ci_autoresearch.errors import MeasurementError
    from ci_autoresearch.measure import measure_ref
    from ci_autoresearch.model import Result
    from ci_autoresearch.report import result_text

    env = _environ()
    repo = _repo()
    config = _load(repo, config_path)
    progress = ProgressPrinter(sys.stderr, env=env)
    try:
        result = measure_ref(
            repo, config, ref, env=env, log_dir=_log_dir(repo, out, "bench"), runs=runs, progress=progress
        )
    except MeasurementError as err:
        if out is not None and isinstance(err.partial, Result) and err.partial.runs:
            write_json(out, result_to_json(err.partial))
            click.echo(f"partial result ({err.partial.runs} runs) written to {out}", err=True)
        raise
    _emit(result_to_json(result), out, as_json, result_text(result))


@cli.command()
@config_option
@click.argument("base")
@click.argument("candidate")
@click.option("--out", type=click.Path(path_type=Path), help="Write the comparison@1 JSON here.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison@1 JSON instead of the table.")
def compare(config_path: Path | None, base: str, candidate: str, out: Path | None, as_json: bool) -> None:
    """Measure CANDIDATE against BASE, interleaved in this run, and decide.

    BASE and CANDIDATE are git refs; or two result files from `bench --out`, compared offline
    (unpaired and across runs: weaker than an interleaved comparison).
    """
    from ci_autoresearch.artifacts import comparison_to_json
    from ci_autoresearch.report import comparison_text

    env = _environ()
    base_file, cand_file = Path(base), Path(candidate)
    if base_file.is_file() or cand_file.is_file():
        from ci_autoresearch.offline import compare_results

        if not (base_file.is_file() and cand_file.is_file()):
            missing = candidate if base_file.is_file() else base
            raise BadInputError(f"{missing}: expected a result file like the other argument (no such file)")
        repo_or_none: Path | None
        try:
            repo_or_none = _repo()
        except AutoresearchError:
            repo_or_none = None
        from ci_autoresearch.config import load_config

        cfg_path = _config_path(repo_or_none, config_path)
        config = load_config(cfg_path) if cfg_path.exists() or config_path else None
        comparison = compare_results(base_file, cand_file, config=config)
    else:
        from ci_autoresearch.measure import compare_refs

        repo = _repo()
        config = _load(repo, config_path)
        comparison = compare_refs(
            repo,
            config,
            base,
            candidate,
            env=env,
            log_dir=_log_dir(repo, out, "compare"),
            progress=ProgressPrinter(sys.stderr, env=env),
        )
    _emit(comparison_to_json(comparison), out, as_json, comparison_text(comparison))


def _print_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2))


# --- the loop ----------------------------------------------------------------------------------------


def _loop_branch(repo: Path, given: str | None) -> str:
    from ci_autoresearch import git

    branch = given or git.current_branch(repo)
    if not branch:
        raise BadInputError("HEAD is detached; name the working branch with --branch")
    git.resolve(repo, branch)
    return branch


@cli.command()
@config_option
@click.option("--branch", help="The working line the best lives on (default: the current branch).")
@click.option("--max-evaluations", type=click.IntRange(min=1), help="Stop after this many new evaluations.")
@click.option("--no-advance", is_flag=True, help="Record decisions but do not move the working branch.")
def run(config_path: Path | None, branch: str | None, max_evaluations: int | None, no_advance: bool) -> None:
    """Run the autoresearch loop until it converges (resumes from git notes)."""
    from ci_autoresearch.forge.local import LocalForge
    from ci_autoresearch.loop import LoopOptions

    env = _environ()
    repo = _repo()
    config = _load(repo, config_path)
    outcome = _run_loop(
        repo,
        config,
        env,
        LocalForge(repo / ".autoresearch", say=click.echo),
        LoopOptions(
            branch=_loop_branch(repo, branch), advance=not no_advance, max_evaluations=max_evaluations
        ),
    )
    click.echo(f"stopped: {outcome.reason}")


def _run_loop(repo: Path, config: Any, env: Mapping[str, str], forge: Any, options: Any) -> Any:
    from ci_autoresearch import git
    from ci_autoresearch.loop import Loop

    if options.advance and git.current_branch(repo) == options.branch and git.is_dirty(repo):
        raise BadInputError(
            f"the working tree has uncommitted changes on {options.branch}, which the loop would move",
            hint="commit or stash them, or use --no-advance",
        )
    loop = Loop(
        repo,
        config,
        env=env,
        forge=forge,
        options=options,
        log_root=repo / ".autoresearch" / "runs",
        say=click.echo,
        progress=ProgressPrinter(sys.stderr, env=env),
    )
    return loop.run()


def _maybe_config(repo: Path, given: Path | None) -> Any:
    from ci_autoresearch.config import load_config

    path = _config_path(repo, given)
    return load_config(path) if (given is not None or path.exists()) else None


@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print ci-autoresearch/history@1 JSON.")
@click.option("--chart", type=click.Path(path_type=Path), help="Write a Markdown file with a Mermaid chart.")
@click.option("--plot", type=click.Path(path_type=Path), help="Write a PNG plot (needs the [plot] extra).")
def history(config_path: Path | None, as_json: bool, chart: Path | None, plot: Path | None) -> None:
    """List the recorded evaluations, oldest first."""
    from ci_autoresearch import history as hist_mod
    from ci_autoresearch import status as status_mod
    from ci_autoresearch.report import history_text

    repo = _repo()
    hist = hist_mod.load(repo)
    config = _maybe_config(repo, config_path)
    evaluations = hist.latest()
    for problem in hist.problems:
        click.echo(f"warning: {problem}", err=True)
    if chart is not None:
        chart.write_text(status_mod.chart_markdown(evaluations, config))
        click.echo(f"chart written to {chart}", err=True)
    if plot is not None:
        status_mod.plot_png(evaluations, config, plot)
        click.echo(f"plot written to {plot}", err=True)
    if as_json:
        click.echo(status_mod.history_json_text(evaluations), nl=False)
    else:
        click.echo(history_text(evaluations), nl=False)


@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print ci-autoresearch/status@1 JSON.")
def status(config_path: Path | None, as_json: bool) -> None:
    """Where the loop stands: iterations, best so far, streak, time, convergence."""
    from ci_autoresearch import history as hist_mod
    from ci_autoresearch import status as status_mod

    repo = _repo()
    config = _maybe_config(repo, config_path)
    doc = status_mod.status_json(hist_mod.load(repo).latest(), config)
    if as_json:
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(status_mod.status_text(doc), nl=False)


@cli.command()
@click.option("--keep", type=click.Path(path_type=Path), help="Create the demo repository here and leave it.")
def demo(keep: Path | None) -> None:
    """Create a throwaway repository with a real hotspot and candidates, and run the loop on it."""
    import tempfile

    from ci_autoresearch import demo as demo_mod
    from ci_autoresearch import history as hist_mod
    from ci_autoresearch import status as status_mod
    from ci_autoresearch.config import load_config
    from ci_autoresearch.forge.local import LocalForge
    from ci_autoresearch.loop import LoopOptions
    from ci_autoresearch.report import history_text

    env = _environ()
    with tempfile.TemporaryDirectory(prefix="autoresearch-demo-") as tmp:
        repo = demo_mod.create((keep or Path(tmp) / "demo").resolve(), env)
        click.echo(
            f"demo repository: {repo}\ncandidates: "
            + ", ".join(demo_mod.CANDIDATES)
            + " and a search over the sort algorithm\n"
        )
        config = load_config(repo / ".autoresearch.yml")
        outcome = _run_loop(
            repo, config, env, LocalForge(repo / ".autoresearch", say=click.echo), LoopOptions(branch="main")
        )
        evaluations = hist_mod.load(repo).latest()
        click.echo("\n" + history_text(evaluations))
        click.echo(status_mod.status_text(status_mod.status_json(evaluations, config)), nl=False)
        click.echo(f"stopped: {outcome.reason}")
        click.echo("\n" + demo_mod.worker_showcase(repo, env, progress=ProgressPrinter(sys.stderr, env=env)))
        report_dir = repo / ".autoresearch" if keep else Path(tempfile.gettempdir())
        report = report_dir / "autoresearch-demo-report.md"
        report.write_text(status_mod.report_markdown(evaluations, config, title="ci-autoresearch demo"))
        click.echo(f"report with chart: {report}")
        if keep:
            click.echo(f"explore it: cd {repo} && ci-autoresearch history && git log --oneline --graph --all")


# --- GitHub Actions ----------------------------------------------------------------------------------


@cli.command()
@config_option
@click.option("--dry-run", is_flag=True, help="Print every GitHub API call instead of making it.")
@click.option(
    "--out-dir",
    type=click.Path(path_type=Path),
    help="Where results go for upload (default: $RUNNER_TEMP/ci-autoresearch).",
)
def ci(config_path: Path | None, dry_run: bool, out_dir: Path | None) -> None:
    """The GitHub Actions entry point: does what the event ($GITHUB_EVENT_NAME) calls for."""
    from ci_autoresearch import gha
    from ci_autoresearch.ci import CiContext, apply_action_inputs, run_ci
    from ci_autoresearch.forge.github import GithubForge

    env = _environ()
    repo = _repo()
    config = apply_action_inputs(_load(repo, config_path), env)
    token = env.get("INPUT_GITHUB-TOKEN") or env.get("INPUT_GITHUB_TOKEN") or env.get("GITHUB_TOKEN")
    if token:
        gha.mask(token, env=env, say=click.echo)
    forge = GithubForge.from_env(env, config=config.github, token=token, dry_run=dry_run, say=click.echo)
    default_out = Path(env.get("RUNNER_TEMP") or repo / ".autoresearch") / "ci-autoresearch"
    run_ci(
        CiContext(
            repo=repo,
            config=config,
            env=env,
            forge=forge,
            out_dir=out_dir or default_out,
            say=click.echo,
            progress=ProgressPrinter(sys.stderr, env=env),
        )
    )
