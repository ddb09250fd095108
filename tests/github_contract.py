"""GitHub's REST contract, held against what the fake GitHub receives and answers.

The operations the fake serves are cut from GitHub's official OpenAPI 3.0 descriptions
(``tests/fixtures/github-openapi``, see its README). ``violations`` checks each recorded
exchange: the request matches a documented method and path, its path and query parameters and
its JSON body validate; the answer's status is documented for the operation (or is one GitHub
may give any request: 401 bad credentials, 403 forbidden or rate limited) and its body validates
against the documented schema, ``required`` fields included. Answers the test injected as faults
(``FakeGitHub.fail``) are off the contract by design and are skipped.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator

from bot.demo.fake_github.state import Recorded

FIXTURES = Path(__file__).parent / "fixtures" / "github-openapi"
DESCRIPTIONS = {
    "api.github.com": "api.github.com.ops.json.gz",
    "ghes-3.19": "ghes-3.19.ops.json.gz",
}
# github.com pages (not the REST API) the fake serves too: the OAuth web flow and the manifest.
WEB_PATHS = re.compile(
    r"/login/oauth/(authorize|access_token)|(/organizations/[^/]+)?/settings/apps/new"
)
# Statuses GitHub may give any request, documented apart from the operations ("Troubleshooting
# the REST API"): 401 bad credentials; 403 forbidden or rate limited, 429 rate limited; 404 for a
# resource that is gone or hidden from the caller (e.g. a comment deleted meanwhile).
ANY_OPERATION = (401, 403, 404, 429)
BASIC_ERROR = {"$ref": "#/components/schemas/basic-error"}
_ANNOTATIONS = ("example", "examples", "externalDocs", "discriminator", "readOnly", "writeOnly")


def load(name: str) -> dict[str, Any]:
    """The cut description ``name`` (a key of DESCRIPTIONS)."""
    with gzip.open(FIXTURES / DESCRIPTIONS[name], "rt", encoding="utf-8") as handle:
        return json.load(handle)


def json_schema(node: Any, in_map: bool = False) -> Any:
    """OpenAPI 3.0's schema dialect as JSON Schema draft 4: ``nullable`` becomes a null type."""
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    if in_map:  # the names under ``properties`` are data, not keywords
        return {key: json_schema(value) for key, value in node.items()}
    schema = {
        key: json_schema(value, in_map=key == "properties")
        for key, value in node.items()
        if key not in _ANNOTATIONS and key != "nullable"
    }
    if not node.get("nullable"):
        return schema
    if "type" in schema:
        schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        return schema
    return {"anyOf": [{"type": "null"}, schema]}


class Contract:
    """One description's operations, to match requests and validate exchanges against."""

    def __init__(self, description: dict[str, Any]) -> None:
        self.name = description["info"].get("x-github-plan", "")
        self.raw = description["components"]
        self.components = {"schemas": json_schema(self.raw["schemas"], in_map=True)}
        self.paths = description["paths"]
        self.routes = sorted(
            ((_template_pattern(path), path) for path in self.paths),
            key=lambda route: route[1].count("{"),  # literal segments win over parameters
        )
        self._validators: dict[str, Draft4Validator] = {}

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        """The documented (path template, operation) ``method path`` is, or None."""
        for pattern, template in self.routes:
            if pattern.fullmatch(path) and method.lower() in self.paths[template]:
                return template, self.paths[template][method.lower()]
        return None

    def violations(self, record: Recorded) -> list[str]:
        """What in ``record`` (request and answer) GitHub's description does not allow."""
        where = f"{self.name}: {record.method} {record.path}"
        found = self.operation(record.method, record.path)
        if found is None:
            return [f"{where}: no such operation"]
        template, operation = found
        problems = self._request_problems(template, operation, record)
        problems += self._response_problems(operation, record)
        return [f"{where} -> {record.status}: {problem}" for problem in problems]

    def _request_problems(self, template: str, operation: dict, record: Recorded) -> list[str]:
        parameters = [self._resolve(p) for p in operation.get("parameters", [])]
        given_path = _template_pattern(template).fullmatch(record.path)
        assert given_path is not None
        values = {("path", k): v for k, v in given_path.groupdict().items()}
        values.update({("query", k): v for k, v in record.query.items()})
        documented = {(p["in"], p["name"]) for p in parameters}
        problems = [
            f"undocumented {w} parameter {k!r}" for w, k in values if (w, k) not in documented
        ]
        for parameter in parameters:
            key = (parameter["in"], parameter["name"])
            if key not in values:
                if parameter.get("required"):
                    problems.append(f"missing {parameter['in']} parameter {parameter['name']!r}")
                continue
            value = _coerce(values[key], parameter.get("schema", {}))
            problems += self._schema_problems(
                parameter.get("schema", {}), value, f"parameter {parameter['name']!r}"
            )
        body = operation.get("requestBody")
        if body is not None:
            body = self._resolve(body)
            schema = body.get("content", {}).get("application/json", {}).get("schema")
            if record.body is None and body.get("required"):
                problems.append("missing request body")
            elif record.body is not None and schema is not None:
                problems += self._schema_problems(schema, record.body, "request body")
        return problems

    def _response_problems(self, operation: dict, record: Recorded) -> list[str]:
        documented = operation.get("responses", {})
        answer = documented.get(str(record.status))
        if answer is None:
            if record.status not in ANY_OPERATION:
                return [f"status {record.status} is not documented ({', '.join(documented)})"]
            return self._schema_problems(BASIC_ERROR, record.response, "error body")
        content = self._resolve(answer).get("content")
        if not content:
            return [] if record.response in (None, {}) else ["a body where none is documented"]
        media = content.get("application/json") or next(iter(content.values()))
        return self._schema_problems(media.get("schema", {}), record.response, "response")

    def _schema_problems(self, schema: dict[str, Any], value: Any, what: str) -> list[str]:
        validator = self._validator(json_schema(schema))
        return [
            f"{what}{''.join(f'[{p!r}]' for p in error.absolute_path)}: {error.message[:200]}"
            for error in validator.iter_errors(value)
        ]

    def _validator(self, schema: dict[str, Any]) -> Draft4Validator:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._validators:
            root = {"components": self.components, "allOf": [schema]}
            self._validators[key] = Draft4Validator(root)
        return self._validators[key]

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        """``node`` itself, or the component its ``$ref`` names."""
        while "$ref" in node:
            _, kind, name = node["$ref"].removeprefix("#/").split("/")
            node = self.raw[kind][name]
        return node


def _template_pattern(template: str) -> re.Pattern[str]:
    """A path template as a regex: ``{path}`` spans slashes (contents), other names do not."""
    parts = re.split(r"\{(\w+)\}", template)
    pattern = ""
    for i, part in enumerate(parts):
        if i % 2 == 0:
            pattern += re.escape(part)
        else:
            pattern += f"(?P<{part}>.+)" if part == "path" else f"(?P<{part}>[^/]+)"
    return re.compile(pattern)


def _coerce(value: str, schema: dict[str, Any]) -> Any:
    """A query or path string as the type its schema names, when it reads as one."""
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


@cache
def contract(name: str) -> Contract:
    return Contract(load(name))


def violations(records: Iterable[Recorded], names: Iterable[str] = DESCRIPTIONS) -> list[str]:
    """Every contract violation in ``records``: the REST ones answered, not by a fault."""
    found = []
    for record in records:
        if record.fault or not record.status or WEB_PATHS.fullmatch(record.path):
            continue
        for name in names:
            found += contract(name).violations(record)
    return found
