"""Where decisions are published: the ``Forge`` protocol and its two implementations.

The loop speaks only to this protocol, so it runs the same on a laptop (``LocalForge``: records what it
would do under ``.git/autoresearch/``) and in GitHub Actions (``GithubForge``: PyGithub).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ci_autoresearch.model import Evaluation


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
