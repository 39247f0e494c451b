"""Verdict labels: exactly one of ours on a pull request, the current verdict's; the repository label
created (colour and description) the first time it is needed."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence

from github import GithubException
from github.Issue import Issue

from ci_autoresearch.config.model import GithubLabels
from ci_autoresearch.forge.github.client import Session, Step, Would, pull_ref
from ci_autoresearch.model import Verdict

LABEL_STYLE: Mapping[Verdict, tuple[str, str]] = {
    "improved": ("0e8a16", "measurably better than the baseline"),
    "regressed": ("d93f0b", "measurably worse than the baseline"),
    "unchanged": ("c5def5", "no difference beyond the minimum effect"),
    "inconclusive": ("fbca04", "the measurements could not decide"),
    "invalid": ("b60205", "gate or benchmark failed, or protected paths touched"),
    "rejected": ("e99695", "better, but a guard metric regressed"),
}


def verdict_label(labels: GithubLabels, verdict: Verdict) -> str:
    """The name of the label for ``verdict`` (two verdicts may share one)."""
    names: Mapping[Verdict, str] = {
        "improved": labels.improved,
        "regressed": labels.regressed,
        "unchanged": labels.unchanged,
        "inconclusive": labels.inconclusive,
        "invalid": labels.invalid,
        "rejected": labels.rejected,
    }
    return names[verdict]


class Labels:
    """The verdict labels of pull requests. ``names`` come from the configuration (it may change once,
    after routing); ``on_pull`` holds each PR's labels as last listed or set, shared with the pull
    requests' listings, so a step need not list them again."""

    def __init__(self, session: Session, names: GithubLabels) -> None:
        self.session = session
        self.names = names
        self.on_pull: dict[int, list[str]] = {}
        self._existing: set[str] = set()  # repository labels known to exist (lower case)

    def name(self, verdict: Verdict) -> str:
        return verdict_label(self.names, verdict)

    def missing(self, number: int, name: str, listed: Sequence[str]) -> bool:
        """Whether PR ``number`` lacks label ``name`` (its labels as known, else ``listed``)."""
        present = self.on_pull.get(number) or listed
        return name.lower() not in {label.lower() for label in present}

    def sync_step(self, number: int, verdict: Verdict, *, what: str, would: str) -> Step:
        """The step that leaves the label of ``verdict`` the only verdict label of ours on PR ``number``."""
        return Step(
            what,
            lambda: self._sync(number, verdict),
            (Would("POST", f"/issues/{pull_ref(number)}/labels", would),),
        )

    def remove_verdict_labels(self, number: int) -> list[str]:
        """Remove our verdict labels from PR ``number`` (it is no longer a candidate); the names removed."""
        ours = self._verdict_names()

        def remove() -> list[str]:
            issue = self.session.repo.get_issue(number)
            self.session.at("GET", f"/issues/{number}/labels")
            removed = []
            for label in issue.get_labels():
                if label.name.lower() in ours:
                    self._remove(issue, number, label.name)
                    removed.append(label.name)
            return removed

        return self.session.step(
            f"verdict labels of #{number}",
            remove,
            dry=[],
            would=(Would("DELETE", f"/issues/{number}/labels/{{name}}", "remove the verdict labels"),),
        )

    def _verdict_names(self) -> dict[str, list[Verdict]]:
        """Our verdict label names (lower-cased) and the verdicts that use each."""
        names: dict[str, list[Verdict]] = {}
        for verdict in LABEL_STYLE:
            names.setdefault(self.name(verdict).lower(), []).append(verdict)
        return names

    def _ensure(self, name: str, verdict: Verdict) -> None:
        """Create the repository label ``name`` (colour and description) unless it exists."""
        if name.lower() in self._existing:
            return
        self.session.at("GET", f"/labels/{urllib.parse.quote(name, safe='')}")
        try:
            self.session.repo.get_label(name).complete()
        except GithubException as err:
            if err.status != 404:
                raise
            color, description = LABEL_STYLE[verdict]
            shared = self._verdict_names().get(name.lower(), [verdict])
            if len(shared) > 1:
                description = "verdict: " + " or ".join(shared)
            self.session.at("POST", "/labels")
            try:
                self.session.repo.create_label(name, color, f"ci-autoresearch: {description}"[:100])
            except GithubException as create_err:  # created meanwhile by a parallel job
                if create_err.status != 422 or "already_exists" not in str(create_err.data):
                    raise
        self._existing.add(name.lower())

    def _sync(self, number: int, verdict: Verdict) -> None:
        """Exactly one verdict label of ours on the PR: the current one.

        The PR's labels are listed unless this forge already knows them (from a pull request listing or
        its own last change). Retrying on a stale view is harmless: adding a label twice is a no-op and
        removing a missing one answers 404, ignored.
        """
        want = self.name(verdict)
        ours = self._verdict_names()
        issue = self.session.repo.get_issue(number)
        present = self.on_pull.get(number)
        if present is None:
            self.session.at("GET", f"/issues/{number}/labels")
            present = [label.name for label in issue.get_labels()]
        kept = []
        for name in present:
            if name.lower() in ours and name.lower() != want.lower():
                self._remove(issue, number, name)
            else:
                kept.append(name)
        if want.lower() not in {n.lower() for n in kept}:
            self._ensure(want, verdict)
            self.session.at("POST", f"/issues/{number}/labels")
            issue.add_to_labels(want)
            kept.append(want)
        self.on_pull[number] = kept

    def _remove(self, issue: Issue, number: int, name: str) -> None:
        """Remove label ``name`` from PR ``number`` (``issue``); one already gone (404) is fine."""
        self.session.at("DELETE", f"/issues/{number}/labels/{urllib.parse.quote(name, safe='')}")
        try:
            issue.remove_from_labels(name)
        except GithubException as err:
            if err.status != 404:
                raise
