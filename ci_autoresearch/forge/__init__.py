"""Where decisions are published: the ``Forge`` and ``RemoteForge`` protocols and their implementations.

The loop speaks only to :class:`Forge`, so it runs the same on a laptop (``LocalForge``: records what it
would do under ``.git/autoresearch/``) and in GitHub Actions (``GithubForge``: PyGithub). The CI stages
(plan, publish) need more of a forge -- trusted routing, the uploaded artifacts, labels, merging -- and
speak to :class:`RemoteForge`, which only ``GithubForge`` implements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ci_autoresearch.actions.event import WorkflowRunInfo
from ci_autoresearch.config.model import GithubConfig
from ci_autoresearch.model import Evaluation, Result


@dataclass(frozen=True, kw_only=True)
class PullState:
    """A pull request as the forge reports it now (trusted routing, unlike anything in a bundle)."""

    number: int
    state: str  # open | closed
    merged: bool
    head_ref: str
    head_sha: str
    head_repo: str | None  # owner/name of the head repository; None when it was deleted
    base_ref: str
    base_sha: str
    labels: tuple[str, ...]
    is_fork: bool
    url: str


@dataclass(frozen=True, kw_only=True)
class Publication:
    """What to publish about one evaluation."""

    evaluation: Evaluation
    markdown: str  # the full report (sticky comment body without its marker)
    pull: int | None = None  # the PR this evaluation belongs to, when known
    branch: str | None = None  # the candidate's branch, when it has one


class Forge(Protocol):
    def publish(self, pub: Publication) -> None:
        """Report an evaluation: the sticky comment (on its PR), the verdict label, a commit status."""

    def open_change(self, *, branch: str, base: str, title: str, body: str, report: str = "") -> str:
        """Open a pull request for ``branch`` unless one is open; return its URL (or a local id). ``body`` is
        its description, ``report`` its sticky comment (the body when empty)."""

    def close_change(self, *, branch: str, reason: str, key: str = "") -> str | bool:
        """Close the open pull request of ``branch`` with a comment saying why; False when there is none,
        or when a person reopened it after it was closed for the same evaluation (``key``). A forge that
        knows the closed pull request's URL may return it instead of True."""


BUNDLE_ARTIFACT_PREFIX = "autoresearch-bundle-"  # action.yml uploads each evaluate job's bundle under it

FoundBundle = tuple[str, str | None, dict[str, Any]]
"""An evaluation bundle read from an artifact: (where it came from, the artifact's name, the validated
bundle@1 document -- still untrusted)."""


class RemoteForge(Forge, Protocol):
    """What the CI stages need of a forge beyond :class:`Forge`: the base's configuration, trusted routing
    (pull request state), the artifacts (the baseline, the run's evaluation bundles), labels, merging."""

    def use_config(self, config: GithubConfig) -> None:
        """Label names and the status mode from the base's configuration, read after routing."""

    def pull_state(self, number: int) -> PullState | None:
        """PR ``number`` as the forge reports it now; None when there is no such PR."""

    def pull_for_run(self, run: WorkflowRunInfo) -> PullState | None:
        """The open PR a ``pull_request`` workflow run was for, if its head is still the run's commit."""

    def pulls_of_branch(self, branch: str) -> list[PullState]:
        """Every PR (open or closed) whose head is ``branch`` of this repository."""

    def fetch_run_bundles(self, run_id: int) -> tuple[list[FoundBundle], list[str]] | None:
        """The evaluation bundles run ``run_id`` uploaded and the problems of those that could not be read;
        None when the run does not exist."""

    def fetch_baseline(self, name: str, *, branch: str, sha: str | None = None) -> tuple[Result | None, str]:
        """The newest baseline artifact ``name`` of ``branch`` (at ``sha`` when given) and where it came
        from; ``(None, why)`` when there is none that can be used."""

    def remove_verdict_labels(self, number: int) -> list[str]:
        """Remove the verdict labels from PR ``number``; the names removed."""

    def close_change(self, *, branch: str = "", reason: str, key: str = "", pull: int | None = None) -> bool:
        """Close the open PR ``pull`` (else the open PR of ``branch``), saying why; False when there is none
        or a person reopened it after it was closed for the same evaluation (``key``)."""

    def merge(self, number: int, *, title: str) -> bool:
        """Merge the open PR ``number``; False when the forge refuses."""
