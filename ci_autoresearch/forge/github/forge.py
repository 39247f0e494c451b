"""``GithubForge``: the :class:`~ci_autoresearch.forge.RemoteForge` of GitHub, composed of one part per
responsibility over one :class:`~.client.Session` (retries, dry run)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from github import Github
from github.Artifact import Artifact
from github.Repository import Repository

from ci_autoresearch.actions import runtime as gha
from ci_autoresearch.actions.event import WorkflowRunInfo
from ci_autoresearch.config.model import GithubConfig
from ci_autoresearch.errors import ForgeError
from ci_autoresearch.forge import FoundBundle, Publication, PullState, RemoteForge
from ci_autoresearch.forge.github.artifacts import Artifacts
from ci_autoresearch.forge.github.client import (
    DRY_PULL,
    MAX_ATTEMPTS,
    Say,
    Session,
    Step,
    client_from_env,
    repository_of,
)
from ci_autoresearch.forge.github.comments import Comments, comment_body
from ci_autoresearch.forge.github.commit_status import CommitStatus
from ci_autoresearch.forge.github.labels import Labels
from ci_autoresearch.forge.github.pulls import Pulls
from ci_autoresearch.forge.github.text import one_line
from ci_autoresearch.model import Result, Verdict


class GithubForge(RemoteForge):
    """:class:`~ci_autoresearch.forge.Forge` on GitHub. Build it with :meth:`from_env` in Actions."""

    def __init__(
        self,
        client: Github | None,
        repository: str,
        *,
        config: GithubConfig,
        dry_run: bool = False,
        say: Say = print,
        sleep: Callable[[float], None] = time.sleep,
        run_url: str | None = None,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        session = Session(
            client, repository, dry_run=dry_run, say=say, sleep=sleep, max_attempts=max_attempts
        )
        self.client = client
        self.repository = repository
        self.owner = session.owner
        self.dry_run = dry_run
        self.run_url = run_url
        self.config = config
        self._session = session
        self._comments = Comments(session)
        self._labels = Labels(session, config.labels)
        self._pulls = Pulls(session, self._labels.on_pull)
        self._status = CommitStatus(session, run_url)
        self._artifacts = Artifacts(session)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        config: GithubConfig,
        token: str | None = None,
        dry_run: bool = False,
        say: Say = print,
        sleep: Callable[[float], None] = time.sleep,
    ) -> GithubForge:
        """The forge for ``$GITHUB_REPOSITORY`` at ``$GITHUB_API_URL`` with the job's token."""
        repository = repository_of(env)
        client = client_from_env(env, token=token, dry_run=dry_run)
        return cls(
            client, repository, config=config, dry_run=dry_run, say=say, sleep=sleep, run_url=gha.run_url(env)
        )

    def use_config(self, config: GithubConfig) -> None:
        """Label names and the status mode come from the base's configuration, read after routing."""
        self.config = config
        self._labels.names = config.labels

    def label_for(self, verdict: Verdict) -> str:
        return self._labels.name(verdict)

    @property
    def _repo(self) -> Repository:  # the PyGithub repository (tests set up state through it)
        return self._session.repo

    def _download(self, artifact: Artifact) -> bytes | str:  # one seam for every download
        return self._artifacts.download(artifact)

    # --- Forge ------------------------------------------------------------------------------------

    def publish(self, pub: Publication) -> None:
        """The sticky comment and the verdict label on the PR (``pub.pull``, else the open PR of
        ``pub.branch``, if any), and the commit status or check run on the candidate commit."""
        c = pub.evaluation.comparison
        number = pub.pull
        errors: list[ForgeError] = []
        if number is None and pub.branch:
            try:
                number = self._pulls.open_number(
                    pub.branch,
                    dry=DRY_PULL,
                    note=f"the pull request of {pub.branch}, if one is open, gets the comment and label",
                )
            except ForgeError as err:
                errors.append(err)
        steps: list[Step] = []
        if number is not None:
            label = self.label_for(c.verdict)
            steps.append(
                self._comments.upsert_step(number, comment_body(pub.markdown), key=pub.evaluation.key)
            )
            steps.append(
                self._labels.sync_step(
                    number,
                    c.verdict,
                    what=f"verdict label on #{number}",
                    would=f"label {label}, replacing other verdict labels",
                )
            )
        status = self._status.step(pub, self.config.status)
        if status is not None:
            steps.append(status)
        self._session.run_steps(steps, errors)

    def open_change(self, *, branch: str, base: str, title: str, body: str, report: str = "") -> str:
        """The open PR of ``branch`` (its URL), else a new one: ``body`` as its description, ``report`` (else
        the body) as its sticky comment, and the improvement label."""
        label = self.label_for("improved")
        opened = self._pulls.open(branch=branch, base=base, title=title, body=body)
        number = opened.number
        steps: list[Step] = []
        if opened.created:
            steps.append(self._comments.upsert_step(number, comment_body(report or body), fresh=True))
        if self._labels.missing(number, label, opened.labels):
            steps.append(
                self._labels.sync_step(
                    number, "improved", what=f"label {label} on #{number}", would=f"label {label}"
                )
            )
        self._session.run_steps(steps)
        if opened.created:
            self._session.done(f"opened pull request #{number}: {opened.url}")
        return opened.url

    def close_change(self, *, branch: str = "", reason: str, key: str = "", pull: int | None = None) -> bool:
        """Close the open PR ``pull`` (else the open PR of ``branch``) after saying why below the headline
        of its sticky comment. False when none is open -- or when a person reopened it after it was
        closed for this same evaluation (``key``): that PR stays open."""
        what = f"#{pull}" if pull is not None else f"the pull request of {branch}"
        if pull is not None:
            if not self._pulls.is_open(pull):
                return False
            number = pull
        else:
            found = self._pulls.open_number(branch, dry=DRY_PULL)
            if found is None:
                return False
            number = found
        if self._comments.note_closed(number, reason=reason, key=key) == "reopened":
            self._session.say(
                f"#{number} was reopened after it was closed for this same evaluation: left open "
                f"({one_line(reason, 200)})"
            )
            return False
        self._pulls.close(number, branch=branch)
        self._session.done(f"closed pull request #{number} ({what}): {one_line(reason, 200)}")
        return True

    def merge(self, number: int, *, title: str) -> bool:
        """Merge the open PR ``number`` (``github.auto_merge``); False when GitHub refuses (conflict,
        checks, protection): said, and left to a person."""
        return self._pulls.merge(number, title=title)

    # --- reading pull requests (trusted routing for publish) -------------------------------------

    def pull_for_branch(self, branch: str) -> int | None:
        """The number of the open pull request whose head is ``branch`` of this repository."""
        return self._pulls.open_number(branch, dry=None)

    def pull_state(self, number: int) -> PullState | None:
        """PR ``number`` as GitHub reports it now; None when there is no such PR."""
        return self._pulls.state(number)

    def pull_for_run(self, run: WorkflowRunInfo) -> PullState | None:
        """The open PR a ``pull_request`` workflow run was for, if its head is still the run's commit."""
        return self._pulls.for_run(run)

    def pulls_of_branch(self, branch: str) -> list[PullState]:
        """Every PR (open or closed) whose head is ``branch`` of this repository."""
        return self._pulls.of_branch(branch)

    def remove_verdict_labels(self, number: int) -> list[str]:
        """Remove our verdict labels from PR ``number`` (it is no longer a candidate); the names removed."""
        return self._labels.remove_verdict_labels(number)

    # --- artifacts --------------------------------------------------------------------------------

    def fetch_baseline(self, name: str, *, branch: str, sha: str | None = None) -> tuple[Result | None, str]:
        """The newest unexpired artifact ``name`` of a run on ``branch`` (at ``sha`` when given), as a
        validated result@1. Missing, expired or invalid: ``(None, why)``; API failure: ForgeError."""
        return self._artifacts.fetch_baseline(name, branch=branch, sha=sha, download=self._download)

    def fetch_run_bundles(self, run_id: int) -> tuple[list[FoundBundle], list[str]] | None:
        """The evaluation bundles (``autoresearch-bundle-*`` artifacts) run ``run_id`` uploaded, validated
        but untrusted, and the problems of those that could not be read; None when the run is gone."""
        return self._artifacts.fetch_run_bundles(run_id, download=self._download)
