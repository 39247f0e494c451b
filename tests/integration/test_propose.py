"""propose: ranked branches, search-space commits, the generator command (real git, real processes)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from ci_autoresearch import git as gitmod
from ci_autoresearch.candidates.branches import BOT_EMAIL, BOT_NAME, branch_candidates, rank
from ci_autoresearch.candidates.generator import run_propose
from ci_autoresearch.candidates.search_space import branch_name, search_candidates
from ci_autoresearch.config.model import Hypothesis, ProposeConfig, SearchParameter, SearchSpaceConfig
from ci_autoresearch.errors import BadInputError, MeasurementError
from tests.helpers import base_env, commit_branch, git, make_repo

ENV = base_env()  # the environment of the git processes that make search-space commits
CONFIG_PY = "CHUNK = 16\nLEVEL = 1\n# CHUNK = 99 (a comment, not the first match)\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {"settings.py": CONFIG_PY, "opts.toml": 'mode = "fast"\n'})


def space(**kw: object) -> SearchSpaceConfig:
    params = (
        SearchParameter(name="chunk", file="settings.py", pattern=r"^CHUNK = (\d+)", values=("32", "64")),
        SearchParameter(name="level", file="settings.py", pattern=r"^LEVEL = (\d+)$", values=("1", "3", "5")),
    )
    return SearchSpaceConfig(parameters=params, **kw)  # type: ignore[arg-type]


def untouched(repo: Path, head: str) -> None:
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "symbolic-ref", "--short", "HEAD") == "main"


# --- ranking --------------------------------------------------------------------------------------------


def test_rank_orders_hypotheses_by_gain_then_the_rest_by_name() -> None:
    hyps = [
        Hypothesis(branch="b", expected_gain=0.05, description="b"),
        Hypothesis(branch="d", expected_gain=0.20, description="d"),
        Hypothesis(branch="a", expected_gain=0.05, description="a"),
        Hypothesis(branch="gone", expected_gain=0.90),
        Hypothesis(branch="b", expected_gain=0.01, description="weaker duplicate"),
    ]
    ranked = rank(["e", "c", "b", "a", "d"], hyps)
    assert [name for name, _ in ranked] == ["d", "a", "b", "c", "e"]
    assert [h.description if h else None for _, h in ranked] == ["d", "a", "b", None, None]


def test_branch_candidates(repo: Path) -> None:
    fast = commit_branch(repo, "autoresearch/fast", {"a.txt": "1"})
    commit_branch(repo, "autoresearch/slow", {"a.txt": "2"})
    commit_branch(repo, "autoresearch/done", {"a.txt": "3"})
    commit_branch(repo, "feature/other", {"a.txt": "4"})
    hyps = [Hypothesis(branch="autoresearch/fast", expected_gain=0.1, description="bigger buffer")]
    cands = branch_candidates(repo, ["autoresearch/*"], hyps, exclude=["autoresearch/done"])
    assert [c.branch for c in cands] == ["autoresearch/fast", "autoresearch/slow"]
    first = cands[0]
    assert first.source == "branch:autoresearch/fast"
    assert first.sha == fast
    assert first.expected_gain == 0.1
    assert first.description == "bigger buffer"
    assert cands[1].expected_gain == 0.0 and cands[1].description == ""


# --- search space ---------------------------------------------------------------------------------------


def test_search_grid_commits_each_combination(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    cands = search_candidates(repo, space(), head, env=ENV)
    # chunk=32/64 x level=1/3/5; every combination changes CHUNK (16), so none equals the base
    assert [c.source for c in cands] == [
        "search:chunk=32,level=1",
        "search:chunk=32,level=3",
        "search:chunk=32,level=5",
        "search:chunk=64,level=1",
        "search:chunk=64,level=3",
        "search:chunk=64,level=5",
    ]
    c = cands[4]
    assert c.branch == "autoresearch/search/chunk-64_level-3"
    assert c.description == "chunk=64, level=3"
    assert git(repo, "rev-parse", f"refs/heads/{c.branch}") == c.sha
    assert git(repo, "rev-parse", f"{c.sha}^") == head
    text = git(repo, "show", f"{c.sha}:settings.py")
    assert text == "CHUNK = 64\nLEVEL = 3\n# CHUNK = 99 (a comment, not the first match)"
    assert git(repo, "log", "-1", "--format=%s", c.sha) == "autoresearch: chunk=64, level=3"
    assert "Autoresearch-Source: search:chunk=64,level=3" in git(repo, "log", "-1", "--format=%B", c.sha)
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", c.sha) == (
        f"{BOT_NAME} <{BOT_EMAIL}>|{BOT_NAME} <{BOT_EMAIL}>"
    )
    assert git(repo, "log", "-1", "--format=%cd", "--date=raw", c.sha) == git(
        repo, "log", "-1", "--format=%cd", "--date=raw", head
    )
    assert git(repo, "diff", "--name-only", head, c.sha) == "settings.py"
    untouched(repo, head)


def test_search_skips_the_combination_equal_to_the_base(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    params = (SearchParameter(name="level", file="settings.py", pattern=r"LEVEL = (\d+)", values=("1", "2")),)
    cands = search_candidates(repo, SearchSpaceConfig(parameters=params), head, env=ENV)
    assert [c.source for c in cands] == ["search:level=2"]


def test_search_random_is_a_seeded_shuffle_and_limit_caps(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    grid = {c.source for c in search_candidates(repo, space(), head, env=ENV)}
    first = [c.source for c in search_candidates(repo, space(order="random", seed=7), head, env=ENV)]
    again = [c.source for c in search_candidates(repo, space(order="random", seed=7), head, env=ENV)]
    assert first == again
    assert set(first) == grid
    grid_order = [c.source for c in search_candidates(repo, space(), head, env=ENV)]
    assert first != grid_order  # seed 7 happens to move things; the point is it is reproducible
    limited = search_candidates(repo, space(order="random", seed=7, limit=2), head, env=ENV)
    assert [c.source for c in limited] == first[:2]
    assert len(search_candidates(repo, space(limit=4), head, env=ENV)) == 4


def test_search_is_deterministic_and_leaves_the_user_alone(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the user has staged and unstaged work, which must survive as it is
    (repo / "settings.py").write_text(CONFIG_PY + "# local edit\n")
    (repo / "new.txt").write_text("staged\n")
    git(repo, "add", "new.txt")
    status = git(repo, "status", "--porcelain")
    head = git(repo, "rev-parse", "HEAD")
    index = (repo / ".git" / "index").read_bytes()

    first = search_candidates(repo, space(), head, env=ENV)
    # a different identity, clock and index in the environment change nothing
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Someone Else")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "else@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "1500000000 +0200")
    monkeypatch.setenv("GIT_INDEX_FILE", str(repo / ".git" / "index"))
    second = search_candidates(repo, space(), head, env=ENV)
    assert [c.sha for c in first] == [c.sha for c in second]
    assert git(repo, "status", "--porcelain") == status
    assert (repo / ".git" / "index").read_bytes() == index
    assert git(repo, "rev-parse", "HEAD") == head
    assert (repo / "settings.py").read_text().endswith("# local edit\n")

    # a fresh clone computes the very same commits: nothing depends on local state
    clone = repo.parent / "clone"
    git(repo.parent, "clone", "-q", str(repo), str(clone))
    again = search_candidates(clone, space(), head, env=ENV)
    assert [c.sha for c in again] == [c.sha for c in first]


def test_search_moves_an_existing_branch(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    params = (SearchParameter(name="chunk", file="settings.py", pattern=r"CHUNK = (\d+)", values=("8",)),)
    cfg = SearchSpaceConfig(parameters=params)
    first = search_candidates(repo, cfg, head, env=ENV)[0]
    newer = commit_branch(repo, "next", {"other.txt": "x"}, start="main")
    moved = search_candidates(repo, cfg, newer, env=ENV)[0]
    assert moved.branch == first.branch
    assert moved.sha != first.sha
    assert git(repo, "rev-parse", f"refs/heads/{moved.branch}") == moved.sha
    assert git(repo, "rev-parse", f"{moved.sha}^") == newer


def test_search_pattern_not_found(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    params = (
        SearchParameter(name="chunk", file="settings.py", pattern=r"CHUNK = (\d+)", values=("8",)),
        SearchParameter(name="mode", file="opts.toml", pattern=r'MODE = "(\w+)"', values=("slow",)),
    )
    with pytest.raises(BadInputError) as info:
        search_candidates(repo, SearchSpaceConfig(parameters=params), head, env=ENV)
    message = str(info.value)
    assert "search_space.parameters[1].pattern" in message
    assert "opts.toml" in message
    assert "\n" not in message
    assert gitmod.list_refs(repo, "refs/heads/autoresearch/") == []  # nothing half-done


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        (SearchParameter(name="x", file="missing.py", pattern="(a)", values=("1",)), "parameters[0].file"),
        (SearchParameter(name="x", file="settings.py", pattern="CHUNK", values=("1",)), "has no group"),
        (SearchParameter(name="x", file="settings.py", pattern="(", values=("1",)), "not a valid regular"),
    ],
)
def test_search_bad_parameters(repo: Path, param: SearchParameter, expected: str) -> None:
    with pytest.raises(BadInputError, match=re.escape(expected)):
        search_candidates(repo, SearchSpaceConfig(parameters=(param,)), "HEAD", env=ENV)


def test_search_refuses_crlf_files(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "crlf", {"a.ini": "x = 1\r\ny = 2\r\n"})
    param = SearchParameter(name="x", file="a.ini", pattern=r"x = (\d)", values=("2",))
    with pytest.raises(BadInputError, match="LF line endings"):
        search_candidates(repo, SearchSpaceConfig(parameters=(param,)), "HEAD", env=ENV)


def test_branch_names_are_sanitized(repo: Path) -> None:
    combo = [("path", "a b/../c.lock"), ("x", "~^:?*[\\")]
    name = branch_name("autoresearch/search/", combo)
    assert gitmod.is_valid_branch_name(repo, name)
    assert name.startswith("autoresearch/search/path-a_b/")
    for weird in ("-", "..", ".", "@{1}", "a.lock", "/"):
        assert gitmod.is_valid_branch_name(repo, branch_name("", [(weird, weird)]))


def test_search_values_that_sanitize_alike_get_distinct_branches(repo: Path) -> None:
    params = (
        SearchParameter(name="m", file="opts.toml", pattern=r'mode = "([^"]*)"', values=("a b", "a_b")),
    )
    cands = search_candidates(repo, SearchSpaceConfig(parameters=params), "HEAD", env=ENV)
    assert len({c.branch for c in cands}) == 2
    for c in cands:
        assert git(repo, "rev-parse", f"refs/heads/{c.branch}") == c.sha


# --- generator command ----------------------------------------------------------------------------------

PROPOSER = """\
import json, os, pathlib, subprocess, sys
payload = json.load(sys.stdin)
pathlib.Path(os.environ["OUT_DIR"], "seen.json").write_text(json.dumps({
    "payload": payload,
    "github_token": os.environ.get("GITHUB_TOKEN"),
    "agent_key": os.environ.get("AGENT_API_KEY"),
    "best": os.environ.get("AUTORESEARCH_BEST"),
    "repo": os.environ.get("AUTORESEARCH_REPO"),
    "cwd": os.getcwd(),
    "head": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip(),
}))
name = sys.argv[1]
subprocess.run(["git", "switch", "-q", "-c", name], check=True)
pathlib.Path("settings.py").write_text("CHUNK = 128\\nLEVEL = 1\\n")
subprocess.run(["git", "commit", "-q", "-am", "agent: bigger chunk"], check=True)
print("thinking...")
print(f"BRANCH {name} raise the chunk to 128")
for extra in sys.argv[2:]:
    print(f"BRANCH {extra}")
"""


@pytest.fixture
def proposer(tmp_path: Path) -> Path:
    script = tmp_path / "proposer.py"
    script.write_text(PROPOSER)
    return script


def _env(tmp_path: Path) -> dict[str, str]:
    return base_env({"GITHUB_TOKEN": "ghs_secret", "AGENT_API_KEY": "sk-agent", "OUT_DIR": str(tmp_path)})


def _cmd(script: Path, *args: str) -> str:
    return " ".join([sys.executable, str(script), *args])


def test_run_propose_returns_the_branch_and_scrubs_the_env(
    repo: Path, proposer: Path, tmp_path: Path
) -> None:
    best = git(repo, "rev-parse", "HEAD")
    cfg = ProposeConfig(command=_cmd(proposer, "autoresearch/agent-1"), pass_env=("AGENT_API_KEY", "OUT_DIR"))
    payload = {"best": {"sha": best, "value": 1.5}, "history": [{"iteration": 1, "decision": "discarded"}]}
    logs = tmp_path / "logs"
    cands = run_propose(repo, cfg, payload, best_sha=best, env=_env(tmp_path), log_dir=logs)

    assert len(cands) == 1
    cand = cands[0]
    assert cand.source == "propose:autoresearch/agent-1"
    assert cand.branch == "autoresearch/agent-1"
    assert cand.sha == git(repo, "rev-parse", "refs/heads/autoresearch/agent-1")
    assert cand.description == "raise the chunk to 128"
    assert git(repo, "rev-parse", f"{cand.sha}^") == best

    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen["payload"] == payload
    assert seen["github_token"] is None
    assert seen["agent_key"] == "sk-agent"
    assert seen["best"] == best
    assert seen["repo"] == str(repo.resolve())
    assert seen["head"] == best
    assert not Path(seen["cwd"]).exists()  # the temporary worktree is gone
    assert "thinking..." in (logs / "propose.stdout.log").read_text()
    untouched(repo, best)
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_run_propose_caps_at_max_proposals(repo: Path, proposer: Path, tmp_path: Path) -> None:
    best = git(repo, "rev-parse", "HEAD")
    commit_branch(repo, "autoresearch/older", {"a.txt": "1"})
    cfg = ProposeConfig(
        command=_cmd(proposer, "autoresearch/agent-2", "autoresearch/older"),
        max_proposals=2,
        pass_env=("OUT_DIR",),
    )
    cands = run_propose(repo, cfg, {}, best_sha=best, env=_env(tmp_path), log_dir=tmp_path / "logs")
    assert [c.branch for c in cands] == ["autoresearch/agent-2", "autoresearch/older"]
    cfg1 = ProposeConfig(
        command=_cmd(proposer, "autoresearch/agent-3", "autoresearch/older"), pass_env=("OUT_DIR",)
    )
    cands1 = run_propose(repo, cfg1, {}, best_sha=best, env=_env(tmp_path), log_dir=tmp_path / "logs")
    assert [c.branch for c in cands1] == ["autoresearch/agent-3"]


def test_run_propose_failure_is_a_measurement_error(repo: Path, tmp_path: Path) -> None:
    best = git(repo, "rev-parse", "HEAD")
    cfg = ProposeConfig(command="echo working; echo 'agent quota exceeded' >&2; exit 4")
    with pytest.raises(MeasurementError) as info:
        run_propose(repo, cfg, {}, best_sha=best, env=_env(tmp_path), log_dir=tmp_path / "logs")
    message = str(info.value)
    assert "\n" not in message
    assert "exit 4" in message
    assert "agent quota exceeded" in message
    assert "propose.command" in message
    assert str(tmp_path / "logs" / "propose.stderr.log") in message
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_run_propose_timeout_is_a_measurement_error(repo: Path, tmp_path: Path) -> None:
    best = git(repo, "rev-parse", "HEAD")
    cfg = ProposeConfig(command="sleep 30 & sleep 30", timeout_seconds=0.5)
    with pytest.raises(MeasurementError, match=r"timed out after 0\.5 s"):
        run_propose(repo, cfg, {}, best_sha=best, env=_env(tmp_path), log_dir=tmp_path / "logs")


def test_run_propose_missing_branch_is_bad_input(repo: Path, proposer: Path, tmp_path: Path) -> None:
    best = git(repo, "rev-parse", "HEAD")
    cfg = ProposeConfig(
        command=_cmd(proposer, "autoresearch/agent-4", "autoresearch/ghost"),
        max_proposals=3,
        pass_env=("OUT_DIR",),
    )
    with pytest.raises(BadInputError) as info:
        run_propose(repo, cfg, {}, best_sha=best, env=_env(tmp_path), log_dir=tmp_path / "logs")
    assert "'autoresearch/ghost'" in str(info.value)
    assert "does not exist" in str(info.value)
    assert "\n" not in str(info.value)


def test_run_propose_without_branch_line_means_no_more_ideas(repo: Path, tmp_path: Path) -> None:
    best = git(repo, "rev-parse", "HEAD")
    cfg = ProposeConfig(command="cat > /dev/null; echo 'no idea'")
    assert (
        run_propose(repo, cfg, {"x": 1}, best_sha=best, env=_env(tmp_path), log_dir=tmp_path / "logs") == []
    )


def test_run_propose_branch_without_a_new_commit_is_bad_input(repo: Path, tmp_path: Path) -> None:
    best = git(repo, "rev-parse", "HEAD")
    cfg = ProposeConfig(command="git branch autoresearch/empty && echo 'BRANCH autoresearch/empty'")
    with pytest.raises(BadInputError, match="no commit beyond the best"):
        run_propose(repo, cfg, {}, best_sha=best, env=_env(tmp_path), log_dir=tmp_path / "logs")
