"""The GitHub forge: one sticky comment per pull request, verdict labels, a commit status or check run,
pull requests for improvements, the baseline artifact and the run's evaluation bundles — through
PyGithub.

Every write is idempotent (find before create), so re-running a job converges on the same state: one
comment (found by :data:`MARKER`, edited in place, left alone when unchanged), one verdict label of
ours per PR, one open PR per candidate branch. Only the REST operations of the OpenAPI subset the tests
check are used; objects are lazy, so nothing is fetched that is not needed.

One module per responsibility, composed by :class:`GithubForge` (``forge``):

- ``client``: construction from the environment, the token, the step runner (retries, error lines,
  the dry run);
- ``comments``: the sticky comment, its parts and the closed note;
- ``labels``: the verdict labels;
- ``commit_status``: the commit status or check run;
- ``pulls``: finding, reading, opening, closing and merging pull requests;
- ``artifacts``: the baseline artifact, the run's bundles, the download and the zip's one document;
- ``text``: text cut to what GitHub accepts.
"""

from __future__ import annotations

from ci_autoresearch.forge import BUNDLE_ARTIFACT_PREFIX
from ci_autoresearch.forge.github.client import DEFAULT_API_URL, token_of
from ci_autoresearch.forge.github.comments import (
    MARKER,
    StickyParts,
    closed_note,
    comment_body,
    compose_sticky,
    sticky_parts,
)
from ci_autoresearch.forge.github.commit_status import (
    CHECK_CONCLUSION,
    CONTEXT,
    STATUS_STATE,
    status_description,
)
from ci_autoresearch.forge.github.forge import GithubForge
from ci_autoresearch.forge.github.labels import LABEL_STYLE, verdict_label
from ci_autoresearch.forge.github.text import fit_markdown

__all__ = [
    "BUNDLE_ARTIFACT_PREFIX",
    "CHECK_CONCLUSION",
    "CONTEXT",
    "DEFAULT_API_URL",
    "LABEL_STYLE",
    "MARKER",
    "STATUS_STATE",
    "GithubForge",
    "StickyParts",
    "closed_note",
    "comment_body",
    "compose_sticky",
    "fit_markdown",
    "status_description",
    "sticky_parts",
    "token_of",
    "verdict_label",
]
