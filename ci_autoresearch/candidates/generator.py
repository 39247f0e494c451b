"""Candidates from a generator command (``propose.command``): the protocol.

The command (any program, e.g. a coding agent; run with ``/bin/sh -c``) runs in a temporary
detached worktree of the current best commit, which is removed afterwards.

* stdin: a JSON object (``ci-autoresearch/propose-input@1``) — the objective, the current best, the
  start value, the ``hypotheses`` ranked by expected gain (each with ``exists`` and ``tried``) and
  the history so far.
  The same JSON is in the file named by ``AUTORESEARCH_PAYLOAD``.
* environment: the allow-listed part of the caller's environment (``measure.scrub.scrub_env``: ``PATH``,
  ``HOME``, locale and toolchain variables; never a token, the Actions runtime or the runner's
  command files), plus the variables listed in ``propose.pass_env`` (an explicit opt-in, e.g. an
  agent's API key), plus
  ``AUTORESEARCH_BEST`` (the sha of the current best), ``AUTORESEARCH_REPO`` (the path of the
  repository), ``AUTORESEARCH_PAYLOAD`` (the payload file), ``AUTORESEARCH_MAX_PROPOSALS`` and
  ``AUTORESEARCH_STATE_DIR`` (the tool's working directory inside ``.git``, where a generator may
  keep its own state, e.g. a cost ledger).
  Variables that would point git elsewhere (``GIT_DIR``, ``GIT_WORK_TREE``, ``GIT_INDEX_FILE``, …)
  are removed.
* it commits its change(s) on one or more **new branches** (e.g. ``git switch -c NAME`` then
  ``git commit`` in the worktree; branches are shared with the repository) and prints, for each,
  one line ``BRANCH <name>`` on stdout, optionally followed by a description:
  ``BRANCH autoresearch/agent-1 use a bigger read buffer``. Other stdout lines are ignored.
* exit status 0. It must finish within ``propose.timeout_seconds``; then its whole process group
  is terminated.
* At most ``propose.max_proposals`` branches are taken, in the order printed. Printing no
  ``BRANCH`` line (and exiting 0) means "no more ideas": the loop stops as exhausted.

Its output is kept in ``<log_dir>/propose.stdout.log`` and ``propose.stderr.log``.
A non-zero exit or a timeout is a :class:`MeasurementError` (exit code 3); a
named branch that does not exist, or a branch with no commit beyond the best is a
:class:`BadInputError` (exit code 2).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ci_autoresearch import git
from ci_autoresearch.artifacts import evaluation_to_json
from ci_autoresearch.candidates.branches import PROPOSED_PREFIX
from ci_autoresearch.config.model import Config, Hypothesis, ProposeConfig
from ci_autoresearch.errors import BadInputError, MeasurementError
from ci_autoresearch.history import recover
from ci_autoresearch.history.convergence import LoopState
from ci_autoresearch.history.state import state_dir
from ci_autoresearch.measure.runner import run_measured
from ci_autoresearch.measure.scrub import scrub_env
from ci_autoresearch.model import Candidate, Evaluation

_GIT_LOCATION_VARS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)
_BRANCH_LINE = re.compile(r"^BRANCH[ \t]+(\S+)(?:[ \t]+(.*?))?\s*$")


def propose_payload(
    repo: Path,
    config: Config,
    latest: Sequence[Evaluation],
    *,
    best: str,
    branch: str,
    state: LoopState,
) -> dict[str, Any]:
    """The JSON the command reads (``ci-autoresearch/propose-input@1``): the objective, the best on
    ``branch``, the start value, the ranked hypotheses and ``latest`` (one evaluation per key)."""
    return {
        "schema": "ci-autoresearch/propose-input@1",
        "objective": {
            "metric": config.objective.metric,
            "direction": config.objective.direction,
            "target": config.objective.target,
        },
        "best": {"sha": best, "value": state.best_value, "branch": branch},
        "start_value": state.start_value,
        "hypotheses": _hypotheses(repo, config.hypotheses, latest),
        "history": [
            {k: v for k, v in evaluation_to_json(ev).items() if k not in ("environment",)} for ev in latest
        ],
    }


def _hypotheses(
    repo: Path, hypotheses: Sequence[Hypothesis], latest: Sequence[Evaluation]
) -> list[dict[str, Any]]:
    """``hypotheses`` ranked (highest expected gain first), each saying whether its branch exists and
    whether it was evaluated: the ideas a generator (e.g. a coding agent) can work on next."""
    tried = {ev.source for ev in latest}
    ranked = sorted(hypotheses, key=lambda h: (-h.expected_gain, h.branch))
    return [
        {
            "branch": h.branch,
            "expected_gain": h.expected_gain,
            "description": h.description,
            "exists": git.try_resolve(repo, f"refs/heads/{h.branch}") is not None,
            "tried": bool({f"branch:{h.branch}", f"propose:{h.branch}"} & tried),
        }
        for h in ranked
    ]


def _propose_env(
    propose: ProposeConfig, env: Mapping[str, str], *, repo: Path, best_sha: str, payload_file: Path
) -> dict[str, str]:
    child = {k: v for k, v in scrub_env(env, propose.pass_env).items() if k not in _GIT_LOCATION_VARS}
    child["AUTORESEARCH_BEST"] = best_sha
    child["AUTORESEARCH_REPO"] = str(repo)
    child["AUTORESEARCH_PAYLOAD"] = str(payload_file)
    child["AUTORESEARCH_MAX_PROPOSALS"] = str(propose.max_proposals)
    child["AUTORESEARCH_STATE_DIR"] = str(state_dir(repo))
    return child


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def parse_branch_lines(stdout: str) -> list[tuple[str, str]]:
    """``(branch, description)`` for each ``BRANCH <name> [description]`` line, first mention wins."""
    found: dict[str, str] = {}
    for line in stdout.splitlines():
        match = _BRANCH_LINE.match(line)
        if match and match.group(1) not in found:
            found[match.group(1)] = (match.group(2) or "").strip()
    return list(found.items())


def run_propose(
    repo: Path,
    propose: ProposeConfig,
    payload: Mapping[str, Any],
    *,
    best_sha: str,
    env: Mapping[str, str],
    log_dir: Path,
) -> list[Candidate]:
    """Run the generator command once (see the module docstring for its protocol) and return its branches.

    Raises :class:`MeasurementError` when it exits non-zero or times out, :class:`BadInputError` when it
    names no branch, names a branch that does not exist or left no commit on it.
    """
    repo = repo.resolve()
    best_sha = git.resolve(repo, best_sha)
    log_dir.mkdir(parents=True, exist_ok=True)
    payload_file = (log_dir / "propose.payload.json").resolve()
    payload_file.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    child_env = _propose_env(propose, env, repo=repo, best_sha=best_sha, payload_file=payload_file)
    # run_measured gives the command /dev/null as stdin; the shell reads the payload file instead.
    script = f"exec < {shlex.quote(str(payload_file))}\n{propose.command}"
    with (
        recover.owned_tempdir("autoresearch-propose-") as tmp,  # removed by the next run if we are killed
        git.worktree(repo, best_sha, tmp / "worktree") as workdir,
    ):
        result = run_measured(
            script,
            cwd=workdir,
            env=child_env,
            timeout=propose.timeout_seconds,
            log_dir=log_dir,
            name="propose",
        )
    if not result.ok:
        what = (
            f"timed out after {propose.timeout_seconds:g} s"
            if result.timed_out
            else f"failed (exit {result.returncode})"
        )
        last = _last_line(result.stderr)
        detail = f": {last}" if last else ""
        raise MeasurementError(
            f"propose.command `{propose.command}` {what}{detail} (log: {result.stderr_path})"
        )
    out = _named_candidates(repo, propose, result.stdout, best_sha=best_sha, log=result.stdout_path)
    for cand in out:  # a run killed before measuring them finds them as a generator's, not as branches
        git.update_ref(repo, f"{PROPOSED_PREFIX}{cand.branch}", cand.sha)
    return out


def _named_candidates(
    repo: Path, propose: ProposeConfig, stdout: str, *, best_sha: str, log: Path
) -> list[Candidate]:
    """The branches the generator printed (at most ``max_proposals``), each checked to exist and to
    hold a commit beyond the best."""
    named = parse_branch_lines(stdout)  # none: the generator has no more ideas
    out: list[Candidate] = []
    for name, description in named[: max(propose.max_proposals, 1)]:
        sha = git.try_resolve(repo, f"refs/heads/{name}")
        if sha is None:
            raise BadInputError(
                f"propose.command `{propose.command}` named branch {name!r}, which does not exist "
                f"(log: {log})"
            )
        if sha == best_sha:
            raise BadInputError(
                f"propose.command `{propose.command}` named branch {name!r}, which has no commit beyond "
                f"the best {git.short(best_sha)} (log: {log})"
            )
        out.append(Candidate(source=f"propose:{name}", branch=name, sha=sha, description=description))
    return out
