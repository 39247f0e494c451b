"""Workflow artifacts: the stored baseline (a result of the base branch's head) and the evaluation
bundles an unprivileged run uploaded, downloaded through GitHub's 302 (the target never sees the
token), size-limited, and read as exactly one validated JSON document per zip. Everything in them is
untrusted; missing, expired or invalid artifacts are an answer with the reason, not an error."""

from __future__ import annotations

import functools
import io
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from github import GithubException
from github.Artifact import Artifact

from ci_autoresearch import __version__
from ci_autoresearch.artifacts import SCHEMA_IDS, Kind, parse_document, result_from_json
from ci_autoresearch.errors import ArtifactError
from ci_autoresearch.forge import BUNDLE_ARTIFACT_PREFIX, FoundBundle
from ci_autoresearch.forge.github.client import RETRY_STATUSES, Session, Would, header
from ci_autoresearch.forge.github.text import one_line
from ci_autoresearch.model import Result

MAX_ARTIFACT_BYTES = 32 * 1024 * 1024
MAX_ARTIFACT_MEMBERS = 1000
MAX_ARTIFACT_PAGES = 5  # of 100: the newest 500 artifacts with the name
MAX_RUN_BUNDLES = 64

Download = Callable[[Artifact], bytes | str]  # an artifact's zip, or why not


class Artifacts:
    """The repository's workflow artifacts."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def fetch_baseline(
        self, name: str, *, branch: str, sha: str | None = None, download: Download | None = None
    ) -> tuple[Result | None, str]:
        """The newest unexpired artifact ``name`` of a run on ``branch`` (at ``sha`` when given), as a
        validated result@1. Missing, expired or invalid: ``(None, why)``; API failure: ForgeError."""
        query = urllib.parse.urlencode({"name": name})
        artifact, why = self.session.step(
            f"find the baseline artifact {name}",
            lambda: self._newest(name, branch=branch, sha=sha),
            dry=(None, "dry run: the baseline artifact was not fetched"),
            would=(Would("GET", f"/actions/artifacts?{query}", "find the baseline artifact"),),
        )
        if artifact is None:
            return None, why
        label = f"baseline artifact {name} #{artifact.id}"
        data = self._zip(
            artifact,
            label,
            download,
            too_large=f"{label} is {artifact.size_in_bytes} bytes, more than the 32 MiB limit",
        )
        if isinstance(data, str):
            return None, data
        doc, problem = document_from_zip(data, label, "result")
        if doc is None:
            return None, problem
        result = result_from_json(doc)
        run = artifact.workflow_run
        head_sha = run.head_sha if run is not None else ""
        if sha is not None and result.ref.sha and result.ref.sha != sha:
            return None, f"{label} holds a result of {result.ref.sha[:8]}, not of {sha[:8]}"
        return result, f"{label} from {head_sha[:8]}, {_iso(artifact.created_at)}"

    def fetch_run_bundles(
        self, run_id: int, *, download: Download | None = None
    ) -> tuple[list[FoundBundle], list[str]] | None:
        """The evaluation bundles (``autoresearch-bundle-*`` artifacts) an unprivileged run uploaded, each a
        validated bundle@1 document -- still untrusted: publish checks every claim in it -- with the
        problems of those that could not be read. None when the run does not exist (deleted)."""

        def find() -> tuple[list[Artifact], list[str]] | None:
            self.session.at("GET", f"/actions/runs/{run_id}/artifacts")
            try:
                run = self.session.repo.get_workflow_run(run_id)
                bundles = [
                    a
                    for a in run.get_artifacts()
                    if a.name.startswith(BUNDLE_ARTIFACT_PREFIX) and not a.expired
                ][:MAX_RUN_BUNDLES]
            except GithubException as err:
                if err.status == 404:
                    return None
                raise
            return bundles, []

        found = self.session.step(
            f"find the evaluation bundles of run {run_id}",
            find,
            dry=([], ["dry run: the bundles were not fetched"]),
            would=(Would("GET", f"/actions/runs/{run_id}/artifacts", "find the evaluation bundles"),),
        )
        if found is None:
            return None
        artifacts, problems = found
        docs: list[FoundBundle] = []
        for artifact in artifacts:
            label = f"artifact {artifact.name} #{artifact.id}"
            data = self._zip(artifact, label, download, too_large=f"{label} is larger than the 32 MiB limit")
            doc, problem = (None, data) if isinstance(data, str) else document_from_zip(data, label, "bundle")
            if doc is None:
                problems.append(problem)
            else:
                docs.append((label, artifact.name, doc))
        return docs, problems

    def download(self, artifact: Artifact) -> bytes | str:
        """The zip's bytes, or why not (a string). The 302 target never sees the token."""
        client = self.session.client
        assert client is not None  # a dry run finds no artifact to download
        self.session.at("GET", f"/actions/artifacts/{artifact.id}/zip")
        try:
            headers, _ = client.requester.requestJsonAndCheck("GET", artifact.archive_download_url)
        except GithubException as err:
            if err.status == 410:
                return "has expired"
            if err.status == 404:
                return "was not found (deleted?)"
            raise
        location = header(headers, "location")
        if not location:
            return "the download answer has no Location to follow"
        if urllib.parse.urlsplit(location).scheme not in ("https", "http"):
            return "the download location is not an http(s) URL"
        self.session.at_url("GET", urllib.parse.urlsplit(location)._replace(query="").geturl())
        request = urllib.request.Request(location, headers={"User-Agent": f"ci-autoresearch/{__version__}"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # no Authorization header
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > MAX_ARTIFACT_BYTES:
                    return f"is {declared} bytes, more than the 32 MiB limit"
                data: bytes = response.read(MAX_ARTIFACT_BYTES + 1)
        except urllib.error.HTTPError as err:
            if err.code in RETRY_STATUSES or err.code == 429:
                raise
            err.close()
            return f"download refused: HTTP {err.code} {err.reason}"
        if len(data) > MAX_ARTIFACT_BYTES:
            return "is larger than the 32 MiB limit"
        return data

    def _zip(
        self, artifact: Artifact, label: str, download: Download | None, *, too_large: str
    ) -> bytes | str:
        """The artifact's zip, downloaded in a step of its own, or why not (``too_large`` when its declared
        size is over the limit)."""
        if artifact.size_in_bytes is not None and artifact.size_in_bytes > MAX_ARTIFACT_BYTES:
            return too_large
        data = self.session.step(
            f"download {label}", functools.partial(download or self.download, artifact), dry="not downloaded"
        )
        return f"{label}: {data}" if isinstance(data, str) else data

    def _newest(self, name: str, *, branch: str, sha: str | None) -> tuple[Artifact | None, str]:
        """The newest unexpired artifact ``name`` of a (non-fork) run on ``branch`` at ``sha``, else why
        there is none."""
        where = f"for branch {branch}" + (f" at {sha[:8]}" if sha else "")
        self.session.at("GET", f"/actions/artifacts?{urllib.parse.urlencode({'name': name})}")
        seen = expired = other = forks = 0
        newest_for_branch: str | None = None
        for artifact in self.session.repo.get_artifacts(name=name):
            seen += 1
            if seen > MAX_ARTIFACT_PAGES * 100:
                break
            run = artifact.workflow_run
            if artifact.name != name or run is None or run.head_branch != branch:
                other += 1
                continue
            if run.head_repository_id != run.repository_id:  # a fork's run: untrusted, never a baseline
                forks += 1
                continue
            if sha is not None and run.head_sha != sha:
                newest_for_branch = newest_for_branch or run.head_sha
                continue
            if artifact.expired:
                expired += 1
                continue
            return artifact, ""
        if expired:
            return None, f"baseline artifact {name} {where} has expired (re-run the base branch's workflow)"
        if newest_for_branch:
            newest = f"the newest for {branch} is from {newest_for_branch[:8]}"
            return None, f"no baseline artifact {name} {where} ({newest})"
        if other or forks:
            found = [f"{other} for other branches" if other else "", f"{forks} from forks" if forks else ""]
            return None, f"no baseline artifact {name} {where} (found {', '.join(f for f in found if f)})"
        return None, f"no baseline artifact {name} {where} in {self.session.repository}"


def document_from_zip(data: bytes, label: str, expect: Kind) -> tuple[dict[str, Any] | None, str]:
    """Exactly one ``*.json`` member of the zip that is a valid document of kind ``expect``."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [i for i in archive.infolist() if not i.is_dir() and i.filename.lower().endswith(".json")]
    except (zipfile.BadZipFile, ValueError, OSError):
        return None, f"{label} is not a valid zip archive"
    if len(archive.infolist()) > MAX_ARTIFACT_MEMBERS:
        return None, f"{label} has more than {MAX_ARTIFACT_MEMBERS} files"
    found: list[tuple[str, dict[str, Any]]] = []
    problems: list[str] = []
    total = 0
    for info in members:
        total += info.file_size
        if info.file_size > MAX_ARTIFACT_BYTES or total > MAX_ARTIFACT_BYTES:
            problems.append(f"{info.filename}: larger than the 32 MiB limit")
            break
        try:
            text = archive.read(info).decode("utf-8")
            kind, doc = parse_document(text, source=info.filename)
        except ArtifactError as err:
            problems.append(err.message)
            continue
        except (
            zipfile.BadZipFile,
            ValueError,
            OSError,
            EOFError,
            NotImplementedError,
            UnicodeDecodeError,
        ) as err:
            problems.append(f"{info.filename}: unreadable ({one_line(str(err), 120)})")
            continue
        if kind == expect:
            found.append((info.filename, doc))
        else:
            problems.append(f"{info.filename}: a {kind} document, not a {expect}")
    want = SCHEMA_IDS[expect].split("/")[-1]
    if len(found) == 1:
        return found[0][1], ""
    if len(found) > 1:
        names = ", ".join(n for n, _ in found[:5])
        return None, f"{label} holds {len(found)} {want} files ({names}); expected exactly one"
    if problems:
        return None, one_line(f"{label} holds no valid {want} JSON: {problems[0]}")
    return None, f"{label} holds no JSON file (expected one {want} document)"


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return "unknown time"
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
