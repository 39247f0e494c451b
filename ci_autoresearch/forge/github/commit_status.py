"""The verdict on the candidate commit: a commit status or a check run (``github.status``), posted only
when ours on that commit does not already say the same.

States and conclusions by verdict: ``improved`` / ``unchanged`` → success; ``regressed`` / ``invalid`` /
``rejected`` → failure; ``inconclusive`` → success for a status (not shown to be worse: it must not
block a merge on noise) and ``neutral`` for a check run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ci_autoresearch.decide.verdict import pct
from ci_autoresearch.forge import Publication
from ci_autoresearch.forge.github.client import Session, Step, Would
from ci_autoresearch.forge.github.text import cut, fit_markdown, one_line
from ci_autoresearch.model import Comparison, Verdict

CONTEXT = "ci-autoresearch"  # commit status context and check-run name
CHECK_EXTERNAL_ID = "ci-autoresearch"  # tells our check run from a job that happens to share the name
MAX_CHECK_SUMMARY_CHARS = 65535
MAX_STATUS_DESCRIPTION = 140

STATUS_STATE: Mapping[Verdict, str] = {
    "improved": "success",
    "unchanged": "success",
    "inconclusive": "success",
    "regressed": "failure",
    "invalid": "failure",
    "rejected": "failure",
}
CHECK_CONCLUSION: Mapping[Verdict, str] = {**STATUS_STATE, "inconclusive": "neutral"}


def status_description(c: Comparison) -> str:
    """``improved: wall_time −24.8% [−26.1%, −23.5%]`` (at most 140 characters)."""
    obj = c.objective_metric
    if obj is not None and obj.estimate is not None:
        lo, hi = obj.estimate.ci_delta
        text = f"{c.verdict}: {obj.name} {pct(obj.estimate.delta)} [{pct(lo)}, {pct(hi)}]"
    else:
        text = f"{c.verdict}: {one_line(c.reason)}"
    return cut(text, MAX_STATUS_DESCRIPTION)


class CommitStatus:
    """The commit status or check run of each evaluated commit; both link to ``run_url`` when known."""

    def __init__(self, session: Session, run_url: str | None) -> None:
        self.session = session
        self.run_url = run_url

    def step(self, pub: Publication, mode: str) -> Step | None:
        """The step that sets what ``mode`` (``status`` / ``check-run`` / ``none``) asks for, if anything."""
        c = pub.evaluation.comparison
        sha = c.candidate.sha
        if mode == "status":
            state = f"{STATUS_STATE[c.verdict]}, {status_description(c)!r}"
            would = Would("POST", f"/statuses/{sha}", f"commit status {CONTEXT}: {state}")
            return Step(f"commit status on {sha[:8]}", lambda: self._set_status(pub), (would,))
        if mode == "check-run":
            conclusion = f"{CHECK_CONCLUSION[c.verdict]}, PATCH it when found"
            would = Would("POST", "/check-runs", f"check run {CONTEXT} on {sha[:8]}: {conclusion}")
            return Step(f"check run on {sha[:8]}", lambda: self._set_check_run(pub), (would,))
        return None

    def _set_status(self, pub: Publication) -> None:
        """The commit status, unless ours on that commit already says the same (a re-run posts none)."""
        c = pub.evaluation.comparison
        sha = c.candidate.sha
        state = STATUS_STATE[c.verdict]
        description = status_description(c)
        commit = self.session.repo.get_commit(sha)  # lazy: GET /commits/{sha} is never made
        self.session.at("GET", f"/commits/{sha}/status")
        for status in commit.get_combined_status().statuses:
            if status.context == CONTEXT:
                if status.state == state and status.description == description:
                    return
                break
        self.session.at("POST", f"/statuses/{sha}")
        if self.run_url:
            commit.create_status(state, target_url=self.run_url, description=description, context=CONTEXT)
        else:
            commit.create_status(state, description=description, context=CONTEXT)

    def _set_check_run(self, pub: Publication) -> None:
        """Our check run (told from a job's by its external id), edited when it exists, else created."""
        c = pub.evaluation.comparison
        sha = c.candidate.sha
        conclusion = CHECK_CONCLUSION[c.verdict]
        title = status_description(c)
        summary = fit_markdown(pub.markdown, MAX_CHECK_SUMMARY_CHARS, note="*(report cut)*")
        output: dict[str, str | list[dict[str, str | int]]] = {"title": title, "summary": summary}
        self.session.at("GET", f"/commits/{sha}/check-runs?check_name={CONTEXT}")
        runs = [
            r
            for r in self.session.repo.get_commit(sha).get_check_runs(check_name=CONTEXT)
            if r.external_id == CHECK_EXTERNAL_ID
        ]
        extra: dict[str, Any] = {"details_url": self.run_url} if self.run_url else {}
        if runs:
            run = runs[0]
            if (
                run.status == "completed"
                and run.conclusion == conclusion
                and run.output.title == title
                and run.output.summary == summary
            ):
                return
            self.session.at("PATCH", f"/check-runs/{run.id}")
            run.edit(status="completed", conclusion=conclusion, output=output, **extra)
            return
        self.session.at("POST", "/check-runs")
        self.session.repo.create_check_run(
            CONTEXT,
            sha,
            status="completed",
            conclusion=conclusion,
            external_id=CHECK_EXTERNAL_ID,
            output=output,
            **extra,
        )
