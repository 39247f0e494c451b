#!/usr/bin/env python3
"""A `propose.command` for ci-autoresearch that drives a coding agent's command line.

The loop runs it in a temporary worktree of the current best commit, with the history and the ranked
hypotheses as JSON on stdin (`ci-autoresearch/propose-input@1`). It

1. refuses to start when its cost budget is spent (`--max-cost`, summed over every call in a ledger
   kept in the repository's git directory) — then it proposes nothing and the loop stops;
2. picks the highest-ranked hypothesis that has no branch yet (or, with none left, asks for a free
   idea), and writes a prompt: the objective, the best and start values, the last evaluations and
   their verdicts, the hypothesis;
3. runs the agent (`--agent`, any command line) in the worktree with that prompt, stopping it and
   everything it started after `--timeout` seconds;
4. reads what the agent reports it cost (`--cost-pattern`) into the ledger;
5. commits what the agent changed on one new branch and prints `BRANCH <name> <description>`.

Only the Python standard library and git. Exit status: 0 with a BRANCH line (a proposal) or without
one (no budget, no change: "no more ideas"); 1 when the agent failed or timed out (the loop reports
it and stops, exit 3). See README.md beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_COST_PATTERN = r'"(?:total_)?cost(?:_usd)?"\s*:\s*([0-9.]+)|^COST[ =:]+\$?([0-9.]+)'
IDENTITY = {
    "GIT_AUTHOR_NAME": "ci-autoresearch agent",
    "GIT_AUTHOR_EMAIL": "ci-autoresearch@users.noreply.github.com",
    "GIT_COMMITTER_NAME": "ci-autoresearch agent",
    "GIT_COMMITTER_EMAIL": "ci-autoresearch@users.noreply.github.com",
}


def say(message: str) -> None:
    print(f"agent_propose: {message}", file=sys.stderr, flush=True)


def git(*args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, env=env, check=False)
    if check and done.returncode != 0:
        raise SystemExit(f"agent_propose: git {' '.join(args)} failed: {done.stderr.strip()[-300:]}")
    return done.stdout.strip()


def branch_exists(name: str) -> bool:
    return (
        subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{name}"],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )


# --- budget ----------------------------------------------------------------------------------------------


def ledger_path(given: str | None) -> Path:
    if given:
        return Path(given)
    state = os.environ.get("AUTORESEARCH_STATE_DIR") or str(
        Path(git("rev-parse", "--path-format=absolute", "--git-common-dir")) / "autoresearch"
    )
    return Path(state) / "agent-propose-ledger.json"


def read_ledger(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) and isinstance(data.get("calls"), list) else {"calls": []}
    except (OSError, ValueError):
        return {"calls": []}


def spent(ledger: dict[str, Any]) -> float:
    return float(sum(float(c.get("cost") or 0.0) for c in ledger["calls"]))


def write_ledger(path: Path, ledger: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(ledger, indent=2) + "\n")
    tmp.replace(path)


def cost_of(output: str, pattern: str) -> float | None:
    """The last cost the agent reported, or None when it reported none."""
    found = None
    for match in re.finditer(pattern, output, re.MULTILINE):
        value = next((g for g in match.groups() if g), None)
        if value is not None:
            try:
                found = float(value)
            except ValueError:
                continue
    return found


# --- the prompt ------------------------------------------------------------------------------------------


def pick_hypothesis(payload: dict[str, Any]) -> dict[str, Any] | None:
    for hyp in payload.get("hypotheses") or []:
        if not hyp.get("exists") and not hyp.get("tried"):
            return dict(hyp)
    return None


def new_branch(hypothesis: dict[str, Any] | None, prefix: str) -> str:
    if hypothesis is not None:
        return str(hypothesis["branch"])
    n = 1
    while branch_exists(f"{prefix}{n}"):
        n += 1
    return f"{prefix}{n}"


def _delta(ev: dict[str, Any]) -> str:
    metric = (ev.get("metrics") or {}).get(ev.get("objective") or "") or {}
    delta = metric.get("delta")
    return f"{delta * 100:+.1f}%" if isinstance(delta, (int, float)) else "n/a"


def prompt_text(payload: dict[str, Any], hypothesis: dict[str, Any] | None, last: int) -> str:
    obj = payload.get("objective") or {}
    best = payload.get("best") or {}
    lines = [
        "You are improving the performance of the code in the current directory.",
        f"Objective: {obj.get('direction', 'minimize')} the metric `{obj.get('metric')}`"
        + (f" (target {obj['target']})" if obj.get("target") is not None else "")
        + f". Current best: {best.get('value')} (start: {payload.get('start_value')}).",
        "",
        "Rules: make ONE focused change. Keep the behaviour: the tests must still pass. Do not edit the "
        "benchmark or the tests (such a change is rejected). Do not commit; leave the change in the "
        "working tree.",
        "",
    ]
    history = (payload.get("history") or [])[-last:]
    if history:
        lines.append(
            f"The last {len(history)} evaluations (candidate: verdict, change of the objective, decision):"
        )
        for ev in history:
            lines.append(
                f"- {ev.get('source')}: {ev.get('verdict')}, {_delta(ev)}, {ev.get('decision')} — "
                f"{(ev.get('decision_reason') or ev.get('reason') or '')[:160]}"
            )
        lines.append("")
    if hypothesis is not None:
        gain = hypothesis.get("expected_gain") or 0.0
        idea = hypothesis.get("description") or hypothesis["branch"]
        lines += [
            f"HYPOTHESIS (expected gain {gain * 100:.0f}%): {idea}",
            "Implement this hypothesis.",
        ]
    else:
        lines.append("No hypothesis is left: find the most promising change not tried above and make it.")
    return "\n".join(lines) + "\n"


# --- the agent -------------------------------------------------------------------------------------------


def run_agent(command: str, prompt: str, timeout: float) -> tuple[int | None, str]:
    """Run the agent's command line with the prompt; (exit status or None on timeout, its output)."""
    with tempfile.NamedTemporaryFile("w", suffix=".md", prefix="agent-prompt-", delete=False) as fh:
        fh.write(prompt)
        prompt_file = fh.name
    try:
        uses_placeholder = "{prompt_file}" in command or "{prompt}" in command
        line = command.replace("{prompt_file}", shlex.quote(prompt_file)).replace(
            "{prompt}", shlex.quote(prompt)
        )
        proc = subprocess.Popen(
            ["/bin/sh", "-c", line],
            stdin=subprocess.DEVNULL if uses_placeholder else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            out, _ = proc.communicate(None if uses_placeholder else prompt, timeout=timeout)
            return proc.returncode, out or ""
        except subprocess.TimeoutExpired:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                time.sleep(0.5)
            out, _ = proc.communicate()
            return None, out or ""
    finally:
        Path(prompt_file).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--agent",
        required=True,
        help="the agent's command line; the prompt goes to its "
        "stdin, or where {prompt_file} or {prompt} stands in it",
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds one agent call may take")
    parser.add_argument(
        "--max-cost", type=float, default=None, help="the budget over all calls (the agent's unit, e.g. USD)"
    )
    parser.add_argument(
        "--cost-pattern", default=DEFAULT_COST_PATTERN, help="regex whose group is a call's cost"
    )
    parser.add_argument(
        "--branch-prefix", default="autoresearch/agent-", help="names of branches without a hypothesis"
    )
    parser.add_argument("--history", type=int, default=20, help="how many past evaluations the prompt shows")
    parser.add_argument("--ledger", default=None, help="the cost ledger (default: in the git directory)")
    args = parser.parse_args(argv)

    payload = json.load(sys.stdin)
    ledger_file = ledger_path(args.ledger)
    ledger = read_ledger(ledger_file)
    if args.max_cost is not None and spent(ledger) >= args.max_cost:
        calls = len(ledger["calls"])
        say(f"cost budget used: {spent(ledger):g} of {args.max_cost:g} over {calls} calls; no proposal")
        return 0
    hypothesis = pick_hypothesis(payload)
    branch = new_branch(hypothesis, args.branch_prefix)
    best = os.environ.get("AUTORESEARCH_BEST") or git("rev-parse", "HEAD")

    started = time.monotonic()
    status, output = run_agent(args.agent, prompt_text(payload, hypothesis, args.history), args.timeout)
    cost = cost_of(output, args.cost_pattern)
    ledger["calls"].append(
        {"branch": branch, "seconds": round(time.monotonic() - started, 1), "cost": cost, "status": status}
    )
    write_ledger(ledger_file, ledger)
    if status is None:
        say(f"the agent timed out after {args.timeout:g} s (--timeout); nothing proposed")
        return 1
    if status != 0:
        tail = [line for line in output.splitlines() if line.strip()][-1:] or ["no output"]
        say(f"the agent failed (exit {status}): {tail[0][:200]}")
        return 1

    env = {**os.environ, **{k: v for k, v in IDENTITY.items() if k not in os.environ}}
    git("switch", "--quiet", "-c", branch)
    if git("status", "--porcelain"):
        description = (hypothesis or {}).get("description") or "a change proposed by the agent"
        git("add", "-A")
        git("commit", "--quiet", "--no-verify", "-m", f"autoresearch agent: {description}", env=env)
    if git("rev-parse", "HEAD") == best:
        git("switch", "--quiet", "--detach", best)
        git("branch", "--quiet", "-D", branch)
        say("the agent changed nothing; no proposal")
        return 0
    description = (hypothesis or {}).get("description") or "proposed by the agent"
    print(f"BRANCH {branch} {description}".rstrip())
    say(f"{branch}: committed" + (f", cost {cost:g}" if cost is not None else ", no cost reported"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
