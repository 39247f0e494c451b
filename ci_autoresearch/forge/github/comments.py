"""The sticky comment: one per pull request, found by :data:`MARKER`, edited in place, left alone when
unchanged; its parts (the report, the visible "closed because" note, the hidden closed-for markers).

A closed PR's comment carries the note below its headline while the PR stays closed for that same
evaluation; the closed-for markers always stay, so a person who reopens a PR is not overruled by the
next run of the same evaluation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from github.IssueComment import IssueComment

from ci_autoresearch.forge.github.client import Session, Step, Would, pull_ref
from ci_autoresearch.forge.github.text import fit_markdown, one_line
from ci_autoresearch.report.markdown import escape_md

MARKER = "<!-- ci-autoresearch:report -->"
CLOSED_START = "<!-- ci-autoresearch:closed key="  # + key + " -->": the visible "closed because" note
CLOSED_END = "<!-- /ci-autoresearch:closed -->"
CLOSED_FOR = "<!-- ci-autoresearch:closed-for "  # + key + " -->": hidden, kept: a reopen is respected
_CLOSED_NOTE = re.compile(re.escape(CLOSED_START) + r"(\S*) -->\n.*?" + re.escape(CLOSED_END) + r"\n*", re.S)
_CLOSED_FOR = re.compile(re.escape(CLOSED_FOR) + r"(\S+) -->\n?")
MAX_CLOSED_FOR = 20
MAX_COMMENT_CHARS = 65536


@dataclass(frozen=True)
class StickyParts:
    """A sticky comment taken apart: the report, the visible closed note (with the key it was written
    for) and the keys of the evaluations the PR was closed for (hidden markers)."""

    report: str
    note_key: str | None
    note: str
    closed_for: tuple[str, ...]


def sticky_parts(body: str) -> StickyParts:
    text = body.lstrip().removeprefix(MARKER).lstrip("\n")
    found = _CLOSED_NOTE.search(text)
    note_key, note = (found.group(1), found.group(0).rstrip("\n") + "\n") if found else (None, "")
    if found:
        before, after = text[: found.start()].rstrip("\n"), text[found.end() :].lstrip("\n")
        text = f"{before}\n\n{after}" if before else after
    keys = tuple(dict.fromkeys(m.group(1) for m in _CLOSED_FOR.finditer(text)))
    text = _CLOSED_FOR.sub("", text).rstrip() + "\n"
    return StickyParts(report=text, note_key=note_key, note=note, closed_for=keys)


def closed_note(key: str, reason: str) -> str:
    """The visible note a closed PR's comment carries below its headline while it is current."""
    text = escape_md(one_line(reason, 1000))
    return f"{CLOSED_START}{key} -->\n> ⛔ **Closed by ci-autoresearch:** {text}\n{CLOSED_END}\n"


def compose_sticky(report: str, *, note: str = "", closed_for: tuple[str, ...] = ()) -> str:
    """The comment: the marker, the report's headline, the closed note (when current), the rest of the
    report, and the hidden closed-for markers at the end."""
    head, _, rest = report.strip("\n").partition("\n")
    parts = [head, note.strip("\n"), rest.strip("\n")]
    text = "\n\n".join(part for part in parts if part) + "\n"
    if closed_for:
        text += "\n" + "".join(f"{CLOSED_FOR}{k} -->\n" for k in closed_for[-MAX_CLOSED_FOR:])
    return comment_body(text)


def comment_body(markdown: str) -> str:
    """The sticky comment: the hidden marker, then the report (cut to GitHub's 65536 characters)."""
    body = f"{MARKER}\n{markdown}"
    return fit_markdown(
        body,
        MAX_COMMENT_CHARS,
        note=f"*(report cut: {len(body)} characters is more than a comment holds; the full report "
        "is in the job's step summary)*",
    )


class Comments:
    """The sticky comment of each pull request."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def upsert_step(self, number: int, body: str, *, key: str = "", fresh: bool = False) -> Step:
        """The step that creates or edits the comment of PR ``number``; ``fresh``: the PR was just created,
        so its first attempt lists no comments."""
        attempts = 0

        def run() -> str:
            nonlocal attempts
            attempts += 1  # after a failed attempt the comment may exist: look for it then
            return self._upsert(number, body, key=key, fresh=fresh and attempts == 1)

        path = f"/issues/{pull_ref(number)}/comments"
        would = (
            (Would("POST", path, f"sticky comment, {len(body)} chars"),)
            if fresh
            else (
                Would("GET", path, f"find the sticky comment {MARKER}"),
                Would("POST", path, f"sticky comment, {len(body)} chars; PATCH it instead when found"),
            )
        )
        return Step(f"sticky comment on #{number}", run, would)

    def note_closed(self, number: int, *, reason: str, key: str) -> str:
        """Say why PR ``number`` is being closed below the headline of its comment, and remember ``key``;
        "reopened" (and no change) when it was closed for this same evaluation and a person reopened it."""
        return self.session.step(
            f"sticky comment on #{number}",
            lambda: self._note_closed(number, closed_note(key, reason), key),
            dry="updated",
            would=(
                Would(
                    "PATCH",
                    "/issues/comments/{id}",
                    f"sticky comment: closed because {one_line(reason, 120)}",
                ),
            ),
        )

    def _sticky(self, number: int) -> list[IssueComment]:
        self.session.at("GET", f"/issues/{number}/comments")
        return [
            c
            for c in self.session.repo.get_issue(number).get_comments()
            if (c.body or "").lstrip().startswith(MARKER)
        ]

    def _upsert(self, number: int, body: str, *, key: str, fresh: bool) -> str:
        """Create or edit the one comment with the marker; ``fresh``: the PR was just created (no listing).

        The closed note stays (below the headline) only while the PR is closed for this same evaluation
        (``key``); the hidden closed-for markers always stay, so a person's reopen is respected later."""
        found = [] if fresh else self._sticky(number)
        if not found:
            return self._write(number, None, body)
        first = found[0]
        for extra in found[1:]:  # a duplicate left by two jobs racing: keep the oldest
            if extra.user is not None and first.user is not None and extra.user.login == first.user.login:
                self.session.at("DELETE", f"/issues/comments/{extra.id}")
                extra.delete()
        old = sticky_parts(first.body or "")
        note = ""
        if old.note and old.note_key == key and key:
            self.session.at("GET", f"/pulls/{number}")
            if self.session.repo.get_pull(number).state == "closed":
                note = old.note
        if note or old.closed_for:
            body = compose_sticky(sticky_parts(body).report, note=note, closed_for=old.closed_for)
        return self._write(number, first, body)

    def _note_closed(self, number: int, note: str, key: str) -> str:
        sticky = self._sticky(number)
        old = sticky_parts(sticky[0].body or "") if sticky else sticky_parts("")
        if key and key in old.closed_for:
            return "reopened"
        closed_for = (*old.closed_for, key) if key else old.closed_for
        body = compose_sticky(old.report if sticky else "", note=note, closed_for=closed_for)
        return self._write(number, sticky[0] if sticky else None, body)

    def _write(self, number: int, comment: IssueComment | None, body: str) -> str:
        """Post ``body`` as PR ``number``'s comment, or edit ``comment`` unless it already says it."""
        if comment is None:
            self.session.at("POST", f"/issues/{number}/comments")
            self.session.repo.get_issue(number).create_comment(body)
            return "created"
        if comment.body == body:
            return "unchanged"
        self.session.at("PATCH", f"/issues/comments/{comment.id}")
        comment.edit(body)
        return "updated"
