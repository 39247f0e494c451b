"""``ci-autoresearch demo``: a throwaway repository with a real hotspot, run to convergence.

The program counts primes by trial division and sorts numbers with a bubble sort. Candidates:
a sieve (a real speed-up), a defensive re-sort (a slow-down), a sort that skips the work (faster but
breaks the tests: metric gaming, must come out ``invalid``), a comment-only change (a no-op, must not
be kept), and a search space over the sort algorithm. Effects are large (tens of percent) on purpose, so
the outcome does not depend on how noisy this machine is; the objective is CPU time, which other
processes competing for the cores barely move.

After the loop, :func:`worker_showcase` measures one candidate again in *worker mode*
(``worker.yml``: ``benchmark.callable`` names the function, fresh worker processes time blocks of calls
to it), the way to resolve changes of a percent or two that a process per run cannot.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

from ci_autoresearch import git
from ci_autoresearch.config import load_config
from ci_autoresearch.errors import BadInputError
from ci_autoresearch.history.state import runs_dir
from ci_autoresearch.measure.progress import ProgressFn
from ci_autoresearch.measure.session import compare_refs
from ci_autoresearch.report.text import comparison_text

PROGRAM = '''\
"""Count primes and sort numbers: a small program with two hotspots."""

SORT = "bubble"  # which sort_numbers implementation to use
LIMIT = 100000


def is_prime(n):
    if n < 2:
        return False
    d = 2
    while d * d <= n:
        if n % d == 0:
            return False
        d += 1
    return True


def count_primes(limit):
    return sum(1 for n in range(limit) if is_prime(n))


def bubble(xs):
    xs = list(xs)
    for i in range(len(xs)):
        for j in range(len(xs) - 1 - i):
            if xs[j] > xs[j + 1]:
                xs[j], xs[j + 1] = xs[j + 1], xs[j]
    return xs


def insertion(xs):
    out = []
    for x in xs:
        i = len(out)
        while i > 0 and out[i - 1] > x:
            i -= 1
        out.insert(i, x)
    return out


def sort_numbers(xs):
    if SORT == "builtin":
        return sorted(xs)
    return insertion(xs) if SORT == "insertion" else bubble(xs)


def numbers():
    return [(i * 7919) % 1009 for i in range(1800)]


def main():
    primes = count_primes(LIMIT)
    ordered = sort_numbers(numbers())
    print(f"primes below {LIMIT}: {primes}; checksum {sum(i * v for i, v in enumerate(ordered))}")


if __name__ == "__main__":
    main()
'''

TESTS = """\
import unittest

import hotspot


class HotspotTest(unittest.TestCase):
    def test_primes(self):
        self.assertEqual(hotspot.count_primes(10), 4)
        self.assertEqual(hotspot.count_primes(100), 25)
        self.assertEqual(hotspot.count_primes(1000), 168)

    def test_sort(self):
        xs = hotspot.numbers()
        self.assertEqual(hotspot.sort_numbers(xs), sorted(xs))
        for name in ("bubble", "insertion"):
            self.assertEqual(getattr(hotspot, name)(xs[:50]), sorted(xs[:50]))


if __name__ == "__main__":
    unittest.main()
"""

SIEVE = """def count_primes(limit):
    if limit < 3:
        return 0
    sieve = bytearray([1]) * limit
    sieve[0:2] = b"\\x00\\x00"
    for p in range(2, int(limit ** 0.5) + 1):
        if sieve[p]:
            sieve[p * p :: p] = bytes(len(range(p * p, limit, p)))
    return sum(sieve)
"""

OLD_COUNT = """def count_primes(limit):
    return sum(1 for n in range(limit) if is_prime(n))
"""


def config_text(python: str) -> str:
    return f"""\
# ci-autoresearch demo configuration
objective:
  metric: cpu_time         # measured by the tool: CPU seconds of the command and its children
  direction: minimize      # (steadier than wall_time on a busy machine; wall_time is shown too)

benchmark:
  command: {python} hotspot.py
  timeout_seconds: 60

gate:                        # must pass before a candidate is measured
  command: {python} -m unittest -q test_hotspot
  protected_paths: [test_hotspot.py, .autoresearch.yml]

guards:
  - metric: max_rss          # peak memory may not grow by more than 25 %
    max_regression: 0.25

metrics:
  collection:
    warmup_runs: 1
    measurement_runs: 10

decision:
  min_effect: 0.03           # smaller differences count as no change
  confidence: 0.95
  max_rounds: 16

constraints:
  max_iterations: 12
  no_improvement_limit: 6

candidates:
  branches: ["autoresearch/*"]

hypotheses:                  # tried first, highest expected gain first
  - branch: autoresearch/sieve
    expected_gain: 0.4
    description: count primes with a sieve of Eratosthenes instead of trial division

search_space:
  order: grid
  parameters:
    - name: sort
      file: hotspot.py
      pattern: 'SORT = "(\\w+)"'
      values: [insertion, builtin]
"""


CANDIDATES: Mapping[str, tuple[str, str]] = {
    "autoresearch/sieve": ("count primes with a sieve", "sieve"),
    "autoresearch/resort": ("sort again from a defensive copy (a slow-down)", "resort"),
    "autoresearch/skip-sort": ("skip the sort: faster, but wrong (tests fail)", "skip"),
    "autoresearch/docs": ("only a comment (a no-op)", "noop"),
}


def worker_config_text(python: str) -> str:
    return f"""\
# ci-autoresearch demo: worker mode (docs/worker-protocol.md)
# Instead of a process per run, fresh worker processes import count_primes from each side's checkout
# and time blocks of calls to it, the two sides alternating block by block.
objective:
  metric: cpu_time
  direction: minimize

benchmark:
  callable: "hotspot:count_primes"
  args: [30000]
  python: {python}
  timeout_seconds: 60
  worker:
    block_seconds: 0.02      # calls per block calibrated to about 20 ms
    warmup_blocks: 1
    blocks: 1                # measured blocks per worker process and side

metrics:
  collection:
    measurement_runs: 10     # rounds: a fresh worker process per side in each

decision:
  min_effect: 0.03
  max_rounds: 16
"""


SHOWCASE = ("demo-start", "autoresearch/sieve")
"""The comparison :func:`worker_showcase` makes: the program as it started against the sieve."""


def _variant(kind: str) -> str:
    if kind == "sieve":
        return PROGRAM.replace(OLD_COUNT, SIEVE)
    if kind == "resort":
        return PROGRAM.replace(
            "    ordered = sort_numbers(numbers())\n",
            "    ordered = sort_numbers(numbers())\n    ordered = sort_numbers(list(ordered)[::-1])\n",
        )
    if kind == "skip":
        return PROGRAM.replace(
            "def sort_numbers(xs):\n    if SORT", "def sort_numbers(xs):\n    return list(xs)\n    if SORT"
        )
    return PROGRAM.replace(
        '"""Count primes', '# Nothing here changes what the program does.\n"""Count primes'
    )


def create(path: Path, env: Mapping[str, str]) -> Path:
    """Write the demo repository at ``path`` (which must not exist or be empty)."""
    path.mkdir(parents=True, exist_ok=True)
    if any(path.iterdir()):
        raise BadInputError(f"{path}: expected an empty or new directory for the demo repository")
    genv = {
        **env,
        "GIT_AUTHOR_NAME": "demo",
        "GIT_AUTHOR_EMAIL": "demo@example.invalid",
        "GIT_COMMITTER_NAME": "demo",
        "GIT_COMMITTER_EMAIL": "demo@example.invalid",
    }
    git.init(path, branch="main", env=genv)
    files = {
        "hotspot.py": PROGRAM,
        "test_hotspot.py": TESTS,
        ".autoresearch.yml": config_text(shlex.quote(sys.executable)),
        "worker.yml": worker_config_text(shlex.quote(sys.executable)),
        ".gitignore": "__pycache__/\n",
    }
    for name, text in files.items():
        (path / name).write_text(text)
    git.add_all(path, env=genv)
    git.commit(path, "a program with two hotspots", env=genv)
    git.tag(path, SHOWCASE[0], env=genv)
    for branch, (message, kind) in CANDIDATES.items():
        git.checkout(path, branch, start="main", env=genv)
        (path / "hotspot.py").write_text(_variant(kind))
        git.commit(path, message, all_tracked=True, env=genv)
    git.checkout(path, "main", env=genv)
    return path


def worker_showcase(repo: Path, env: Mapping[str, str], *, progress: ProgressFn) -> str:
    """Compare the starting program with the sieve in worker mode (``worker.yml``); the report."""
    config = load_config(repo / "worker.yml")
    base, cand = SHOWCASE
    comparison = compare_refs(
        repo,
        config,
        base,
        cand,
        env=env,
        log_dir=runs_dir(repo) / "worker-mode",
        progress=progress,
    )
    return f"worker mode (worker.yml), {cand} against {base}:\n\n" + comparison_text(comparison)


def run_demo(keep: Path | None, *, env: Mapping[str, str]) -> None:
    """``demo``: create the repository (in ``keep``, else a temporary folder), run the loop on it to its
    end, show the history, the status and worker mode, and write the report with its chart."""
    # the command's parts only: building the repository (`create`) needs none of them
    import tempfile  # noqa: PLC0415

    import click  # noqa: PLC0415

    from ci_autoresearch.app.loop import LoopOptions  # noqa: PLC0415
    from ci_autoresearch.app.run import run_loop  # noqa: PLC0415
    from ci_autoresearch.console import progress_printer  # noqa: PLC0415
    from ci_autoresearch.forge.local import LocalForge  # noqa: PLC0415
    from ci_autoresearch.history import notes  # noqa: PLC0415
    from ci_autoresearch.history.state import state_dir  # noqa: PLC0415
    from ci_autoresearch.report import views  # noqa: PLC0415
    from ci_autoresearch.report.text import history_text  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="autoresearch-demo-") as tmp:
        repo = create((keep or Path(tmp) / "demo").resolve(), env)
        click.echo(
            f"demo repository: {repo}\ncandidates: "
            + ", ".join(CANDIDATES)
            + " and a search over the sort algorithm\n"
        )
        config = load_config(repo / ".autoresearch.yml")
        outcome = run_loop(
            repo, config, env, LocalForge(state_dir(repo), say=click.echo), LoopOptions(branch="main")
        )
        evaluations = notes.load(repo).latest()
        click.echo("\n" + history_text(evaluations))
        click.echo(views.status_text(views.status_json(evaluations, config)), nl=False)
        click.echo(f"stopped: {outcome.reason}")
        click.echo("\n" + worker_showcase(repo, env, progress=progress_printer(env)))
        report_dir = state_dir(repo) if keep else Path(tempfile.gettempdir())
        report = report_dir / "autoresearch-demo-report.md"
        report.write_text(
            views.report_markdown(evaluations, config, title="ci-autoresearch demo", changes=outcome.changes)
        )
        click.echo(f"report with chart: {report}")
        if keep:
            click.echo(f"explore it: cd {repo} && ci-autoresearch history && git log --oneline --graph --all")
