"""GitHub's OpenAPI subset: routing, response templates and openapi-core validation.

The spec (``tests/fixtures/github-openapi/api.github.com.subset.json``) is the contract. This module
loads it once per process and offers three things to the server:

* :meth:`Spec.match` — route ``(method, raw path)`` to one of its operations, honouring GitHub's
  ``x-multi-segment`` path parameters (``git/ref/heads/feature/x``), which openapi-core's own path
  finder does not understand (it never lets a parameter span a ``/``);
* :meth:`Spec.template` — a response object built from the spec's own ``example`` for a schema,
  completed with every ``required`` property the example lacks (several of GitHub's examples do not
  satisfy their own schema, see :data:`SPEC_QUIRKS`);
* :meth:`Spec.request_errors` / :meth:`Spec.response_errors` — openapi-core validation through the
  small raw adapters :class:`RawRequest` / :class:`RawResponse` (no werkzeug request objects).
"""

from __future__ import annotations

import copy
import functools
import json
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_schema_validator import OAS30Validator

SPEC_PATH = (
    Path(__file__).resolve().parent.parent / "fixtures" / "github-openapi" / "api.github.com.subset.json"
)

#: The host the spec's ``servers`` entry names; requests are validated as if sent there.
SPEC_HOST = "https://api.github.com"

METHODS = ("get", "post", "put", "patch", "delete")

#: Path parameters that may hold a ``/`` although the spec does not mark them ``x-multi-segment``
#: (GitHub accepts branch names with slashes in ``compare/{base}...{head}``).
EXTRA_MULTI_SEGMENT = {("repos/compare-commits", "base"), ("repos/compare-commits", "head")}

#: Deviations of the spec from what GitHub (and PyGithub) really do, and what this package does.
SPEC_QUIRKS = {
    "nullable-enum": (
        "OpenAPI 3.0.3 says `nullable: true` does not add null to an `enum`; GitHub's spec has "
        "`nullable` enums without null (check-run.conclusion, issue.state_reason, issue-type.color), "
        "so every in-progress check run or open issue would fail validation. The in-memory copy of "
        "the spec adds null to those enums (the fixture file is untouched)."
    ),
    "pull-request-simple-label-description": (
        "A label's `description` is nullable in `label`, `issue` and `pull-request`, but not in the "
        "labels of `pull-request-simple` (pulls/list, commits/{sha}/pulls), although GitHub sends null "
        "there for a label without description. The in-memory spec makes it nullable."
    ),
    "add-labels-bare-array": (
        'PyGithub sends issues/add-labels as a bare JSON array (`["a"]`); the subset\'s request '
        'schema only has the `{"labels": [...]}` form (GitHub accepts both). A bare array is '
        'accepted, logged in `FakeGitHub.notes`, and validated as `{"labels": <array>}`.'
    ),
    "incomplete-examples": (
        "Several examples miss required properties of their schema (issue example without id, "
        "repository examples without `language`, pull-request `requested_teams[].type`, "
        "list-branches `protection.required_status_checks.checks`, an in-progress check run with "
        "conclusion null). Templates fill missing required properties from the schema."
    ),
    "undeclared-errors": (
        "Many operations declare no error responses (actions/get-artifact has only 200, "
        "checks/create only 201) although GitHub answers 401/403/404/422/5xx there. Such responses "
        "are validated against `basic-error` (or `validation-error` for 422) and logged in "
        "`FakeGitHub.notes`, not counted as violations."
    ),
}

#: schema name -> (example name, path inside that example's value) used as the response template.
TEMPLATES: dict[str, tuple[str, tuple[str | int, ...]]] = {
    "full-repository": ("full-repository-default-response", ()),
    "repository": ("pull-request", ("head", "repo")),
    "minimal-repository": ("combined-commit-status", ("repository",)),
    "simple-user": ("issue-comment", ("user",)),
    "pull-request": ("pull-request", ()),
    "pull-request-simple": ("pull-request-simple-items", (0,)),
    "issue": ("issue", ()),
    "issue-comment": ("issue-comment", ()),
    "label": ("label", ()),
    "artifact": ("artifact", ()),
    "workflow-run": ("workflow-run", ()),
    "short-branch": ("short-branch-with-protection-items", (0,)),
    "branch-with-protection": ("branch-get", ()),
    "commit": ("commit-comparison", ("base_commit",)),
    "commit-comparison": ("commit-comparison", ()),
    "check-run": ("check-run", ()),
    "combined-commit-status": ("combined-commit-status", ()),
    "simple-commit-status": ("combined-commit-status", ("statuses", 0)),
    "status": ("status", ()),
    "git-ref": ("git-ref", ()),
    "rate-limit-overview": ("rate-limit-overview", ()),
    "pull-request-merge-result": ("pull-request-merge-result-response-if-merge-was-successful", ()),
}


@dataclass(frozen=True)
class Operation:
    """One operation of the spec, with the regex that routes a raw request path to it."""

    operation_id: str
    method: str  # upper case
    pattern: str  # the spec's path template
    regex: re.Pattern[str]
    param_count: int
    responses: frozenset[str]
    paginated: bool  # takes per_page/page and answers a list

    def params(self, raw_path: str) -> dict[str, str] | None:
        m = self.regex.fullmatch(raw_path)
        if m is None:
            return None
        return {k: unquote(v) for k, v in m.groupdict().items()}


class QueryArgs(Mapping[str, Any]):
    """The multi-dict openapi-core wants for query parameters (``getlist`` plus mapping access)."""

    def __init__(self, values: Mapping[str, Sequence[str]]) -> None:
        self._values = {k: list(v) for k, v in values.items()}

    def __getitem__(self, key: str) -> str:
        return self._values[key][0]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def getlist(self, key: str) -> list[str]:
        return list(self._values.get(key, []))


class RawRequest:
    """openapi-core ``Request`` + ``SupportsPathPattern`` protocols over a raw HTTP request.

    The path pattern and path parameters come from our own router so that multi-segment parameters
    (``heads/feature/x``) reach the validator intact.
    """

    host_url = SPEC_HOST

    def __init__(
        self,
        method: str,
        path: str,
        *,
        path_pattern: str,
        path_params: Mapping[str, str],
        query: Mapping[str, Sequence[str]],
        headers: Mapping[str, str],
        body: bytes | None,
        content_type: str,
    ) -> None:
        self.method = method.lower()
        self.path = path
        self.path_pattern = path_pattern
        self.body = body
        self.content_type = content_type.lower()
        self.parameters = RequestParameters(
            query=QueryArgs(query),
            header={k.lower(): v for k, v in headers.items()},
            cookie={},
            path=dict(path_params),
        )


@dataclass
class RawResponse:
    """openapi-core ``Response`` protocol over the bytes the fake is about to send."""

    status_code: int
    data: bytes | None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def _describe(error: BaseException, limit: int = 400) -> str:
    """One line per cause, with JSON-schema details (path in the document and message)."""
    parts = [f"{type(error).__name__}: {str(error)[:limit]}"]
    cause = error.__cause__
    while cause is not None:
        schema_errors = getattr(cause, "schema_errors", None)
        if schema_errors:
            for se in schema_errors:
                where = "/".join(str(p) for p in se.absolute_path) or "<root>"
                parts.append(f"at {where}: {se.message[:limit]}")
        else:
            parts.append(f"{type(cause).__name__}: {str(cause)[:limit]}")
        cause = cause.__cause__
    return " | ".join(parts)


def _patch_nullable_enums(node: Any) -> None:
    """Quirk ``nullable-enum``: add ``None`` to enums of nullable schemas (in memory only)."""
    if isinstance(node, dict):
        enum = node.get("enum")
        if node.get("nullable") is True and isinstance(enum, list) and None not in enum:
            enum.append(None)
        for value in node.values():
            _patch_nullable_enums(value)
    elif isinstance(node, list):
        for value in node:
            _patch_nullable_enums(value)


class Spec:
    """The loaded subset; one instance per process (:func:`load_spec`)."""

    def __init__(self, path: Path = SPEC_PATH) -> None:
        with path.open(encoding="utf-8") as fh:
            self.raw: dict[str, Any] = json.load(fh)
        _patch_nullable_enums(self.raw)
        # quirk pull-request-simple-label-description
        simple = self.raw["components"]["schemas"]["pull-request-simple"]["properties"]
        simple["labels"]["items"]["properties"]["description"]["nullable"] = True
        self.operations = self._build_operations()
        self._openapi: OpenAPI | None = None
        self._templates: dict[str, Any] = {}
        self._lock = threading.RLock()

    # --- references and routing -------------------------------------------------------------
    def deref(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.raw
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def _build_operations(self) -> list[Operation]:
        ops = []
        for pattern, item in self.raw["paths"].items():
            for method in METHODS:
                if method not in item:
                    continue
                op = item[method]
                oid = op["operationId"]
                params = [self.deref(p) for p in op.get("parameters", [])]
                multi = {p["name"] for p in params if p.get("x-multi-segment")}
                multi |= {name for o, name in EXTRA_MULTI_SEGMENT if o == oid}
                names = {p["name"] for p in params}
                regex, count = self._compile(pattern, multi)
                ops.append(
                    Operation(
                        operation_id=oid,
                        method=method.upper(),
                        pattern=pattern,
                        regex=regex,
                        param_count=count,
                        responses=frozenset(op["responses"]),
                        paginated="page" in names and method == "get",
                    )
                )
        # Fewer parameters first: the most literal route wins (as in openapi-core's finder).
        ops.sort(key=lambda o: (o.param_count, -len(o.pattern)))
        return ops

    @staticmethod
    def _compile(pattern: str, multi: set[str]) -> tuple[re.Pattern[str], int]:
        out = []
        count = 0
        for piece in re.split(r"(\{[^}]+\})", pattern):
            if piece.startswith("{") and piece.endswith("}"):
                name = piece[1:-1]
                count += 1
                out.append(f"(?P<{name}>.+?)" if name in multi else f"(?P<{name}>[^/]+?)")
            else:
                out.append(re.escape(piece))
        return re.compile("".join(out)), count

    def match(self, method: str, raw_path: str) -> tuple[Operation, dict[str, str]] | None:
        for op in self.operations:
            if op.method != method.upper():
                continue
            params = op.params(raw_path)
            if params is not None:
                return op, params
        return None

    def operation(self, operation_id: str) -> Operation:
        for op in self.operations:
            if op.operation_id == operation_id:
                return op
        raise KeyError(operation_id)

    # --- templates ---------------------------------------------------------------------------
    def schema(self, name: str) -> dict[str, Any]:
        schema: dict[str, Any] = self.raw["components"]["schemas"][name]
        return schema

    def template(self, schema_name: str) -> Any:
        """A fresh deep copy of the schema's example, completed to satisfy the schema."""
        with self._lock:
            if schema_name not in self._templates:
                example_name, where = TEMPLATES[schema_name]
                value = self.deref(self.raw["components"]["examples"][example_name])["value"]
                for key in where:
                    value = value[key]
                self._templates[schema_name] = self.complete(self.schema(schema_name), copy.deepcopy(value))
            return copy.deepcopy(self._templates[schema_name])

    def complete(self, schema: Any, value: Any) -> Any:
        """Fill the required properties ``value`` lacks, recursively (quirk ``incomplete-examples``)."""
        schema = self.deref(schema)
        if not isinstance(schema, dict) or value is None:
            return value
        for combinator in ("allOf", "anyOf", "oneOf"):
            if combinator in schema:
                branches = [self.deref(s) for s in schema[combinator]]
                if combinator == "allOf":
                    for branch in branches:
                        value = self.complete(branch, value)
                else:
                    fitting = [b for b in branches if self._shape_fits(b, value)]
                    if fitting:
                        value = self.complete(fitting[0], value)
        if isinstance(value, dict):
            props = schema.get("properties", {})
            for name in schema.get("required", []):
                if name not in value:
                    value[name] = self.default(props.get(name, {}))
            for name, sub in props.items():
                if name in value:
                    value[name] = self.complete(sub, value[name])
        elif isinstance(value, list) and "items" in schema:
            value = [self.complete(schema["items"], v) for v in value]
        return value

    def _shape_fits(self, schema: dict[str, Any], value: Any) -> bool:
        kind = schema.get("type")
        if kind is None:
            return True
        python_types: dict[str, tuple[type, ...]] = {
            "object": (dict,),
            "array": (list,),
            "string": (str,),
            "integer": (int,),
            "number": (int, float),
            "boolean": (bool,),
        }
        return isinstance(value, python_types.get(kind, (object,)))

    def default(self, schema: Any) -> Any:
        """A value satisfying ``schema``: null when nullable, else its example, enum or a zero."""
        schema = self.deref(schema)
        if schema.get("nullable"):
            return None
        if "example" in schema:
            return self.complete(schema, copy.deepcopy(schema["example"]))
        if schema.get("enum"):
            return schema["enum"][0]
        for combinator in ("allOf", "anyOf", "oneOf"):
            if combinator in schema:
                return self.default(schema[combinator][0])
        kind = schema.get("type", "object")
        if kind == "string":
            return "2011-01-26T19:01:12Z" if schema.get("format") == "date-time" else ""
        if kind in ("integer", "number"):
            return 0
        if kind == "boolean":
            return False
        if kind == "array":
            return []
        return self.complete(schema, {})

    # --- validation --------------------------------------------------------------------------
    @property
    def openapi(self) -> OpenAPI:
        with self._lock:
            if self._openapi is None:
                # The fixture is a valid OpenAPI 3.0.3 document (checked when it was cut); skipping
                # openapi-spec-validator saves seconds per test session.
                self._openapi = OpenAPI.from_dict(self.raw, config=Config(spec_validator_cls=None))
            return self._openapi

    def request_errors(self, request: RawRequest) -> list[str]:
        with self._lock:
            return [_describe(e) for e in self.openapi.iter_request_errors(request)]

    def response_errors(self, request: RawRequest, response: RawResponse) -> list[str]:
        with self._lock:
            return [_describe(e) for e in self.openapi.iter_response_errors(request, response)]

    def error_body_errors(self, status: int, body: Any) -> list[str]:
        """Quirk ``undeclared-errors``: check an error body against GitHub's generic error shapes."""
        name = "validation-error" if status == 422 else "basic-error"
        validator = OAS30Validator(self.schema(name))  # both schemas are self-contained
        return [f"{name}: {e.message[:400]}" for e in validator.iter_errors(body)]


@functools.cache
def load_spec() -> Spec:
    return Spec()
