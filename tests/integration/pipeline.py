"""A GitHub Actions pipeline on one machine: each job a fresh clone of a bare "origin", the real CLI in
each, artifacts handed over as the runner would (zips on the fake GitHub, or a downloaded folder), the
real PyGithub talking to the fake GitHub on loopback.

* ``plan`` / ``evaluate`` jobs get no token (as in the example workflows); ``publish`` gets one.
* A pull request: ``pr_jobs`` runs plan → one evaluate job per matrix entry → uploads each bundle as
  ``autoresearch-bundle-<slot>`` of a workflow run; ``publish_run`` runs the ``workflow_run`` job.
* The schedule: ``nightly`` runs plan → evaluate per entry (each in its own clone) → publish with the
  plan output and the bundles downloaded into one folder per artifact.

The benchmark is deterministic (``score = 100 × product of factors/*.txt``), so verdicts follow the data.
"""

from __future__ import annotations

import copy
import io
import json
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakegithub import FakeGitHub
from tests.helpers import FIXTURES, cli, commit_branch, git, make_repo

BENCH = """\
import math, pathlib
factors = [float(p.read_text()) for p in sorted(pathlib.Path("factors").glob("*.txt"))]
print(f"METRIC score={100 * math.prod(factors):.6f}")
"""
CONFIG = """\
objective: {metric: score}
benchmark: {command: python3 bench.py, timeout_seconds: 30}
gate: {command: python3 check.py, protected_paths: [bench.py]}
metrics: {collection: {warmup_runs: 0, measurement_runs: 6}}
decision: {max_rounds: 8}
github: {close_discarded: true}
"""
LABEL = "autoresearch:candidate"
MARKER = "<!-- ci-autoresearch:report -->"
REPO = "octo-org/project"


@dataclass
class Job:
    """One finished job: its checkout, its outputs, its summary, what it printed."""

    path: Path
    result: subprocess.CompletedProcess[str]
    outputs: dict[str, str]
    summary: str

    @property
    def log(self) -> str:
        return self.result.stdout + self.result.stderr


@dataclass
class Pipeline:
    tmp: Path
    server: FakeGitHub
    work: Path  # the developer's repository
    origin: Path  # the bare remote
    jobs: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, tmp: Path, server: FakeGitHub, *, config: str = CONFIG, bench: str = BENCH) -> Pipeline:
        """The developer's repository (the benchmark, a gate, one factor), its bare origin, and the fake
        GitHub's branches following origin."""
        work = make_repo(
            tmp / "work",
            {
                ".autoresearch.yml": config,
                "bench.py": bench,
                "check.py": "print('ok')\n",
                "factors/base.txt": "1.0\n",
                ".gitignore": ".autoresearch/\n",
            },
        )
        origin = tmp / "origin.git"
        git(tmp, "init", "-q", "--bare", "-b", "main", str(origin))
        git(work, "remote", "add", "origin", str(origin))
        git(work, "push", "-q", "origin", "main")
        server.mirror_git(origin)
        return cls(tmp=tmp, server=server, work=work, origin=origin)

    def commit_main(self, files: dict[str, str], message: str) -> None:
        """A change on main, pushed."""
        for name, text in files.items():
            (self.work / name).write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-qm", message)
        git(self.work, "push", "-q", "origin", "main")

    def store_baseline(self, push: dict[str, Any]) -> None:
        """The baseline job on ``push``, its result uploaded as the baseline artifact."""
        job = self.run("baseline", ["ci"], "push", push)
        text = Path(job.outputs["result-path"]).read_text()
        self.server.add_artifact(
            "autoresearch-baseline", zip_text("baseline.json", text), "main", self.sha("main")
        )

    # --- the repository ------------------------------------------------------------------------------

    def branch(self, name: str, files: dict[str, str], *, start: str = "main") -> str:
        sha = commit_branch(self.work, name, files, start=start)
        git(self.work, "push", "-q", "-f", "origin", f"{name}:{name}")
        self.server.set_branch(name, sha)
        return sha

    def sha(self, ref: str) -> str:
        return git(self.work, "rev-parse", ref)

    def pull(self, branch: str, *, fork: str | None = None, labels: tuple[str, ...] = (LABEL,)) -> Any:
        head = self.sha(branch)
        if fork is not None:
            pr = self.server.add_pull(branch, head_sha=head, labels=list(labels), head_repo=fork)
            git(self.work, "push", "-q", "-f", "origin", f"{head}:refs/pull/{pr.number}/head")
            return pr
        return self.server.add_pull(branch, head_sha=head, labels=list(labels))

    def push_fork_update(self, number: int, branch: str, fork: str) -> None:
        head = self.sha(branch)
        git(self.work, "push", "-q", "-f", "origin", f"{head}:refs/pull/{number}/head")
        self.server.set_branch(branch, head, repo=fork)

    # --- jobs ----------------------------------------------------------------------------------------

    def checkout(self, name: str) -> Path:
        """A runner's checkout: a fresh clone of origin with every branch and PR head (fetch-depth: 0)."""
        self.jobs += 1
        path = self.tmp / f"job{self.jobs}-{name}"
        git(self.tmp, "clone", "-q", str(self.origin), str(path))
        git(path, "fetch", "-q", "origin", "+refs/pull/*:refs/remotes/origin/pull/*")
        return path

    def env(self, event_name: str, event: dict[str, Any], job: Path, *, token: bool) -> dict[str, str]:
        path = job / ".." / f"{job.name}.event.json"
        path.write_text(json.dumps(event))
        runner_temp = job.parent / f"{job.name}.temp"
        runner_temp.mkdir(exist_ok=True)
        for name in ("output", "summary", "env", "path"):
            (runner_temp / name).write_text("")
        env = {
            "GITHUB_ACTIONS": "true",
            "CI": "true",
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": str(path.resolve()),
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_API_URL": self.server.url,
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_RUN_ID": "4242",
            "RUNNER_TEMP": str(runner_temp),
            "GITHUB_OUTPUT": str(runner_temp / "output"),
            "GITHUB_STEP_SUMMARY": str(runner_temp / "summary"),
            "GITHUB_ENV": str(runner_temp / "env"),
            "GITHUB_PATH": str(runner_temp / "path"),
            **self.extra_env,
        }
        if token:
            env["GITHUB_TOKEN"] = self.server.token
        return env

    def run(
        self,
        name: str,
        args: list[str],
        event_name: str,
        event: dict[str, Any],
        *,
        token: bool = False,
        expect: int = 0,
        job: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> Job:
        job = job or self.checkout(name)
        full_env = {**self.env(event_name, event, job, token=token), **(env or {})}
        res = cli(args, cwd=job, env=full_env)
        assert res.returncode == expect, res.stdout + res.stderr
        temp = Path(full_env["RUNNER_TEMP"])
        return Job(
            path=job,
            result=res,
            outputs=parse_outputs(temp / "output"),
            summary=(temp / "summary").read_text(),
        )

    # --- pull requests: plan + evaluate (unprivileged), publish (workflow_run) -------------------------

    def pr_event(
        self,
        number: int,
        head: str,
        *,
        action: str = "labeled",
        labels: tuple[str, ...] = (LABEL,),
        fork: str | None = None,
    ) -> dict[str, Any]:
        event = copy.deepcopy(
            json.loads((FIXTURES / "github-events" / "pull_request.labeled.json").read_text())
        )
        pr = event["pull_request"]
        label_shape = event["label"]
        event["action"] = action
        event["number"] = pr["number"] = number
        event["label"] = {**label_shape, "name": labels[0] if labels else "other"}
        pr["labels"] = [{**label_shape, "name": n} for n in labels]
        pr["head"]["ref"], pr["head"]["sha"] = head, self.sha(head)
        pr["base"]["ref"], pr["base"]["sha"] = "main", self.sha("main")
        pr["base"]["repo"]["full_name"] = REPO
        pr["head"]["repo"]["full_name"] = fork or REPO
        event["repository"]["full_name"], event["repository"]["default_branch"] = REPO, "main"
        return event

    def pr_jobs(self, event: dict[str, Any], *, upload: bool = True) -> tuple[Job, list[Job], int]:
        """plan, then one evaluate job per matrix entry; the bundles uploaded as one workflow run's
        artifacts. Returns the jobs and the run id."""
        plan = self.run("plan", ["plan"], "pull_request", event)
        pr = event["pull_request"]
        run = self.server.add_workflow_run(pr["head"]["ref"], pr["head"]["sha"], event="pull_request")
        evaluations = []
        for entry in json.loads(plan.outputs["matrix"])["include"]:
            job = self.run("evaluate", evaluate_args(entry), "pull_request", event)
            evaluations.append(job)
            if upload:
                self.server.add_artifact(
                    f"autoresearch-bundle-{entry['slot']}",
                    zip_dir(Path(job.outputs["bundles"])),
                    pr["head"]["ref"],
                    pr["head"]["sha"],
                    run_id=run.id,
                )
        return plan, evaluations, run.id

    def run_event(
        self, run_id: int, number: int | None, head: str, *, fork: str | None = None
    ) -> dict[str, Any]:
        event = json.loads((FIXTURES / "github-events" / "workflow_run.completed.json").read_text())
        wr = event["workflow_run"]
        wr["id"], wr["event"], wr["status"], wr["conclusion"] = run_id, "pull_request", "completed", "success"
        wr["head_branch"], wr["head_sha"] = head, self.sha(head)
        wr["head_repository"]["full_name"] = fork or REPO
        wr["pull_requests"] = [] if fork or number is None else [{**_pull_ref(wr), "number": number}]
        event["repository"]["full_name"], event["repository"]["default_branch"] = REPO, "main"
        return event

    def publish_run(
        self,
        run_id: int,
        number: int | None,
        head: str,
        *,
        fork: str | None = None,
        expect: int = 0,
        args: tuple[str, ...] = (),
    ) -> Job:
        return self.run(
            "publish",
            ["publish", *args],
            "workflow_run",
            self.run_event(run_id, number, head, fork=fork),
            token=True,
            expect=expect,
        )

    def pr_round(self, number: int, head: str, *, action: str = "labeled", fork: str | None = None) -> Job:
        event = self.pr_event(number, head, action=action, fork=fork)
        _, _, run_id = self.pr_jobs(event)
        return self.publish_run(run_id, number, head, fork=fork)

    # --- the schedule: plan → evaluate matrix → publish (needs:) -------------------------------------

    def nightly(
        self, *, event_name: str = "workflow_dispatch", evaluate_env: dict[str, str] | None = None
    ) -> tuple[Job, list[Job], Job | None]:
        event = json.loads((FIXTURES / "github-events" / "workflow_dispatch.json").read_text())
        event["repository"]["full_name"], event["repository"]["default_branch"] = REPO, "main"
        plan = self.run("plan", ["plan"], event_name, event)
        entries = json.loads(plan.outputs["matrix"])["include"]
        if not entries:
            return plan, [], None
        downloads = self.tmp / f"downloads{self.jobs}"
        evaluations = []
        for entry in entries:
            job = self.run("evaluate", evaluate_args(entry), event_name, event, env=evaluate_env)
            evaluations.append(job)
            shutil.copytree(job.outputs["bundles"], downloads / f"autoresearch-bundle-{entry['slot']}")
        publish = self.run(
            "publish",
            ["publish", "--plan", plan.outputs["plan"], "--bundles", str(downloads)],
            event_name,
            event,
            token=True,
        )
        return plan, evaluations, publish

    # --- inspection ----------------------------------------------------------------------------------

    def sticky(self, number: int) -> list[str]:
        return [c.body for c in self.server.comments(number) if MARKER in c.body]

    def notes(self) -> list[dict[str, Any]]:
        """Every evaluation line in origin's notes."""
        out = []
        listing = git(self.origin, "notes", "--ref=autoresearch", "list")
        for line in listing.splitlines():
            _, commit = line.split()
            text = git(self.origin, "notes", "--ref=autoresearch", "show", commit)
            out += [json.loads(x) for x in text.splitlines() if x.strip()]
        return out


def _pull_ref(wr: dict[str, Any]) -> dict[str, Any]:
    base = {
        "ref": "main",
        "sha": "0" * 40,
        "repo": {"id": 1, "url": "https://api.github.com/repos/x/y", "name": "y"},
    }
    return {
        "url": "https://api.github.com/repos/x/y/pulls/1",
        "id": 1,
        "head": {**base, "ref": wr["head_branch"], "sha": wr["head_sha"]},
        "base": base,
    }


def evaluate_args(entry: dict[str, str]) -> list[str]:
    args = ["evaluate", "--base", entry["base"], "--candidate", entry["candidate"], "--slot", entry["slot"]]
    for key in ("head", "source", "name"):
        if entry.get(key):
            args += [f"--{key}", entry[key]]
    return args


def parse_outputs(path: Path) -> dict[str, str]:
    """Parse ``name<<DELIM`` blocks as the runner does."""
    out: dict[str, str] = {}
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        name, _, delim = lines[i].partition("<<")
        j = lines.index(delim, i + 1)
        out[name] = "\n".join(lines[i + 1 : j])
        i = j + 1
    return out


def zip_dir(path: Path) -> bytes:
    """An artifact as upload-artifact makes it: the folder's files in a zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for file in sorted(path.rglob("*")):
            if file.is_file():
                z.write(file, file.relative_to(path).as_posix())
    return buf.getvalue()


def zip_text(name: str, text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(name, text)
    return buf.getvalue()
