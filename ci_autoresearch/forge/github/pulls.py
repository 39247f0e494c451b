"""Pull requests: found by branch or workflow run, read for trusted routing, opened (one per branch),
closed and merged."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from github import GithubException
from github.PaginatedList import PaginatedList
from github.PullRequest import PullRequest

from ci_autoresearch.actions.event import WorkflowRunInfo
from ci_autoresearch.forge import PullState
from ci_autoresearch.forge.github.client import DRY_PULL, Session, Would, message_of, pull_ref
from ci_autoresearch.forge.github.comments import MAX_COMMENT_CHARS
from ci_autoresearch.forge.github.text import cut, fit_markdown

MAX_TITLE_CHARS = 256


@dataclass(frozen=True, kw_only=True)
class Opened:
    """The open pull request of a branch, found or just created."""

    number: int
    url: str
    created: bool  # by this call: it has no comment yet
    labels: tuple[str, ...]  # as the listing or the creation answered


def pull_state_of(pull: PullRequest, repository: str) -> PullState:
    """What the forge reports of ``pull``; a fork's PR is one whose head is not in ``repository``."""
    head_repo = pull.head.repo.full_name if pull.head.repo is not None else None
    return PullState(
        number=pull.number,
        state=pull.state,
        merged=bool(pull.merged_at),
        head_ref=pull.head.ref,
        head_sha=pull.head.sha,
        head_repo=head_repo,
        base_ref=pull.base.ref,
        base_sha=pull.base.sha,
        labels=tuple(label.name for label in pull.labels),
        is_fork=head_repo is None or head_repo.lower() != repository.lower(),
        url=str(pull.html_url),
    )


class Pulls:
    """The repository's pull requests. Each branch's open PR is remembered once found; the labels seen
    on a PR go to ``pull_labels`` (shared with :class:`~.labels.Labels`)."""

    def __init__(self, session: Session, pull_labels: dict[int, list[str]]) -> None:
        self.session = session
        self.pull_labels = pull_labels
        self._open: dict[str, PullRequest] = {}  # branch -> its open PR, once found

    # --- finding and reading ----------------------------------------------------------------------

    def open_number(self, branch: str, *, dry: int | None, note: str = "") -> int | None:
        """The number of the open pull request whose head is ``branch`` of this repository."""
        return self.session.step(
            f"find the pull request of {branch}",
            lambda: self._open_number(branch),
            dry=dry,
            would=(self.would_find(branch),),
            note=note,
        )

    def would_find(self, branch: str) -> Would:
        head = f"{self.session.owner}:{branch}"
        return Would("GET", f"/pulls?state=open&head={head}", f"find the pull request of {branch}")

    def state(self, number: int) -> PullState | None:
        """PR ``number`` as GitHub reports it now; None when there is no such PR."""
        return self.session.step(
            f"get #{number}",
            lambda: self._read(number),
            dry=None,
            would=(Would("GET", f"/pulls/{number}", "read the pull request"),),
        )

    def is_open(self, number: int) -> bool:
        """Whether PR ``number`` exists and is open (a dry run takes it to be)."""

        def read() -> bool:
            state = self._read(number)
            return state is not None and state.state == "open"

        return self.session.step(f"get #{number}", read, dry=True)

    def for_run(self, run: WorkflowRunInfo) -> PullState | None:
        """The open PR a ``pull_request`` workflow run was for: one the run lists, else the open PR of the
        run's head branch in its head repository (GitHub lists no PR for a fork's run) -- and only if its
        head is the run's commit."""
        for number in run.pull_numbers[:10]:
            state = self.session.step(f"get #{number}", functools.partial(self._read, number), dry=None)
            if state is not None and state.state == "open" and state.head_sha == run.head_sha:
                return state

        def find() -> list[PullState]:
            if not run.head_branch or not run.head_repo_full_name:
                return []
            head = f"{run.head_repo_full_name.split('/', 1)[0]}:{run.head_branch}"
            return [self._state_of(p) for p in self._listed("open", head) if p.head.sha == run.head_sha]

        found = self.session.step(
            f"find the pull request of run {run.id}",
            find,
            dry=[],
            would=(
                Would("GET", f"/pulls?state=open&head=…:{run.head_branch}", f"find the PR of run {run.id}"),
            ),
        )
        return found[0] if len(found) == 1 else None

    def of_branch(self, branch: str) -> list[PullState]:
        """Every PR (open or closed) whose head is ``branch`` of this repository."""
        head = f"{self.session.owner}:{branch}"
        return self.session.step(
            f"pull requests of {branch}",
            lambda: [self._state_of(p) for p in self._listed("all", head)],
            dry=[],
            would=(Would("GET", f"/pulls?state=all&head={head}", f"pull requests of {branch}"),),
        )

    # --- writing ----------------------------------------------------------------------------------

    def open(self, *, branch: str, base: str, title: str, body: str) -> Opened:
        """The open PR of ``branch``, else a new one with ``body`` as its description."""
        return self.session.step(
            f"open a pull request for {branch}",
            lambda: self._find_or_create(branch=branch, base=base, title=title, body=body),
            dry=Opened(number=DRY_PULL, url=f"(dry run) {branch}", created=True, labels=()),
            would=(
                self.would_find(branch),
                Would("POST", "/pulls", f"open {branch} → {base}: {cut(title, MAX_TITLE_CHARS)!r}"),
            ),
        )

    def close(self, number: int, *, branch: str) -> None:
        """Close PR ``number`` (the open PR of ``branch``, if it was found by it)."""

        def close() -> None:
            self.session.at("PATCH", f"/pulls/{number}")
            self.session.repo.get_pull(number).edit(state="closed")

        self.session.step(
            f"close #{number}",
            close,
            dry=None,
            would=(Would("PATCH", f"/pulls/{pull_ref(number)}", "state=closed"),),
        )
        self._open.pop(branch, None)

    def merge(self, number: int, *, title: str) -> bool:
        """Merge the open PR ``number``; False when GitHub refuses (conflict, checks, protection): said,
        and left to a person."""

        def merge() -> bool:
            self.session.at("PUT", f"/pulls/{number}/merge")
            try:
                status = self.session.repo.get_pull(number).merge(commit_title=cut(title, MAX_TITLE_CHARS))
            except GithubException as err:
                if err.status in (405, 409, 422):
                    self.session.say(f"#{number} was not merged: {message_of(err.data)}")
                    return False
                raise
            return bool(status.merged)

        return self.session.step(
            f"merge #{number}",
            merge,
            dry=True,
            would=(Would("PUT", f"/pulls/{number}/merge", f"merge: {cut(title, 120)!r}"),),
        )

    # --- requests -----------------------------------------------------------------------------------

    def _listed(self, state: str, head: str) -> PaginatedList[PullRequest]:
        """The pull requests in ``state`` whose head is ``head`` (``owner:branch``), page by page."""
        self.session.at("GET", f"/pulls?state={state}&head={head}")
        return self.session.repo.get_pulls(state=state, head=head)

    def _state_of(self, pull: PullRequest) -> PullState:
        return pull_state_of(pull, self.session.repository)

    def _find_open(self, branch: str) -> PullRequest | None:
        if branch in self._open:
            return self._open[branch]
        for pull in self._listed("open", f"{self.session.owner}:{branch}"):
            self._remember(branch, pull)
            return pull
        return None

    def _open_number(self, branch: str) -> int | None:
        pull = self._find_open(branch)
        return None if pull is None else pull.number

    def _remember(self, branch: str, pull: PullRequest) -> None:
        self._open[branch] = pull
        self.pull_labels[pull.number] = [label.name for label in pull.labels]

    def _read(self, number: int) -> PullState | None:
        self.session.at("GET", f"/pulls/{number}")
        try:
            pull = self.session.repo.get_pull(number)
            pull.complete()
        except GithubException as err:
            if err.status == 404:
                return None
            raise
        state = self._state_of(pull)
        self.pull_labels[number] = list(state.labels)  # the label step need not list them again
        return state

    def _find_or_create(self, *, branch: str, base: str, title: str, body: str) -> Opened:
        pull = self._find_open(branch)
        created = pull is None
        if pull is None:
            self.session.at("POST", "/pulls")
            pull = self.session.repo.create_pull(
                base=base,
                head=branch,
                title=cut(title, MAX_TITLE_CHARS),
                body=fit_markdown(body, MAX_COMMENT_CHARS, note="*(report cut)*"),
            )
            self._remember(branch, pull)
        labels = tuple(label.name for label in pull.labels)
        return Opened(number=pull.number, url=str(pull.html_url), created=created, labels=labels)
