"""What the tool costs: its overhead around the benchmark, its start-up, its history at scale, its API calls.

* Tool overhead: ``ci-autoresearch compare main cand --json --out X`` run as a real subprocess in a
  temporary repository whose benchmark sleeps 0.2 s and 2 s; the wall time of the whole command divided
  by the time the benchmark itself ran. The benchmark time is the sum of the per-run wall times in the
  comparison JSON (every measured run) plus the warm-up runs, which the JSON does not carry: they are
  counted from the ``*.warmup*.stdout.log`` files in the logs directory next to ``--out`` and each is
  taken to last the median run of its side. Everything else — interpreter start-up, git worktrees, the
  launcher process of each run, the statistics, writing the JSON — is overhead.
* Start-up: the median wall time of ``ci-autoresearch --help`` and ``validate`` (``python -m
  ci_autoresearch``, this interpreter), next to the bare interpreter's ``python -c pass``; and whether
  PyGithub was imported (``python -X importtime``).
* History at scale: 10 000 evaluation notes (one ``evaluation@1`` line each, built with
  ``artifacts.evaluation_to_json``) on 10 000 commits, written with ``git fast-import``; the wall time of
  ``status --json`` and ``history --json``, cold (no cache under ``.git/autoresearch/cache``: every note is
  parsed and validated) and warm (the cache the first call wrote).
* GitHub API calls per evaluated PR, counted by the fake GitHub server — once ``forge/github.py`` exists.

``--quick`` shrinks everything (shorter benchmarks, 3 rounds, 300 notes) to check that it works.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

from ci_autoresearch.artifacts import evaluation_to_json, parse_document
from ci_autoresearch.measure.environment import detect_environment
from ci_autoresearch.model import Comparison, Estimate, Evaluation, MetricComparison, RefInfo

RESULT_SCHEMA = "ci-autoresearch-bench/overhead@1"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@dataclass(frozen=True)
class Settings:
    quick: bool
    benchmarks_s: tuple[float, ...]
    compare_repeats: int
    collection: Mapping[str, int] | None  # None: the defaults
    max_rounds: int | None
    startup_runs: int
    notes: int
    warm_runs: int


FULL = Settings(
    quick=False,
    benchmarks_s=(0.2, 2.0),
    compare_repeats=3,
    collection=None,
    max_rounds=None,
    startup_runs=15,
    notes=10_000,
    warm_runs=3,
)
QUICK = Settings(
    quick=True,
    benchmarks_s=(0.02, 0.2),
    compare_repeats=1,
    collection={"warmup_runs": 1, "measurement_runs": 3},
    max_rounds=3,
    startup_runs=3,
    notes=300,
    warm_runs=1,
)


def env() -> dict[str, str]:
    e = common.python_env()
    e.update(GIT_ENV)
    e.pop("AUTORESEARCH_DEBUG", None)
    return e


def git(repo: Path, *args: str, input: str | None = None) -> str:
    out = subprocess.run(
        ["git", *args], cwd=repo, env=env(), input=input, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def cli(
    args: Sequence[str], cwd: Path, *, extra: Sequence[str] = ()
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run ``python -m ci_autoresearch ARGS`` as a user would; (wall seconds, the finished process)."""
    argv = [sys.executable, *extra, "-m", "ci_autoresearch", *args]
    t0 = time.perf_counter()
    res = subprocess.run(argv, cwd=cwd, env=env(), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(
            f"`{shlex.join(argv)}` failed in {cwd} (exit {res.returncode}):\n{res.stderr[-3000:]}"
        )
    return wall, res


def init_repo(path: Path, files: Mapping[str, str]) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for name, text in files.items():
        (path / name).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def config_text(settings: Settings, command: str) -> str:
    lines = ["objective:", "  metric: wall_time", "benchmark:", f"  command: {json.dumps(command)}"]
    if settings.collection:
        lines += ["metrics:", "  collection:"] + [f"    {k}: {v}" for k, v in settings.collection.items()]
    if settings.max_rounds:
        lines += ["decision:", f"  max_rounds: {settings.max_rounds}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# tool overhead


def measure_compare(settings: Settings, seconds: float, tmp: Path) -> dict[str, Any]:
    bench = f"import time\ntime.sleep({seconds!r})\n"
    command = f"{shlex.quote(sys.executable)} -S bench.py"
    repo = init_repo(
        tmp / f"compare-{seconds:g}",
        {"bench.py": bench, ".autoresearch.yml": config_text(settings, command), "README.md": "baseline\n"},
    )
    git(repo, "checkout", "-q", "-b", "cand")
    (repo / "README.md").write_text("candidate: the same benchmark (an A/A pair)\n")
    git(repo, "commit", "-q", "-am", "candidate")
    git(repo, "checkout", "-q", "main")
    repeats = []
    for i in range(settings.compare_repeats):
        out = tmp / f"cmp-{seconds:g}-{i}.json"
        wall, _ = cli(["compare", "main", "cand", "--fresh", "--json", "--out", str(out)], repo)
        doc = json.loads(out.read_text())
        samples = doc["metrics"]["wall_time"]["samples"]
        logs = out.parent / f"{out.name}.logs"
        warm = {
            side: len(list(logs.glob(f"{side}.warmup*.stdout.log"))) for side in ("baseline", "candidate")
        }
        measured = math_sum(samples["baseline"]) + math_sum(samples["candidate"])
        warm_s = sum(n * statistics.median(samples[side]) for side, n in warm.items() if samples[side])
        runs = len(samples["baseline"]) + len(samples["candidate"])
        bench_s = measured + warm_s
        repeats.append(
            {
                "compare_wall_s": wall,
                "rounds": doc["rounds"],
                "verdict": doc["verdict"],
                "measured_runs": runs,
                "measured_s": measured,
                "warmup_runs": sum(warm.values()),
                "warmup_s_estimated": warm_s,
                "benchmark_s": bench_s,
                "ratio": wall / bench_s,
                "ratio_measured_runs_only": wall / measured,
                "overhead_s": wall - bench_s,
                "overhead_per_run_ms": (wall - bench_s) / (runs + sum(warm.values())) * 1000,
            }
        )
    ratios = [r["ratio"] for r in repeats]
    return {
        "benchmark_seconds": seconds,
        "command": command,
        "repeats": repeats,
        "ratio_median": statistics.median(ratios),
        "ratio_max": max(ratios),
    }


def math_sum(values: Sequence[float]) -> float:
    return float(sum(values))


# --------------------------------------------------------------------------------------------------
# start-up


def export_revision(rev: str, dest: Path) -> Path:
    """The package of another revision of this repository, exported (``git archive``) into ``dest``."""
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(common.ROOT), "archive", rev, "ci_autoresearch"], capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise SystemExit(f"--against {rev}: {archive.stderr.decode(errors='replace').strip()}")
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def measure_startup(settings: Settings, tmp: Path, against: str | None = None) -> dict[str, Any]:
    """Start-up medians, interleaved; with ``against``, the same commands of that revision beside them
    (its package first on ``PYTHONPATH``), so the two are measured side by side under the same load."""
    repo = init_repo(
        tmp / "startup",
        {".autoresearch.yml": config_text(settings, "python bench.py"), "bench.py": "print('hi')\n"},
    )
    cases: dict[str, tuple[list[str], dict[str, str]]] = {
        "python -c pass": ([sys.executable, "-c", "pass"], env()),
        "ci-autoresearch --help": ([sys.executable, "-m", "ci_autoresearch", "--help"], env()),
        "ci-autoresearch validate": ([sys.executable, "-m", "ci_autoresearch", "validate"], env()),
    }
    if against:
        other = {**env(), "PYTHONPATH": str(export_revision(against, tmp / "against"))}
        for command in ("--help", "validate"):
            cases[f"ci-autoresearch {command} @ {against}"] = (
                [sys.executable, "-m", "ci_autoresearch", command],
                other,
            )
    out: dict[str, Any] = {}
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(settings.startup_runs):  # interleaved, so load changes hit every command alike
        for name, (argv, case_env) in cases.items():
            t0 = time.perf_counter()
            res = subprocess.run(argv, cwd=repo, env=case_env, capture_output=True, text=True, check=False)
            times[name].append(time.perf_counter() - t0)
            if res.returncode != 0:
                raise SystemExit(f"{name} failed (exit {res.returncode}): {res.stderr[-2000:]}")
    for name, (argv, case_env) in cases.items():
        entry: dict[str, Any] = {
            "runs": len(times[name]),
            "median_s": statistics.median(times[name]),
            "min_s": min(times[name]),
        }
        if name != "python -c pass":
            res = subprocess.run(
                [argv[0], "-X", "importtime", *argv[1:]],
                cwd=repo,
                env=case_env,
                capture_output=True,
                text=True,
                check=False,
            )
            modules = _import_times(res.stderr)
            entry["pygithub_imported"] = any(m == "github" or m.startswith("github.") for m in modules)
            top = sorted(((m, t) for m, t in modules.items() if "." not in m), key=lambda x: -x[1])[:6]
            entry["heaviest_imports_ms"] = {m: round(t / 1000, 1) for m, t in top}
        out[name] = entry
    if against:
        for command in ("--help", "validate"):
            now = out[f"ci-autoresearch {command}"]["median_s"]
            out[f"ci-autoresearch {command}"][f"ratio_to_{against}"] = (
                now / out[f"ci-autoresearch {command} @ {against}"]["median_s"]
            )
    return out


_IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def _import_times(text: str) -> dict[str, int]:
    """Cumulative import time in microseconds per module, from ``-X importtime`` output."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        m = _IMPORT_LINE.match(line)
        if m:
            out[m.group(4)] = max(out.get(m.group(4), 0), int(m.group(2)))
    return out


# --------------------------------------------------------------------------------------------------
# history at scale


def template_evaluation() -> dict[str, Any]:
    """One realistic evaluation@1 document (10 rounds of wall time), to be varied per note."""
    base = tuple(0.100 + 0.001 * (i % 3) for i in range(10))
    cand = tuple(0.095 + 0.001 * (i % 3) for i in range(10))
    est = Estimate(ratio=0.95, ci_low=0.94, ci_high=0.96, p_value=0.002, n=10, confidence=0.95, paired=True)
    metric = MetricComparison(
        name="wall_time",
        unit="s",
        direction="minimize",
        role="objective",
        baseline=base,
        candidate=cand,
        estimate=est,
        verdict="improved",
    )
    comparison = Comparison(
        baseline=RefInfo(ref="main", sha="0" * 40),
        candidate=RefInfo(ref="autoresearch/x", sha="1" * 40),
        objective="wall_time",
        direction="minimize",
        verdict="improved",
        reason="wall_time −5.0% (95% CI −6.0% … −4.0%, p=0.002, n=10): beyond the 1.0% minimum effect",
        metrics={"wall_time": metric},
        gate=None,
        rounds=10,
        paired=True,
        order="abba",
        seed=0,
        min_effect=0.01,
        confidence=0.95,
        config_hash="0123456789abcdef",
        environment=detect_environment(os.environ),
        started_at="2026-01-01T00:00:00Z",
        finished_at="2026-01-01T00:00:05Z",
    )
    ev = Evaluation(
        comparison=comparison,
        decision="kept",
        decision_reason="improved",
        iteration=1,
        key="k",
        source="branch:autoresearch/x",
        candidate_head="1" * 40,
        objective_value=0.095,
        measured_seconds=2.0,
        new_best="1" * 40,
    )
    return evaluation_to_json(ev)


def build_history(repo: Path, n: int) -> dict[str, Any]:
    """``n`` commits on ``main`` and one note per commit, all through ``git fast-import``."""
    t0 = time.perf_counter()
    stream = []
    parent = git(repo, "rev-parse", "HEAD")
    for i in range(1, n + 1):
        msg = f"candidate {i}\n"
        stream.append(
            f"commit refs/heads/main\nmark :{i}\ncommitter Bench <bench@example.invalid> "
            f"{1_700_000_000 + i} +0000\ndata {len(msg)}\n{msg}"
            + (f"from {parent}\n" if i == 1 else "")
            + "\n"
        )
    marks = repo / ".git" / "bench-marks"
    subprocess.run(
        ["git", "fast-import", "--quiet", f"--export-marks={marks}"],
        cwd=repo,
        env=env(),
        input="".join(stream).encode(),
        check=True,
    )
    shas = {}
    for line in marks.read_text().splitlines():
        mark, sha = line.split()
        shas[int(mark[1:])] = sha
    template = template_evaluation()
    first = shas[1]
    notes = []
    for i in range(1, n + 1):
        sha = shas[i]
        doc = json.loads(json.dumps(template))
        doc["candidate"]["sha"] = sha
        doc["baseline"]["sha"] = shas[i - 1] if i > 1 else first
        doc["candidate_head"] = sha
        doc["iteration"] = i
        doc["key"] = f"{sha}:{doc['baseline']['sha']}:{doc['config_hash']}"
        doc["decision"] = "kept" if i % 10 == 0 else "discarded"
        doc["new_best"] = sha if i % 10 == 0 else None
        doc["objective_value"] = round(0.1 * (1 - i / (4 * n)), 6)
        doc["finished_at"] = f"2026-01-01T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z"
        line = json.dumps(doc, separators=(",", ":"), ensure_ascii=True) + "\n"
        if i == 1:
            parse_document(line, source="bench template")  # the notes are valid evaluation@1 documents
        data = line.encode()
        notes.append(f"N inline {sha}\ndata {len(data)}\n".encode() + data + b"\n")
    msg = b"Notes added by bench/overhead.py\n"
    head = (
        b"commit refs/notes/autoresearch\ncommitter Bench <bench@example.invalid> 1700000000 +0000\n"
        + f"data {len(msg)}\n".encode()
        + msg
        + b"\n"
    )
    subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=repo, env=env(), input=head + b"".join(notes), check=True
    )
    count = len(git(repo, "notes", "--ref=refs/notes/autoresearch", "list").splitlines())
    return {"notes": count, "note_bytes": len(line), "build_seconds": time.perf_counter() - t0}


def measure_history(settings: Settings, tmp: Path) -> dict[str, Any]:
    repo = init_repo(
        tmp / "history",
        {".autoresearch.yml": config_text(settings, "python bench.py"), "bench.py": "print('hi')\n"},
    )
    built = build_history(repo, settings.notes)
    cache = repo / ".git" / "autoresearch" / "cache"
    out: dict[str, Any] = {**built}
    for name, args in (("status --json", ["status", "--json"]), ("history --json", ["history", "--json"])):
        _clear(cache)
        cold, res = cli(args, repo)  # the first call parses every note and writes the cache
        warms = [cli(args, repo)[0] for _ in range(settings.warm_runs)]
        entry = {
            "cold_s": cold,
            "warm_s": statistics.median(warms),
            "warm_runs": len(warms),
            "output_bytes": len(res.stdout),
        }
        if name == "history --json":
            entry["evaluations_listed"] = len(json.loads(res.stdout).get("evaluations", []))
        out[name] = entry
    return out


def _clear(cache: Path) -> None:
    if cache.is_dir():
        for f in cache.iterdir():
            f.unlink()


# --------------------------------------------------------------------------------------------------
# GitHub API calls


def measure_api_calls() -> dict[str, Any]:
    """Publish one evaluation to the fake GitHub (tests/fakegithub) and count the REST calls."""
    if importlib.util.find_spec("ci_autoresearch.forge.github") is None:
        return {
            "available": False,
            "reason": "not available yet: ci_autoresearch/forge/github.py does not exist",
        }
    try:
        from ci_autoresearch.artifacts import evaluation_from_json
        from ci_autoresearch.config.model import GithubConfig
        from ci_autoresearch.forge import Publication
        from ci_autoresearch.forge.github import GithubForge
        from ci_autoresearch.report.markdown import evaluation_markdown
        from tests.fakegithub import FakeGitHub
    except Exception as err:  # the forge or the fake server (needs the test extra) cannot be imported
        return {"available": False, "reason": f"cannot import the forge or the fake server: {err}"}
    repository, branch = "octo-org/project", "autoresearch/faster"
    scenarios: dict[str, list[str]] = {}
    with FakeGitHub() as server:
        owner, name = repository.split("/")
        server.add_repo(owner, name, default_branch="main")
        number = server.add_pull(branch, title="faster", labels=[GithubConfig().labels.candidate]).number
        doc = template_evaluation()
        doc["candidate"] = {"ref": branch, "sha": server.branches()[branch]}
        ev = evaluation_from_json(doc)
        env = {
            "GITHUB_API_URL": server.url,
            "GITHUB_TOKEN": server.token,
            "GITHUB_REPOSITORY": repository,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "1",
        }

        def publish(pub: Any) -> list[str]:
            forge = GithubForge.from_env(env, config=GithubConfig(), say=lambda _: None, sleep=lambda _: None)
            before = len(server.calls)
            forge.publish(pub)
            return [c.operation_id or c.path for c in server.calls[before:]]

        markdown = evaluation_markdown(ev)
        scenarios["PR job, first run"] = publish(Publication(evaluation=ev, markdown=markdown, pull=number))
        scenarios["PR job, re-run (nothing changed)"] = publish(
            Publication(evaluation=ev, markdown=markdown, pull=number)
        )
        scenarios["scheduled run, PR found by branch"] = publish(
            Publication(evaluation=ev, markdown=markdown, branch=branch)
        )
        violations = len(getattr(server, "violations", []))
    return {
        "available": True,
        "calls": {k: len(v) for k, v in scenarios.items()},
        "operations": scenarios,
        "contract_violations": violations,
    }


# --------------------------------------------------------------------------------------------------
# report


def targets(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for c in doc["compare"]:
        if c["benchmark_seconds"] >= 1.0:
            out.append(
                {
                    "target": f"overhead ratio ≤ 1.05 for a {c['benchmark_seconds']:g} s benchmark",
                    "measured": f"{c['ratio_median']:.3f} (median of {len(c['repeats'])})",
                    "met": c["ratio_median"] <= 1.05,
                }
            )
    for name in ("ci-autoresearch --help", "ci-autoresearch validate"):
        s = doc["startup"][name]
        out.append(
            {
                "target": f"`{name}` < 0.3 s",
                "measured": common.seconds(s["median_s"]),
                "met": s["median_s"] < 0.3,
            }
        )
    for name in ("status --json", "history --json"):
        h = doc["history"][name]
        n = doc["history"]["notes"]
        out.append(
            {
                "target": f"`{name}` over {n} notes < 2 s (warm / cold)",
                "measured": f"{common.seconds(h['warm_s'])} / {common.seconds(h['cold_s'])}",
                "met": h["warm_s"] < 2.0 and h["cold_s"] < 2.0,
            }
        )
    return out


def render(doc: Mapping[str, Any]) -> str:
    lines = [
        f"# Overhead{' (quick: a check that it works, not a measurement)' if doc['quick'] else ''}",
        "",
        f"Machine: {common.platform_summary(doc['machine'])}.",
        "",
        "## Tool overhead of `compare`",
        "",
    ]
    rows = []
    for c in doc["compare"]:
        r = sorted(c["repeats"], key=lambda x: x["ratio"])[len(c["repeats"]) // 2]  # the median one
        rows.append(
            [
                f"{c['benchmark_seconds']:g} s sleep",
                f"{r['rounds']} ({r['verdict']})",
                f"{r['measured_runs']} + {r['warmup_runs']}",
                f"{r['benchmark_s']:.2f} s",
                f"{r['compare_wall_s']:.2f} s",
                f"**{c['ratio_median']:.3f}**",
                f"{r['ratio_measured_runs_only']:.3f}",
                f"{r['overhead_per_run_ms']:.0f} ms",
            ]
        )
    lines += [
        common.markdown_table(
            [
                "benchmark",
                "rounds (verdict)",
                "runs (measured + warm-up)",
                "benchmark time",
                "compare wall time",
                "ratio",
                "ratio w/o warm-ups",
                "overhead per run",
            ],
            rows,
        ),
        "",
    ]
    lines += ["## Start-up", ""]
    rows = []
    for name, s in doc["startup"].items():
        heavy = ", ".join(f"{m} {t:g} ms" for m, t in s.get("heaviest_imports_ms", {}).items())
        pyg = "—" if "pygithub_imported" not in s else ("yes" if s["pygithub_imported"] else "no")
        rows.append(
            [f"`{name}`", common.seconds(s["median_s"]), common.seconds(s["min_s"]), pyg, heavy or "—"]
        )
    lines += [
        common.markdown_table(
            ["command", "median", "min", "PyGithub imported", "heaviest imports"], rows, "lrrll"
        ),
        "",
    ]
    ratios = [
        f"`{name}` {value:.2f}"
        for name, s in doc["startup"].items()
        for key, value in s.items()
        if key.startswith("ratio_to_")
    ]
    if ratios:
        rev = next(k for s in doc["startup"].values() for k in s if k.startswith("ratio_to_"))[9:]
        lines += [f"Side by side with {rev} (median now / median then): {', '.join(ratios)}.", ""]
    h = doc["history"]
    lines += [
        "## History at scale",
        "",
        f"{h['notes']} evaluation notes ({h['note_bytes']} bytes each), built in {h['build_seconds']:.1f} s "
        "with `git fast-import`.",
        "",
    ]
    rows = [
        [f"`{name}`", common.seconds(h[name]["cold_s"]), common.seconds(h[name]["warm_s"])]
        for name in ("status --json", "history --json")
    ]
    lines += [common.markdown_table(["command", "cold (builds the cache)", "warm"], rows), ""]
    api = doc["api_calls"]
    lines += [
        "## GitHub API calls per evaluated PR",
        "",
        (
            api["reason"]
            if not api["available"]
            else common.markdown_table(
                ["run", "calls", "operations"],
                [[k, v, ", ".join(api["operations"][k])] for k, v in api["calls"].items()],
                "lrl",
            )
        ),
        "",
    ]
    lines += [
        "## Targets",
        "",
        common.markdown_table(
            ["target", "measured", "met"],
            [[t["target"], t["measured"], "yes" if t["met"] else "**no**"] for t in doc["targets"]],
            "lll",
        ),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument(
        "--against",
        metavar="REV",
        help="also time --help and validate of this revision, interleaved with the current tree's",
    )
    args = p.parse_args(argv)
    settings = QUICK if args.quick else FULL
    machine = common.machine_info()
    started = time.perf_counter()
    doc: dict[str, Any] = {
        "schema": RESULT_SCHEMA,
        "machine": machine,
        "quick": settings.quick,
        "settings": {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in settings.__dict__.items()},
    }
    with tempfile.TemporaryDirectory(prefix="autoresearch-overhead-") as tmp_name:
        tmp = Path(tmp_name)
        doc["startup"] = measure_startup(settings, tmp, args.against)
        print(f"start-up measured ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
        doc["history"] = measure_history(settings, tmp)
        print(f"history measured ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
        doc["compare"] = []
        for seconds in settings.benchmarks_s:
            doc["compare"].append(measure_compare(settings, seconds, tmp))
            print(
                f"compare with a {seconds:g} s benchmark measured ({time.perf_counter() - started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    doc["api_calls"] = measure_api_calls()
    doc["targets"] = targets(doc)
    doc["elapsed_seconds"] = time.perf_counter() - started
    text = render(doc)
    doc["markdown"] = text
    path = common.write_json(args.out_dir / common.result_name("overhead", settings.quick), doc)
    print(text)
    print(f"written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
