"""A hostile candidate, run through plan → evaluate → publish as the example workflows run them.

Its gate (`check.py`, which a candidate may change: it is candidate code) does what code in a CI job
can do: it reads every ancestor's `/proc/<pid>/environ` and every other readable one, the repository's
git config, plants hooks (`hooks/`, `core.hooksPath`, `core.fsmonitor`) for the tool's own git commands,
and writes the runner's command files (`GITHUB_ENV`, `GITHUB_OUTPUT`) it finds named in the tool's
environment. Separately, forged bundles claim another pull request, another slot, another commit.

What must hold: no secret reaches the candidate (the jobs that run it hold none, and refuse to start
with one); nothing it planted runs; what it wrote to the command files is undone and makes it invalid;
publish writes only to the right pull request and refuses forged routing.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakegithub import FakeGitHub
from tests.fakegithub.fixtures import DEFAULT_REPO
from tests.helpers import git, make_repo
from tests.integration.pipeline import LABEL, Pipeline, zip_dir

HOSTILE_GATE = r"""
import json, os, pathlib, re, subprocess

loot = {"environ": {}, "git_config": "", "planted": [], "wrote": []}

def read(path):
    try:
        return pathlib.Path(path).read_bytes()
    except OSError:
        return b""

# every ancestor, then every process this user can read
pid = os.getpid()
chain = []
while pid > 1:
    status = read(f"/proc/{pid}/status").decode(errors="replace")
    match = re.search(r"^PPid:\s+(\d+)", status, re.M)
    pid = int(match.group(1)) if match else 1
    chain.append(pid)
for entry in pathlib.Path("/proc").iterdir():
    if entry.name.isdigit():
        chain.append(int(entry.name))
for pid in chain:
    for item in read(f"/proc/{pid}/environ").split(b"\0"):
        name, _, value = item.decode(errors="replace").partition("=")
        if name:
            loot["environ"].setdefault(name, value)

# the repository's git directory, through the checkout
cmd = ["git", "rev-parse", "--git-common-dir"]
common = subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
gitdir = pathlib.Path(common).resolve()
loot["git_config"] = read(gitdir / "config").decode(errors="replace")
marker = pathlib.Path(MARKER)
hook = f"#!/bin/sh\necho \"$0 ran\" >> {marker}\n"
for name in ("pre-push", "post-checkout", "reference-transaction", "pre-commit", "post-rewrite"):
    path = gitdir / "hooks" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(hook)
    path.chmod(0o755)
    loot["planted"].append(str(path))
evil = gitdir / "evil-hooks"
evil.mkdir(exist_ok=True)
for name in ("pre-push", "reference-transaction", "post-checkout"):
    (evil / name).write_text(hook)
    (evil / name).chmod(0o755)
(gitdir / "fsmonitor.sh").write_text(hook)
(gitdir / "fsmonitor.sh").chmod(0o755)
subprocess.run(["git", "config", "core.hooksPath", str(evil)], check=False)
subprocess.run(["git", "config", "core.fsmonitor", str(gitdir / "fsmonitor.sh")], check=False)

# the runner's command files, named in the tool's environment
for name in ("GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_PATH", "GITHUB_STEP_SUMMARY"):
    target = loot["environ"].get(name)
    if target:
        with open(target, "a") as fh:
            fh.write("verdict=improved\nNODE_OPTIONS=--require /tmp/evil.js\n")
        loot["wrote"].append(name)

pathlib.Path(LOOT).write_text(json.dumps(loot))
print("ok")
"""


TOKEN = "ghs_C4nArYt0k3nTh4tMu5tN3v3rL34k00"


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """The fake with a token long enough to be searched for in what the candidate collected."""
    with FakeGitHub(token=TOKEN) as server:
        owner, name = DEFAULT_REPO.split("/")
        server.add_repo(owner, name, default_branch="main")
        yield server
        server.assert_no_violations()


@pytest.fixture
def pipe(tmp_path: Path, fake_github: FakeGitHub) -> Iterator[Pipeline]:
    yield Pipeline.create(tmp_path, fake_github)


def hostile(tmp: Path) -> tuple[str, Path, Path]:
    loot, marker = tmp / "loot.json", tmp / "hooks-ran.log"
    gate = f"MARKER = {str(marker)!r}\nLOOT = {str(loot)!r}\n" + HOSTILE_GATE
    return gate, loot, marker


def secrets_of(p: Pipeline) -> list[str]:
    assert p.server.token == TOKEN
    return [TOKEN]


def test_a_hostile_pull_request_gets_nothing_and_changes_nothing(pipe: Pipeline) -> None:
    p = pipe
    gate, loot_file, marker = hostile(p.tmp)
    p.branch("autoresearch/evil", {"factors/a.txt": "0.5\n", "check.py": gate})
    evil = p.pull("autoresearch/evil")
    p.branch("autoresearch/victim", {"factors/v.txt": "0.9\n"})
    victim = p.pull("autoresearch/victim")
    event = p.pr_event(evil.number, "autoresearch/evil")

    # the one-command entry with a token in reach refuses before any candidate code runs
    job = p.run("ci", ["ci"], "pull_request", event, token=True, expect=2)
    assert "refusing to run candidate code" in job.result.stderr and not loot_file.exists()

    _, [evaluate], run_id = p.pr_jobs(event)
    loot = json.loads(loot_file.read_text())
    # it read everything it could: and found no secret, no credential
    assert len(loot["environ"]) > 5 and "[core]" in loot["git_config"]
    everything = json.dumps(loot)
    for secret in secrets_of(p):
        assert secret not in everything
    assert "extraheader" not in loot["git_config"].lower()
    assert loot["environ"].get("GITHUB_TOKEN") != TOKEN
    # it found the command files and wrote to them: undone, and the candidate is invalid for it
    assert set(loot["wrote"]) >= {"GITHUB_ENV", "GITHUB_OUTPUT"}
    assert evaluate.outputs["verdict"] == "invalid"
    assert "GITHUB\\_OUTPUT" in evaluate.outputs["report"] and "restored" in evaluate.outputs["report"]
    assert "−50.0%" not in evaluate.outputs["report"]  # nothing it measured is shown or used
    temp = evaluate.path.parent / f"{evaluate.path.name}.temp"
    assert "NODE_OPTIONS" not in (temp / "output").read_text()
    assert (temp / "env").read_text() == "" and (temp / "path").read_text() == ""
    # what it planted never ran: the tool's own git commands after it ran no hook and no fsmonitor
    assert loot["planted"] and not marker.exists()

    # publish: the right PR only, and the evaluation says why
    before = len(p.server.calls)
    p.publish_run(run_id, evil.number, "autoresearch/evil")
    touched = {c.path for c in p.server.calls[before:] if c.method != "GET"}
    assert touched and all(
        f"/{victim.number}/" not in path and victim.head_sha not in path for path in touched
    )
    [body] = p.sticky(evil.number)
    assert "autoresearch: **invalid**" in body and "GITHUB\\_OUTPUT" in body
    assert p.server.comments(victim.number) == [] and p.server.statuses(victim.head_sha) == []
    assert not marker.exists()


def forged(bundle: dict[str, Any], **changes: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(bundle))
    ev = doc["evaluation"]
    for key, value in changes.items():
        if key == "slot":
            doc["slot"] = value
        elif key == "candidate":
            ev["candidate"]["sha"] = value
        elif key in ("source", "candidate_head", "key", "verdict"):
            ev[key] = value
    return doc


def test_forged_bundles_are_refused_and_write_nothing_elsewhere(pipe: Pipeline, tmp_path: Path) -> None:
    """A bundle is untrusted: one claiming another PR, another sha, another base or an evaluation key of
    its own choosing is refused, and publish writes only where the trusted event points."""
    p = pipe
    p.branch("autoresearch/a", {"factors/a.txt": "1.5\n"})  # a regression
    a = p.pull("autoresearch/a")
    p.branch("autoresearch/b", {"factors/b.txt": "1.0\n"})
    b = p.pull("autoresearch/b")
    event = p.pr_event(a.number, "autoresearch/a")
    _, [job], _ = p.pr_jobs(event, upload=False)
    [bundle_file] = Path(job.outputs["bundles"]).glob("*.json")
    genuine = json.loads(bundle_file.read_text())
    b_sha = p.sha("autoresearch/b")
    forgeries = {
        "another-pr": forged(
            genuine, slot=f"pr-{b.number}", source=f"pr:{b.number}", candidate=b_sha, candidate_head=b_sha
        ),
        "another-sha": forged(genuine, candidate="e" * 40, candidate_head="e" * 40, verdict="improved"),
        "another-key": forged(genuine, key=f"{'f' * 40}:{'f' * 40}:x", verdict="improved"),
    }
    for name, doc in forgeries.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "bundle.json").write_text(json.dumps(doc))
        run = p.server.add_workflow_run("autoresearch/a", p.sha("autoresearch/a"), event="pull_request")
        p.server.add_artifact(f"autoresearch-bundle-pr-{a.number}", zip_dir(folder), run_id=run.id)
        before = len(p.server.calls)
        result = p.publish_run(run.id, a.number, "autoresearch/a")
        assert "bundle refused" in result.log, name
        assert [c for c in p.server.calls[before:] if c.method != "GET"] == [], name
    assert p.server.comments(b.number) == [] and p.server.statuses(b_sha) == []
    assert p.notes() == []

    # a forged workflow_run pointing at PR b with a's run: the API says b's head is not that commit
    run = p.server.add_workflow_run("autoresearch/a", p.sha("autoresearch/a"), event="pull_request")
    p.server.add_artifact(
        f"autoresearch-bundle-pr-{a.number}", zip_dir(Path(job.outputs["bundles"])), run_id=run.id
    )
    event = p.run_event(run.id, b.number, "autoresearch/a")
    result = p.run("publish", ["publish"], "workflow_run", event, token=True)
    assert p.server.comments(b.number) == []
    # the genuine bundle, for the right PR, is posted
    assert f"#{a.number}" in result.log or p.sticky(a.number)


def test_a_matrix_job_cannot_answer_for_another_slot(pipe: Pipeline) -> None:
    """A candidate in one evaluate job writes a bundle for another slot into its own upload: refused, and
    the other slot's genuine bundle still decides it."""
    p = pipe
    p.branch("autoresearch/x", {"factors/x.txt": "0.9\n"})
    p.branch("autoresearch/y", {"factors/y.txt": "1.2\n"})
    plan, evaluations, _ = p.nightly()
    entries = json.loads(plan.outputs["matrix"])["include"]
    assert [e["slot"] for e in entries] == ["c1", "c2"]
    downloads = p.tmp / "forged-downloads"
    for entry, job in zip(entries, evaluations, strict=True):
        shutil.copytree(job.outputs["bundles"], downloads / f"autoresearch-bundle-{entry['slot']}")
    # job c1 (x) also uploads a bundle claiming c2 (y) improved
    [c2_file] = (downloads / "autoresearch-bundle-c2").glob("*.json")
    fake = forged(json.loads(c2_file.read_text()), verdict="improved")
    (downloads / "autoresearch-bundle-c1" / "bundle-c2.json").write_text(json.dumps(fake))
    # start again from empty notes: this publish decides
    git(p.origin, "update-ref", "-d", "refs/notes/autoresearch")
    result = p.run(
        "publish",
        ["publish", "--plan", plan.outputs["plan"], "--bundles", str(downloads)],
        "workflow_dispatch",
        {"repository": {"default_branch": "main", "full_name": "octo-org/project"}},
        token=True,
    )
    assert "uploaded by the job of 'c1'" in result.log
    decisions = {n["source"]: (n["verdict"], n["decision"]) for n in p.notes()}
    assert decisions["branch:autoresearch/y"] == ("regressed", "discarded")
    assert decisions["branch:autoresearch/x"] == ("improved", "kept")
    assert LABEL  # the label constant is shared with the pipeline


def test_the_tools_own_git_commands_run_no_planted_hook(tmp_path: Path) -> None:
    """What a candidate plants in a shared git directory (hooks, core.hooksPath, core.fsmonitor) is run by
    plain git -- the control below -- and never by the tool's own git commands."""
    from ci_autoresearch import git as tool_git
    from ci_autoresearch.history import notes as history

    repo = make_repo(tmp_path / "repo", {"a.txt": "1\n"})
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    marker = tmp_path / "ran.log"
    hook = f'#!/bin/sh\necho "$0" >> {marker}\n'
    evil = tmp_path / "evil-hooks"
    evil.mkdir()
    for folder in (repo / ".git" / "hooks", evil):
        for name in ("pre-push", "reference-transaction", "post-checkout"):
            (folder / name).write_text(hook)
            (folder / name).chmod(0o755)
    monitor = tmp_path / "fsmonitor.sh"
    monitor.write_text(hook)
    monitor.chmod(0o755)
    git(repo, "config", "core.hooksPath", str(evil))
    git(repo, "config", "core.fsmonitor", str(monitor))

    head = tool_git.resolve(repo, "HEAD")
    tool_git.update_ref(repo, "refs/autoresearch/discarded/x", head)  # reference-transaction
    tool_git.is_dirty(repo)  # fsmonitor
    with tool_git.worktree(repo, head, tmp_path / "wt"):  # post-checkout
        pass
    tool_git.note_add(repo, head, "{}\n")
    history.push_notes(repo, "origin")  # pre-push
    assert not marker.exists()

    git(repo, "update-ref", "refs/heads/control", head)  # the control: plain git runs them
    git(repo, "status")
    assert marker.exists() and str(evil) in marker.read_text()
