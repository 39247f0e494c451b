"""State -> response bodies, each built from the spec's example for its schema.

Every object starts as :meth:`Spec.template` (GitHub's own example, completed to its schema), has
every ``https://api.github.com`` / ``https://github.com`` URL rewritten to the fake's address, and then
gets the fields the fake models overwritten from state. What the fake does not model keeps the
example's value (``topics``, ``permissions``, the check run's ``app``...), so shapes stay realistic.
"""

from __future__ import annotations

import re
import zlib
from base64 import b64encode
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from .spec import Spec
from .state import (
    Artifact,
    CheckRun,
    Comment,
    Issue,
    Label,
    Repo,
    Status,
    WorkflowRun,
    iso,
)

_GITHUB_URL = re.compile(r"^https?://(?:api\.|uploads\.)?github\.com(?P<repo>/repos/[^/]+/[^/{?#]+)?")


def _id(text: str) -> int:
    """A stable positive id for a name (users have no id in the fake's state)."""
    return zlib.crc32(text.encode()) & 0x7FFFFFFF or 1


def _node_id(kind: str, ident: object) -> str:
    return b64encode(f"{kind}{ident}".encode()).decode()


class Renderer:
    def __init__(
        self, spec: Spec, base_url: str, find_repo: Callable[[str], Repo | None] = lambda _: None
    ) -> None:
        self.spec = spec
        self.url = base_url  # html and api share the fake's address
        self.api = base_url
        self.find_repo = find_repo  # a repository by owner/name (a fork's, for a PR's head)

    # --- helpers -----------------------------------------------------------------------------
    def _rewrite(self, value: Any, repo: Repo | None) -> Any:
        if isinstance(value, str):

            def sub(m: re.Match[str]) -> str:
                if m.group("repo") and repo is not None:
                    return f"{self.api}/repos/{repo.full_name}"
                return self.api + (m.group("repo") or "")

            return _GITHUB_URL.sub(sub, value)
        if isinstance(value, dict):
            return {k: self._rewrite(v, repo) for k, v in value.items()}
        if isinstance(value, list):
            return [self._rewrite(v, repo) for v in value]
        return value

    def _t(self, schema: str, repo: Repo | None = None) -> dict[str, Any]:
        value: dict[str, Any] = self._rewrite(self.spec.template(schema), repo)
        return value

    def repo_api(self, repo: Repo) -> str:
        return f"{self.api}/repos/{repo.full_name}"

    # --- users and repositories --------------------------------------------------------------
    def user(self, login: str) -> dict[str, Any]:
        u = self._t("simple-user")
        q = quote(login)
        api = f"{self.api}/users/{q}"
        uid = _id(login)
        u.update(
            login=login,
            id=uid,
            node_id=_node_id("04:User", uid),
            avatar_url=f"{self.url}/avatars/u/{uid}",
            gravatar_id="",
            url=api,
            html_url=f"{self.url}/{q}",
            followers_url=f"{api}/followers",
            following_url=f"{api}/following{{/other_user}}",
            gists_url=f"{api}/gists{{/gist_id}}",
            starred_url=f"{api}/starred{{/owner}}{{/repo}}",
            subscriptions_url=f"{api}/subscriptions",
            organizations_url=f"{api}/orgs",
            repos_url=f"{api}/repos",
            events_url=f"{api}/events{{/privacy}}",
            received_events_url=f"{api}/received_events",
            type="Bot" if login.endswith("[bot]") else "User",
            site_admin=False,
        )
        return u

    def repository(self, repo: Repo, schema: str = "full-repository") -> dict[str, Any]:
        r = self._t(schema, repo)
        for unmodelled in ("organization", "parent", "source", "template_repository", "temp_clone_token"):
            r.pop(unmodelled, None)
        created = iso(repo.created_at)
        r.update(
            id=repo.id,
            node_id=_node_id("010:Repository", repo.id),
            name=repo.name,
            full_name=repo.full_name,
            owner=self.user(repo.owner),
            private=repo.private,
            html_url=f"{self.url}/{repo.full_name}",
            url=self.repo_api(repo),
            description="",
            fork=False,
        )
        if schema != "minimal-repository" or "git_url" in r:
            r["git_url"] = f"git://127.0.0.1/{repo.full_name}.git"
            r["ssh_url"] = f"git@127.0.0.1:{repo.full_name}.git"
        if schema != "minimal-repository":
            open_issues = sum(1 for i in repo.issues.values() if i.state == "open")
            r.update(
                default_branch=repo.default_branch,
                clone_url=f"{self.url}/{repo.full_name}.git",
                svn_url=f"{self.url}/{repo.full_name}",
                homepage=None,
                mirror_url=None,
                language=None,
                license=None,
                archived=False,
                disabled=False,
                visibility="private" if repo.private else "public",
                created_at=created,
                updated_at=created,
                pushed_at=created,
                open_issues=open_issues,
                open_issues_count=open_issues,
                forks=0,
                forks_count=0,
            )
        return r

    # --- labels, issues, pulls, comments -------------------------------------------------------
    def label(self, repo: Repo, label: Label) -> dict[str, Any]:
        d = self._t("label", repo)
        d.update(
            id=label.id,
            node_id=_node_id("05:Label", label.id),
            url=f"{self.repo_api(repo)}/labels/{quote(label.name, safe='')}",
            name=label.name,
            color=label.color,
            description=label.description,
            default=label.default,
        )
        return d

    def _issue_labels(self, repo: Repo, issue: Issue) -> list[dict[str, Any]]:
        return [self.label(repo, repo.labels[name.lower()]) for name in issue.labels]

    def _comment_count(self, repo: Repo, issue: Issue) -> int:
        return sum(1 for c in repo.comments.values() if c.issue_number == issue.number)

    def _pull_links(self, repo: Repo, issue: Issue) -> dict[str, str]:
        api = self.repo_api(repo)
        n = issue.number
        return {
            "url": f"{api}/pulls/{n}",
            "html_url": f"{self.url}/{repo.full_name}/pull/{n}",
            "diff_url": f"{self.url}/{repo.full_name}/pull/{n}.diff",
            "patch_url": f"{self.url}/{repo.full_name}/pull/{n}.patch",
            "issue_url": f"{api}/issues/{n}",
            "commits_url": f"{api}/pulls/{n}/commits",
            "review_comments_url": f"{api}/pulls/{n}/comments",
            "review_comment_url": f"{api}/pulls/comments{{/number}}",
            "comments_url": f"{api}/issues/{n}/comments",
            "statuses_url": f"{api}/statuses/{issue.head_sha}",
        }

    def issue(self, repo: Repo, issue: Issue) -> dict[str, Any]:
        d = self._t("issue", repo)
        for unmodelled in ("pinned_comment", "closed_by", "repository", "performed_via_github_app"):
            d.pop(unmodelled, None)
        api = f"{self.repo_api(repo)}/issues/{issue.number}"
        kind = "pull" if issue.is_pull else "issues"
        d.update(
            id=issue.id,
            node_id=_node_id("05:Issue", issue.id),
            url=api,
            repository_url=self.repo_api(repo),
            labels_url=f"{api}/labels{{/name}}",
            comments_url=f"{api}/comments",
            events_url=f"{api}/events",
            html_url=f"{self.url}/{repo.full_name}/{kind}/{issue.number}",
            number=issue.number,
            state=issue.state,
            state_reason=("completed" if issue.state == "closed" else None),
            title=issue.title,
            body=issue.body,
            user=self.user(issue.user),
            labels=self._issue_labels(repo, issue),
            assignee=None,
            assignees=[],
            milestone=None,
            locked=False,
            active_lock_reason=None,
            comments=self._comment_count(repo, issue),
            created_at=iso(issue.created_at),
            updated_at=iso(issue.updated_at),
            closed_at=iso(issue.closed_at),
            author_association="OWNER" if issue.user == repo.owner else "CONTRIBUTOR",
        )
        if issue.is_pull:
            links = self._pull_links(repo, issue)
            d["pull_request"] = {
                "url": links["url"],
                "html_url": links["html_url"],
                "diff_url": links["diff_url"],
                "patch_url": links["patch_url"],
                "merged_at": iso(issue.merged_at),
            }
            d["draft"] = issue.draft
        else:
            d.pop("pull_request", None)
        return d

    def _pull_end(self, repo: Repo | None, ref: str, sha: str, owner: str) -> dict[str, Any]:
        return {
            "label": f"{owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self.user(owner),
            "repo": self.repository(repo, "repository") if repo is not None else None,
        }

    def pull(self, repo: Repo, issue: Issue, schema: str = "pull-request") -> dict[str, Any]:
        d = self._t(schema, repo)
        links = self._pull_links(repo, issue)
        d.update(links)
        d.update(
            id=issue.id,
            node_id=_node_id("011:PullRequest", issue.id),
            number=issue.number,
            state=issue.state,
            locked=False,
            active_lock_reason=None,
            title=issue.title,
            body=issue.body,
            user=self.user(issue.user),
            labels=self._issue_labels(repo, issue),
            milestone=None,
            assignee=None,
            assignees=[],
            requested_reviewers=[],
            requested_teams=[],
            created_at=iso(issue.created_at),
            updated_at=iso(issue.updated_at),
            closed_at=iso(issue.closed_at),
            merged_at=iso(issue.merged_at),
            merge_commit_sha=issue.merge_commit_sha,
            head=self._pull_end(
                self.find_repo(issue.head_repo) if issue.head_repo else repo,
                issue.head_ref,
                issue.head_sha,
                issue.head_owner,
            ),
            base=self._pull_end(repo, issue.base_ref, issue.base_sha, repo.owner),
            author_association="OWNER" if issue.user == repo.owner else "CONTRIBUTOR",
            auto_merge=None,
            draft=issue.draft,
        )
        d["_links"] = {
            "self": {"href": links["url"]},
            "html": {"href": links["html_url"]},
            "issue": {"href": links["issue_url"]},
            "comments": {"href": links["comments_url"]},
            "review_comments": {"href": links["review_comments_url"]},
            "review_comment": {"href": links["review_comment_url"]},
            "commits": {"href": links["commits_url"]},
            "statuses": {"href": links["statuses_url"]},
        }
        if schema == "pull-request":
            is_open = issue.state == "open"
            d.update(
                merged=issue.merged,
                mergeable=True if is_open else None,
                rebaseable=True if is_open else None,
                mergeable_state="clean" if is_open else "unknown",
                merged_by=self.user(issue.merged_by) if issue.merged_by else None,
                comments=self._comment_count(repo, issue),
                review_comments=0,
                maintainer_can_modify=issue.maintainer_can_modify,
                commits=max(1, len(self.ahead(repo, issue.base_sha, issue.head_sha))),
                additions=1,
                deletions=0,
                changed_files=1,
            )
        return d

    def pull_minimal(self, repo: Repo, issue: Issue) -> dict[str, Any]:
        mini_repo = {"id": repo.id, "url": self.repo_api(repo), "name": repo.name}
        return {
            "id": issue.id,
            "number": issue.number,
            "url": f"{self.repo_api(repo)}/pulls/{issue.number}",
            "head": {"ref": issue.head_ref, "sha": issue.head_sha, "repo": mini_repo},
            "base": {"ref": issue.base_ref, "sha": issue.base_sha, "repo": mini_repo},
        }

    def comment(self, repo: Repo, issue: Issue, comment: Comment) -> dict[str, Any]:
        d = self._t("issue-comment", repo)
        kind = "pull" if issue.is_pull else "issues"
        d.update(
            id=comment.id,
            node_id=_node_id("012:IssueComment", comment.id),
            url=f"{self.repo_api(repo)}/issues/comments/{comment.id}",
            html_url=f"{self.url}/{repo.full_name}/{kind}/{issue.number}#issuecomment-{comment.id}",
            issue_url=f"{self.repo_api(repo)}/issues/{issue.number}",
            body=comment.body,
            user=self.user(comment.user),
            created_at=iso(comment.created_at),
            updated_at=iso(comment.updated_at),
            author_association="OWNER" if comment.user == repo.owner else "NONE",
            minimized=None,
            pin=None,
        )
        return d

    # --- commits, branches, refs -----------------------------------------------------------------
    def ahead(self, repo: Repo, base_sha: str, head_sha: str) -> list[str]:
        """Commits reachable from head but not from base, oldest first (known graph only)."""
        base_side = set(repo.ancestors(base_sha))
        return [s for s in reversed(repo.ancestors(head_sha)) if s not in base_side]

    def commit(self, repo: Repo, sha: str, message: str | None = None) -> dict[str, Any]:
        d = self._t("commit", repo)
        for unmodelled in ("files", "stats"):
            d.pop(unmodelled, None)
        api = self.repo_api(repo)
        when = iso(repo.created_at)
        person = {"name": "The Octocat", "email": "octocat@example.invalid", "date": when}
        d.update(
            sha=sha,
            node_id=_node_id("06:Commit", sha),
            url=f"{api}/commits/{sha}",
            html_url=f"{self.url}/{repo.full_name}/commit/{sha}",
            comments_url=f"{api}/commits/{sha}/comments",
            author=self.user(repo.owner),
            committer=self.user(repo.owner),
            parents=[
                {"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{self.url}/{repo.full_name}/commit/{p}"}
                for p in repo.parents.get(sha, [])
            ],
        )
        d["commit"].update(
            url=f"{api}/git/commits/{sha}",
            message=message or repo_message(repo, sha),
            author=dict(person),
            committer=dict(person),
            comment_count=0,
        )
        d["commit"]["tree"] = {"sha": sha, "url": f"{api}/git/trees/{sha}"}
        return d

    def short_branch(self, repo: Repo, name: str, sha: str) -> dict[str, Any]:
        d = self._t("short-branch", repo)
        d.pop("protection", None)
        d.update(
            name=name,
            commit={"sha": sha, "url": f"{self.repo_api(repo)}/commits/{sha}"},
            protected=False,
            protection_url=f"{self.repo_api(repo)}/branches/{quote(name)}/protection",
        )
        return d

    def branch(self, repo: Repo, name: str, sha: str) -> dict[str, Any]:
        d = self._t("branch-with-protection", repo)
        d.update(
            name=name,
            commit=self.commit(repo, sha),
            protected=False,
            protection_url=f"{self.repo_api(repo)}/branches/{quote(name)}/protection",
        )
        d["_links"] = {
            "html": f"{self.url}/{repo.full_name}/tree/{quote(name)}",
            "self": f"{self.repo_api(repo)}/branches/{quote(name)}",
        }
        checks = {"enforcement_level": "off", "contexts": [], "checks": []}
        d["protection"] = {"enabled": False, "required_status_checks": checks}
        return d

    def git_ref(self, repo: Repo, ref: str, sha: str) -> dict[str, Any]:
        d = self._t("git-ref", repo)
        d.update(
            ref=ref,
            node_id=_node_id("03:Ref", ref),
            url=f"{self.repo_api(repo)}/git/{quote(ref)}",
            object={"sha": sha, "type": "commit", "url": f"{self.repo_api(repo)}/git/commits/{sha}"},
        )
        return d

    def comparison(self, repo: Repo, base: str, head: str, base_sha: str, head_sha: str) -> dict[str, Any]:
        d = self._t("commit-comparison", repo)
        ahead = self.ahead(repo, base_sha, head_sha)
        behind = self.ahead(repo, head_sha, base_sha)
        base_side = repo.ancestors(base_sha)
        head_side = set(repo.ancestors(head_sha))
        merge_base = next((s for s in base_side if s in head_side), base_sha)
        if base_sha == head_sha:
            status = "identical"
        elif not behind:
            status = "ahead"
        elif not ahead:
            status = "behind"
        else:
            status = "diverged"
        spec = f"{base}...{head}"
        d.update(
            url=f"{self.repo_api(repo)}/compare/{spec}",
            html_url=f"{self.url}/{repo.full_name}/compare/{spec}",
            permalink_url=f"{self.url}/{repo.full_name}/compare/{base_sha[:7]}...{head_sha[:7]}",
            diff_url=f"{self.url}/{repo.full_name}/compare/{spec}.diff",
            patch_url=f"{self.url}/{repo.full_name}/compare/{spec}.patch",
            base_commit=self.commit(repo, base_sha),
            merge_base_commit=self.commit(repo, merge_base),
            status=status,
            ahead_by=len(ahead),
            behind_by=len(behind),
            total_commits=len(ahead),
            commits=[self.commit(repo, s) for s in ahead],
            files=[],
        )
        return d

    # --- statuses and checks -----------------------------------------------------------------
    def status(self, repo: Repo, status: Status, schema: str = "status") -> dict[str, Any]:
        d = self._t(schema, repo)
        creator = self.user(status.creator)
        d.update(
            id=status.id,
            node_id=_node_id("06:Status", status.id),
            url=f"{self.repo_api(repo)}/statuses/{status.sha}",
            avatar_url=creator["avatar_url"],
            state=status.state,
            description=status.description,
            target_url=status.target_url,
            context=status.context,
            created_at=iso(status.created_at),
            updated_at=iso(status.updated_at),
        )
        if schema == "status":
            d["creator"] = creator
        return d

    def combined_status(self, repo: Repo, sha: str, latest: list[Status]) -> dict[str, Any]:
        d = self._t("combined-commit-status", repo)
        states = {s.state for s in latest}
        if states & {"error", "failure"}:
            state = "failure"
        elif not latest or "pending" in states:
            state = "pending"
        else:
            state = "success"
        d.update(
            state=state,
            sha=sha,
            total_count=len(latest),
            statuses=[self.status(repo, s, "simple-commit-status") for s in latest],
            repository=self.repository(repo, "minimal-repository"),
            commit_url=f"{self.repo_api(repo)}/commits/{sha}",
            url=f"{self.repo_api(repo)}/commits/{sha}/status",
        )
        return d

    def check_run(self, repo: Repo, run: CheckRun) -> dict[str, Any]:
        d = self._t("check-run", repo)
        output = {
            "title": run.output.get("title"),
            "summary": run.output.get("summary"),
            "text": run.output.get("text"),
            "annotations_count": len(run.output.get("annotations") or []),
            "annotations_url": f"{self.repo_api(repo)}/check-runs/{run.id}/annotations",
        }
        pulls = [
            i for i in repo.issues.values() if i.is_pull and i.state == "open" and i.head_sha == run.head_sha
        ]
        d.update(
            id=run.id,
            node_id=_node_id("08:CheckRun", run.id),
            head_sha=run.head_sha,
            external_id=run.external_id,
            url=f"{self.repo_api(repo)}/check-runs/{run.id}",
            html_url=f"{self.url}/{repo.full_name}/runs/{run.id}",
            details_url=run.details_url,
            status=run.status,
            conclusion=run.conclusion,
            started_at=iso(run.started_at),
            completed_at=iso(run.completed_at),
            output=output,
            name=run.name,
            check_suite={"id": run.id},
            pull_requests=[self.pull_minimal(repo, p) for p in pulls],
        )
        return d

    # --- actions -----------------------------------------------------------------------------
    def artifact(self, repo: Repo, artifact: Artifact) -> dict[str, Any]:
        d = self._t("artifact", repo)
        api = f"{self.repo_api(repo)}/actions/artifacts/{artifact.id}"
        d.update(
            id=artifact.id,
            node_id=_node_id("08:Artifact", artifact.id),
            name=artifact.name,
            size_in_bytes=artifact.size,
            url=api,
            archive_download_url=f"{api}/zip",
            expired=artifact.expired,
            created_at=iso(artifact.created_at),
            updated_at=iso(artifact.created_at),
            expires_at=iso(artifact.expires_at),
            digest=artifact.digest,
            workflow_run={
                "id": artifact.run_id,
                "repository_id": repo.id,
                "head_repository_id": repo.id,
                "head_branch": artifact.head_branch,
                "head_sha": artifact.head_sha,
            },
        )
        return d

    def workflow_run(self, repo: Repo, run: WorkflowRun) -> dict[str, Any]:
        d = self._t("workflow-run", repo)
        api = f"{self.repo_api(repo)}/actions/runs/{run.id}"
        actor = self.user(repo.owner)
        pulls = [
            i
            for i in repo.issues.values()
            if i.is_pull and i.state == "open" and i.head_ref == run.head_branch
        ]
        d.update(
            id=run.id,
            name=run.name,
            node_id=_node_id("011:WorkflowRun", run.id),
            head_branch=run.head_branch,
            head_sha=run.head_sha,
            path=run.path,
            display_title=run.name,
            run_number=run.run_number,
            run_attempt=1,
            event=run.event,
            status=run.status,
            conclusion=run.conclusion,
            workflow_id=run.workflow_id,
            check_suite_id=run.id,
            check_suite_node_id=_node_id("010:CheckSuite", run.id),
            url=api,
            html_url=f"{self.url}/{repo.full_name}/actions/runs/{run.id}",
            created_at=iso(run.created_at),
            updated_at=iso(run.updated_at),
            run_started_at=iso(run.created_at),
            jobs_url=f"{api}/jobs",
            logs_url=f"{api}/logs",
            check_suite_url=f"{self.repo_api(repo)}/check-suites/{run.id}",
            artifacts_url=f"{api}/artifacts",
            cancel_url=f"{api}/cancel",
            rerun_url=f"{api}/rerun",
            previous_attempt_url=None,
            workflow_url=f"{self.repo_api(repo)}/actions/workflows/{run.workflow_id}",
            actor=actor,
            triggering_actor=actor,
            referenced_workflows=[],
            pull_requests=[self.pull_minimal(repo, p) for p in pulls],
            repository=self.repository(repo, "minimal-repository"),
            head_repository=self.repository(repo, "minimal-repository"),
        )
        if isinstance(d.get("head_commit"), dict):
            d["head_commit"].update(
                id=run.head_sha, tree_id=run.head_sha, message=repo_message(repo, run.head_sha)
            )
        return d

    # --- misc ----------------------------------------------------------------------------------
    def rate_limit(self, limit: int, remaining: int, reset: int) -> dict[str, Any]:
        d = self._t("rate-limit-overview")
        core = {"limit": limit, "remaining": remaining, "reset": reset, "used": limit - remaining}
        d["rate"] = dict(core)
        d["resources"]["core"] = dict(core)
        return d

    def merge_result(self, sha: str) -> dict[str, Any]:
        d = self._t("pull-request-merge-result")
        d.update(sha=sha, merged=True, message="Pull Request successfully merged")
        return d


def repo_message(repo: Repo, sha: str) -> str:
    return repo.messages.get(sha, f"Commit {sha[:7]}")
