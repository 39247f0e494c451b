"""The command line: Click only. Each command parses its options and calls one core function.

Errors are caught in one place (:class:`_Group`): an :class:`AutoresearchError` prints one line and exits
with its code; anything else is a bug (exit 1), with the traceback only under ``--debug``.
"""

from __future__ import annotations

import contextlib
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
from ci_autoresearch.interrupt import Interrupted, signals_interrupt

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_CONFIG = ".autoresearch.yml"


def _last_word(line: str) -> None:
    """The one line a failed or interrupted command ends with: line breaks in quoted commands or
    output are shown as ``\\n`` (so no second line can pass for a workflow command), and a terminal
    that went away (SIGHUP) does not turn it into a second failure."""
    flat = line.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    flat = flat.replace("##[", "##\u200b[")  # nor a legacy `##[command]` of the Actions runner
    with contextlib.suppress(OSError):
        click.echo(flat, err=True)


def _echo(
    text: str, *, env: Mapping[str, str], err: bool = False, nl: bool = True, is_json: bool = False
) -> None:
    """Print text that may hold untrusted parts (candidate output, reasons, branch names, notes read
    from a remote): in Actions none of it can act as a workflow command (see :func:`gha.inert`)."""
    from ci_autoresearch.actions import runtime as gha

    safe = gha.inert_json(text, env=env) if is_json else gha.inert(text, env=env)
    click.echo(safe, err=err, nl=nl)


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug")) or os.environ.get("AUTORESEARCH_DEBUG") == "1"
        try:
            with signals_interrupt():  # SIGINT, SIGTERM, SIGHUP: one path, see interrupt.py
                return super().invoke(ctx)
        except Interrupted as stop:
            kept = f"; what was measured is in {stop.partial}" if stop.partial else ""
            _last_word(f"interrupted by {stop.name}: its processes were stopped and checkouts removed{kept}")
            ctx.exit(stop.exit_code)
        except AutoresearchError as err:
            if debug:
                traceback.print_exc()
            _last_word(f"error: {err}")
            ctx.exit(err.exit_code)
        except KeyboardInterrupt:
            _last_word("interrupted; its processes were stopped and checkouts removed")
            ctx.exit(EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as err:  # a bug: say so in one line unless --debug
            if debug:
                raise
            _last_word(
                f"internal error: {type(err).__name__}: {err} (rerun with --debug for the traceback; "
                "please report it)"
            )
            ctx.exit(1)


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


def config_option(f: F) -> F:
    return click.option(
        "-c",
        "--config",
        "config_path",
        type=click.Path(path_type=Path),
        default=None,
        callback=_group_config,
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
    from ci_autoresearch.history.state import runs_dir

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return runs_dir(repo) / f"{stamp}-{what}"


class ProgressPrinter:
    """Round i of n and the current estimate: a redrawn line on a terminal, one line per round in CI."""

    def __init__(self, stream: TextIO, *, env: Mapping[str, str], quiet: bool = False) -> None:
        self.stream = stream
        self.tty = stream.isatty() and not env.get("CI")
        self.quiet = quiet
        self.env = env

    def __call__(self, p: Any) -> None:
        if self.quiet:
            return
        from ci_autoresearch.decide.verdict import describe

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
            self.stream.write("\r\033[K" + " ".join(text.split())[:200])
        else:  # echoed setup and gate commands are untrusted: never workflow commands in Actions
            from ci_autoresearch.actions.runtime import inert

            self.stream.write(inert(text + "\n", env=self.env))
        self.stream.flush()


# --- init / validate ---------------------------------------------------------------------------------


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
    from ci_autoresearch import git
    from ci_autoresearch.app import adopt

    env = _environ()
    try:
        root: Path = _repo()
        git_dir: Path | None = git.common_dir(root)
    except AutoresearchError:
        root, git_dir = Path.cwd(), None
    path = config_path or root / DEFAULT_CONFIG
    keep = path.exists() and not force
    if keep and not github:
        raise BadInputError(f"{path} already exists", hint="use --force to overwrite it")
    if github:
        for written in adopt.write_workflows(root, force=force):
            click.echo(f"wrote {written}")
    if keep:
        click.echo(f"kept {path} (--force overwrites it)")
        return
    proposal = adopt.proposal(root, env)
    for finding in proposal.findings:
        click.echo(f"found {finding}")
    path.write_text(proposal.config)
    if git_dir is not None:
        for name in adopt.exclude_locally(git_dir, proposal.ignore):
            click.echo(f"added /{name} to {git_dir / 'info' / 'exclude'} (the benchmark writes it)")
    if proposal.kind is None:
        click.echo(f"wrote {path}; edit benchmark.command, then run `ci-autoresearch validate`")
    else:
        click.echo(
            f"wrote {path}; check it with `ci-autoresearch validate`, try it with `ci-autoresearch bench`"
        )


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
    from ci_autoresearch.config.feasibility import warnings

    for warning in warnings(config):
        click.echo(f"{path}: warning: {warning}", err=True)
    notes = runnability_problems(config)
    for note in notes:
        click.echo(f"{path}: note: {note}")
    for warning in _readiness(config, repo or path.resolve().parent):
        click.echo(f"{path}: warning: {warning}")
    click.echo(f"{path}: valid" + (" (not runnable yet)" if notes else ""))


def _readiness(config: Any, root: Path) -> list[str]:
    """Settings without effect and programs missing from the repository and ``PATH``."""
    import shutil

    from ci_autoresearch.config.readiness import ineffective_settings, missing_programs

    path = os.environ.get("PATH", os.defpath)
    return ineffective_settings(config) + missing_programs(
        config, exists=lambda p: (root / p).exists(), which=lambda p: shutil.which(p, path=path)
    )


# --- bench / compare ---------------------------------------------------------------------------------


def _emit(doc: dict[str, Any], out: Path | None, as_json: bool, text: str, *, env: Mapping[str, str]) -> None:
    from ci_autoresearch.artifacts import dumps, write_json

    if out is not None:
        write_json(out, doc)
    if as_json:
        _echo(dumps(doc), env=env, nl=False, is_json=True)
    else:
        _echo(text, env=env, nl=False)
        if out is not None:
            click.echo(f"written to {out}")


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
    from ci_autoresearch.artifacts import result_to_json, write_json
    from ci_autoresearch.errors import MeasurementError
    from ci_autoresearch.measure.single import measure_ref
    from ci_autoresearch.model import Result
    from ci_autoresearch.report.text import result_text

    env = _environ()
    repo = _repo()
    config = _load(repo, config_path)
    progress = ProgressPrinter(sys.stderr, env=env)
    if ref is not None:
        from ci_autoresearch.history import recover

        recover.prune_stale(repo, say=lambda line: click.echo(line, err=True))
    try:
        result = measure_ref(
            repo, config, ref, env=env, log_dir=_log_dir(repo, out, "bench"), runs=runs, progress=progress
        )
    except MeasurementError as err:
        if out is not None and isinstance(err.partial, Result) and err.partial.runs:
            write_json(out, result_to_json(err.partial))
            click.echo(f"partial result ({err.partial.runs} runs) written to {out}", err=True)
        raise
    _emit(result_to_json(result), out, as_json, result_text(result), env=env)


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
    from ci_autoresearch.artifacts import comparison_to_json
    from ci_autoresearch.report.text import comparison_text

    env = _environ()
    repo_or_none: Path | None
    try:
        repo_or_none = _repo()
    except AutoresearchError:
        repo_or_none = None
    if _offline_arguments(repo_or_none, base, candidate):
        from ci_autoresearch.decide.offline import compare_results

        base_file, cand_file = Path(base), Path(candidate)
        from ci_autoresearch.config import load_config

        cfg_path = _config_path(repo_or_none, config_path)
        config = load_config(cfg_path) if cfg_path.exists() or config_path else None
        comparison = compare_results(base_file, cand_file, config=config)
    else:
        from ci_autoresearch.history import recover
        from ci_autoresearch.history.recorded import compare_and_record

        repo = _repo()
        config = _load(repo, config_path)
        recover.prune_stale(repo, say=lambda line: click.echo(line, err=True))
        evaluated = compare_and_record(
            repo,
            config,
            base,
            candidate,
            env=env,
            log_dir=_log_dir(repo, out, "compare"),
            progress=ProgressPrinter(sys.stderr, env=env),
            fresh=fresh,
        )
        comparison = evaluated.evaluation.comparison
        if evaluated.note:
            click.echo(evaluated.note, err=True)
    _emit(comparison_to_json(comparison), out, as_json, comparison_text(comparison), env=env)


def _offline_arguments(repo: Path | None, base: str, candidate: str) -> bool:
    """Whether BASE and CANDIDATE are two result files (offline) rather than git refs.

    A name git resolves is a ref, even when a file of that name exists (a file called ``main`` does
    not turn ``compare main feat`` into an offline comparison); two names that are not refs but are
    files are result files; a ref with a file, or a file with nothing, is an error.
    """
    from ci_autoresearch import git

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
    from ci_autoresearch.app.loop import LoopOptions
    from ci_autoresearch.forge.local import LocalForge
    from ci_autoresearch.history.state import state_dir

    env = _environ()
    repo = _repo()
    config = _load(repo, config_path)

    def say(line: str) -> None:
        _echo(line, env=env)

    outcome = _run_loop(
        repo,
        config,
        env,
        LocalForge(state_dir(repo), say=say),
        LoopOptions(
            branch=_loop_branch(repo, branch), advance=not no_advance, max_evaluations=max_evaluations
        ),
    )
    say(f"stopped: {outcome.reason}")


def _run_loop(repo: Path, config: Any, env: Mapping[str, str], forge: Any, options: Any) -> Any:
    from ci_autoresearch import git
    from ci_autoresearch.app.loop import Loop
    from ci_autoresearch.history.state import runs_dir

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
        log_root=runs_dir(repo),
        say=click.echo,  # the loop makes its lines inert itself
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
    from ci_autoresearch.history import notes as hist_mod
    from ci_autoresearch.report import views as status_mod
    from ci_autoresearch.report.text import history_text

    repo = _repo()
    hist = hist_mod.load(repo)
    config = _maybe_config(repo, config_path)
    evaluations = hist.latest()
    env = _environ()
    for problem in hist.problems:  # about notes that may come from a remote: untrusted text
        _echo(f"warning: {problem}", env=env, err=True)
    if chart is not None:
        chart.write_text(status_mod.chart_markdown(evaluations, config))
        click.echo(f"chart written to {chart}", err=True)
    if plot is not None:
        status_mod.plot_png(evaluations, config, plot)
        click.echo(f"plot written to {plot}", err=True)
    if as_json:
        _echo(status_mod.history_json_text(evaluations), env=env, nl=False, is_json=True)
    else:
        _echo(history_text(evaluations), env=env, nl=False)


@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print ci-autoresearch/status@1 JSON.")
def status(config_path: Path | None, as_json: bool) -> None:
    """Where the loop stands: iterations, best so far, streak, time, convergence."""
    from ci_autoresearch.history import notes as hist_mod
    from ci_autoresearch.report import views as status_mod

    repo = _repo()
    config = _maybe_config(repo, config_path)
    doc = status_mod.status_json(hist_mod.load(repo).latest(), config)
    env = _environ()
    if as_json:
        _echo(json.dumps(doc, indent=2), env=env, is_json=True)
    else:
        _echo(status_mod.status_text(doc), env=env, nl=False)


@cli.command()
@click.option("--keep", type=click.Path(path_type=Path), help="Create the demo repository here and leave it.")
def demo(keep: Path | None) -> None:
    """Create a throwaway repository with a real hotspot and candidates, and run the loop on it."""
    import tempfile

    from ci_autoresearch.app import demo as demo_mod
    from ci_autoresearch.app.loop import LoopOptions
    from ci_autoresearch.config import load_config
    from ci_autoresearch.forge.local import LocalForge
    from ci_autoresearch.history import notes as hist_mod
    from ci_autoresearch.history.state import state_dir
    from ci_autoresearch.report import views as status_mod
    from ci_autoresearch.report.text import history_text

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
            repo, config, env, LocalForge(state_dir(repo), say=click.echo), LoopOptions(branch="main")
        )
        evaluations = hist_mod.load(repo).latest()
        click.echo("\n" + history_text(evaluations))
        click.echo(status_mod.status_text(status_mod.status_json(evaluations, config)), nl=False)
        click.echo(f"stopped: {outcome.reason}")
        click.echo("\n" + demo_mod.worker_showcase(repo, env, progress=ProgressPrinter(sys.stderr, env=env)))
        report_dir = state_dir(repo) if keep else Path(tempfile.gettempdir())
        report = report_dir / "autoresearch-demo-report.md"
        report.write_text(
            status_mod.report_markdown(
                evaluations, config, title="ci-autoresearch demo", changes=outcome.changes
            )
        )
        click.echo(f"report with chart: {report}")
        if keep:
            click.echo(f"explore it: cd {repo} && ci-autoresearch history && git log --oneline --graph --all")


# --- GitHub Actions: plan → evaluate → publish --------------------------------------------------------

out_dir_option = click.option(
    "--out-dir",
    type=click.Path(path_type=Path),
    help="Where plans, bundles, results and logs go (default: $RUNNER_TEMP/ci-autoresearch).",
)


def _stage(config_path: Path | None, out_dir: Path | None) -> Any:
    from ci_autoresearch.actions import runtime as gha
    from ci_autoresearch.actions.context import Stage
    from ci_autoresearch.actions.plan import config_path_in_repo
    from ci_autoresearch.history.state import state_dir

    env = _environ()
    repo = _repo()
    default_out = Path(env.get("RUNNER_TEMP") or state_dir(repo)) / "ci-autoresearch"
    return Stage(
        repo=repo,
        config_file=config_path_in_repo(repo, config_path),
        env=env,
        out_dir=out_dir or default_out,
        say=gha.safe_say(click.echo, env=env),
        progress=ProgressPrinter(sys.stderr, env=env),
    )


def _forge(env: Mapping[str, str], *, dry_run: bool, required: bool) -> Any:
    """The GitHub forge with the job's token (masked in the log); None when no token and not required."""
    from ci_autoresearch.actions import runtime as gha
    from ci_autoresearch.config.model import GithubConfig
    from ci_autoresearch.forge.github import GithubForge, token_of

    token = token_of(env)
    if not token and not required and not dry_run:
        return None
    if token:
        gha.mask(token, env=env, say=click.echo)
    say = gha.safe_say(click.echo, env=env)
    return GithubForge.from_env(env, config=GithubConfig(), token=token, dry_run=dry_run, say=say)


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
    from ci_autoresearch.actions.stages import plan_stage

    stage = _stage(config_path, out_dir)
    plan_stage(stage, max_parallel=max_parallel, forge=_forge(stage.env, dry_run=dry_run, required=False))


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
    from ci_autoresearch.actions.evaluate import Request
    from ci_autoresearch.actions.stages import evaluate_stage

    stage = _stage(config_path, out_dir)
    request = Request(base=base, candidate=candidate, head=head, source=source, slot=slot, name=name)
    evaluate_stage(stage, request, allow_secrets=allow_secrets, stored_baseline=stored_baseline)


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
    from ci_autoresearch.actions.stages import publish_stage

    stage = _stage(config_path, out_dir)
    publish_stage(stage, _forge(stage.env, dry_run=dry_run, required=True), plan=plan_arg, bundles=bundles)


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
    from ci_autoresearch.actions.stages import ci_stage, publish_stage

    stage = _stage(config_path, out_dir)

    def publish_now() -> None:
        publish_stage(stage, _forge(stage.env, dry_run=dry_run, required=True), plan=None, bundles=None)

    ci_stage(stage, allow_secrets=allow_secrets, publish=publish_now)
