"""What the plan → evaluate → publish split costs: API calls per evaluated PR, and a nightly as jobs.

* API calls: a labelled PR run through plan, evaluate (no token) and a ``workflow_run`` publish against
  the fake GitHub (tests/fakegithub, every exchange checked against the OpenAPI subset); the calls the
  publish job makes, by operation -- the first run, a re-run with nothing changed, and the next push
  with another verdict. plan and evaluate make none.
* A nightly of three candidates whose benchmark burns ~0.3 s of CPU per run: the three evaluate jobs,
  each in its own clone as three runners would run them, timed one after the other (no contention); as
  a matrix the nightly takes plan + the slowest evaluate job + publish, as one job plan + their sum +
  publish. The same three jobs are also started at once here, on this machine's cores (contended), and
  ``ci`` evaluating all three in one process is timed as the one-job variant actually run.

Each repetition runs in a fresh temporary repository; medians over the repetitions are reported.
``--quick`` uses one repetition and a shorter benchmark.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

from tests.fakegithub import FakeGitHub
from tests.helpers import FIXTURES, cli
from tests.integration.pipeline import CONFIG, Job, Pipeline, evaluate_args

RESULT_SCHEMA = "ci-autoresearch-bench/pipeline@1"
CPU_BENCH = """\
import math, pathlib, time
factors = [float(p.read_text()) for p in sorted(pathlib.Path("factors").glob("*.txt"))]
work = int(ITERATIONS * math.prod(factors))
t = time.process_time()
x = 0
for i in range(work):
    x += i * i
print(f"METRIC score={100 * math.prod(factors):.6f}")
"""


def setup(tmp: Path, server: FakeGitHub, *, iterations: int) -> Pipeline:
    config = CONFIG.replace("measurement_runs: 6", "measurement_runs: 5").replace(
        "max_rounds: 8", "max_rounds: 5"
    )
    return Pipeline.create(tmp, server, config=config, bench=CPU_BENCH.replace("ITERATIONS", str(iterations)))


def api_calls(tmp: Path) -> dict[str, Any]:
    with FakeGitHub() as server:
        server.add_repo("octo-org", "project", default_branch="main")
        p = Pipeline.create(tmp, server, config=CONFIG.replace("github: {close_discarded: true}\n", ""))
        p.branch("autoresearch/a", {"factors/a.txt": "0.8\n"})
        pr = p.pull("autoresearch/a")
        scenarios: dict[str, list[tuple[str, str]]] = {}
        verdicts: dict[str, str] = {}

        def publish(name: str, action: str) -> None:
            _, _, run_id = p.pr_jobs(p.pr_event(pr.number, "autoresearch/a", action=action))
            before = len(server.calls)
            verdicts[name] = p.publish_run(run_id, pr.number, "autoresearch/a").outputs["verdict"]
            scenarios[name] = [
                (c.method, c.operation_id or "artifact zip (302 target)") for c in server.calls[before:]
            ]

        publish("first run", "labeled")
        publish("re-run, nothing changed", "synchronize")
        p.branch("autoresearch/a", {"factors/a.txt": "1.2\n"})
        publish("next push, another verdict", "synchronize")
        assert list(verdicts.values()) == ["improved", "improved", "regressed"], verdicts
        before_plan = len(server.calls)
        p.pr_jobs(p.pr_event(pr.number, "autoresearch/a", action="synchronize"), upload=False)
        return {
            "calls": {k: len(v) for k, v in scenarios.items()},
            "writes": {k: len([m for m, _ in v if m != "GET"]) for k, v in scenarios.items()},
            "operations": {k: [o for _, o in v] for k, v in scenarios.items()},
            "verdicts": verdicts,
            "plan_and_evaluate_calls": len(server.calls) - before_plan,
            "contract_violations": len(server.violations),
        }


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def nightly_once(tmp: Path, *, iterations: int) -> dict[str, float]:
    with FakeGitHub() as server:
        server.add_repo("octo-org", "project", default_branch="main")
        p = setup(tmp, server, iterations=iterations)
        for name, factor in (("x", "0.9"), ("y", "0.95"), ("z", "1.2")):
            p.branch(f"autoresearch/{name}", {f"factors/{name}.txt": f"{factor}\n"})
        event = json.loads((FIXTURES / "github-events" / "workflow_dispatch.json").read_text())
        event["repository"]["full_name"], event["repository"]["default_branch"] = "octo-org/project", "main"
        plan_s, plan = timed(lambda: p.run("plan", ["plan"], "workflow_dispatch", event))
        entries = json.loads(plan.outputs["matrix"])["include"]
        assert len(entries) == 3, plan.log
        downloads = tmp / "downloads"
        evaluate_s: list[float] = []
        jobs: list[Job] = []
        for entry in entries:  # one after the other: each as on its own runner
            seconds, job = timed(
                lambda e=entry: p.run("evaluate", evaluate_args(e), "workflow_dispatch", event)
            )
            evaluate_s.append(seconds)
            jobs.append(job)
            shutil.copytree(job.outputs["bundles"], downloads / f"autoresearch-bundle-{entry['slot']}")
        # the same three jobs started at once on this machine's cores
        checkouts = [p.checkout(f"concurrent-{e['slot']}") for e in entries]
        envs = [p.env("workflow_dispatch", event, c, token=False) for c in checkouts]

        def start(i: int) -> subprocess.CompletedProcess[str]:
            return cli(evaluate_args(entries[i]), cwd=checkouts[i], env=envs[i])

        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=3) as pool:
            results = list(pool.map(start, range(3)))
        concurrent_s = time.perf_counter() - t0
        assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
        # one job: ci plans and evaluates all three in one process
        one_job_s, job = timed(lambda: p.run("ci", ["ci"], "workflow_dispatch", event))
        assert "3 bundle(s)" in job.log, job.log
        publish_s, _ = timed(
            lambda: p.run(
                "publish",
                ["publish", "--plan", plan.outputs["plan"], "--bundles", str(downloads)],
                "workflow_dispatch",
                event,
                token=True,
            )
        )
    return {
        "plan_s": plan_s,
        "evaluate_s_each": evaluate_s,  # type: ignore[dict-item]
        "publish_s": publish_s,
        "matrix_s": plan_s + max(evaluate_s) + publish_s,
        "one_job_sum_s": plan_s + sum(evaluate_s) + publish_s,
        "concurrent_here_s": plan_s + concurrent_s + publish_s,
        "ci_one_job_s": one_job_s + publish_s,
    }


def render(doc: dict[str, Any]) -> str:
    api = doc["api_calls"]
    lines = [
        "### API calls per evaluated PR (split mode, publish job; plan and evaluate make "
        f"{api['plan_and_evaluate_calls']})",
        "",
        "| scenario | calls | writes | operations |",
        "| :--- | ---: | ---: | :--- |",
    ]
    for name, count in api["calls"].items():
        ops = ", ".join(api["operations"][name])
        lines.append(f"| {name} | {count} | {api['writes'][name]} | {ops} |")
    lines += ["", f"Contract violations: {api['contract_violations']}", ""]
    n = doc["nightly"]
    lines += [
        f"### A three-candidate nightly (median of {len(n['runs'])}; seconds)",
        "",
        "| | plan | evaluate (each) | publish | total |",
        "| :--- | ---: | :--- | ---: | ---: |",
        f"| matrix, three runners (plan + slowest + publish) | {n['plan_s']:.1f} | "
        f"{', '.join(f'{x:.1f}' for x in n['evaluate_s_each'])} | {n['publish_s']:.1f} "
        f"| {n['matrix_s']:.1f} |",
        f"| one job, the same jobs in sequence | | | | {n['one_job_sum_s']:.1f} |",
        f"| `ci` evaluating all three in one job, + publish | | | | {n['ci_one_job_s']:.1f} |",
        f"| the three evaluate jobs at once on this machine's {doc['machine']['cores']} cores | | | | "
        f"{n['concurrent_here_s']:.1f} |",
        "",
        f"Matrix / one job: {n['matrix_s'] / n['ci_one_job_s']:.2f} (three runners), "
        f"{n['concurrent_here_s'] / n['ci_one_job_s']:.2f} (contended on this machine).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = common.parser(__doc__.split("\n\n")[0])
    args = p.parse_args(argv)
    repeats, iterations = (1, 200_000) if args.quick else (3, 4_000_000)
    doc: dict[str, Any] = {"schema": RESULT_SCHEMA, "machine": common.machine_info(), "quick": args.quick}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="autoresearch-pipeline-") as name:
        tmp = Path(name)
        doc["api_calls"] = api_calls(tmp / "api")
        runs = [nightly_once(tmp / f"nightly{i}", iterations=iterations) for i in range(repeats)]
    keys = ("plan_s", "publish_s", "matrix_s", "one_job_sum_s", "concurrent_here_s", "ci_one_job_s")
    doc["nightly"] = {k: statistics.median(r[k] for r in runs) for k in keys}
    doc["nightly"]["evaluate_s_each"] = [
        statistics.median(r["evaluate_s_each"][i] for r in runs)  # type: ignore[index]
        for i in range(3)
    ]
    doc["nightly"]["runs"] = runs
    doc["elapsed_seconds"] = time.perf_counter() - started
    text = render(doc)
    doc["markdown"] = text
    path = common.write_json(args.out_dir / common.result_name("pipeline", args.quick), doc)
    print(text)
    print(f"written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
