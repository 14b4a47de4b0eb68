"""`/openapi.json` describes every operation for a reader: a summary, a description, an example,
readable parameter names, and the values an output field can take."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.support.servers import RunningServer

# FastAPI's title for a parameter it names itself from an alias: "assigneeId" → "Assigneeid".
UGLY_TITLE = re.compile(r"^[A-Z][a-z]+[a-z]*id$")
# Fields whose values are a closed set; an output schema must list them.
# A task's `status` is not among them: it names one of its workspace's own columns (PROTOCOL §7).
ENUM_FIELDS = ("priority", "role")


@pytest.fixture(scope="module")
def spec(node: RunningServer) -> dict[str, Any]:
    response = httpx.get(f"{node.base_url}/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def operations(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", op) for path, ops in spec["paths"].items() for method, op in ops.items()
    ]


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def has_example(spec: dict[str, Any], content: dict[str, Any]) -> bool:
    for media in content.values():
        if "example" in media or "examples" in media:
            return True
        schema = resolve(spec, media.get("schema", {}))
        if "examples" in schema or "example" in schema:
            return True
    return False


def test_every_operation_has_a_summary_a_description_and_an_example(spec: dict[str, Any]) -> None:
    missing = []
    for name, op in operations(spec):
        if not op.get("summary") or not op.get("description"):
            missing.append(f"{name}: summary or description")
        bodies = [op.get("requestBody", {}).get("content", {})]
        bodies += [
            answer.get("content", {}) for code, answer in op["responses"].items() if code.startswith("2")
        ]
        bodies = [content for content in bodies if content]
        # An operation with no body either way (a DELETE answering 204) has nothing to show.
        if bodies and not any(has_example(spec, content) for content in bodies):
            missing.append(f"{name}: example")
    assert missing == []
    assert not any(op["summary"] in ("Metrics Json", "Me") for _, op in operations(spec))


def test_parameters_have_readable_titles(spec: dict[str, Any]) -> None:
    ugly = [
        f"{name} {parameter['name']}: {parameter['schema'].get('title')}"
        for name, op in operations(spec)
        for parameter in op.get("parameters", [])
        if UGLY_TITLE.match(str(parameter.get("schema", {}).get("title", "")))
    ]
    assert ugly == []


def test_output_priority_and_role_list_their_values(spec: dict[str, Any]) -> None:
    plain = []
    for name, schema in spec["components"]["schemas"].items():
        if not name.endswith("Out"):
            continue
        for field, definition in schema.get("properties", {}).items():
            if field in ENUM_FIELDS and "enum" not in resolve(spec, definition):
                plain.append(f"{name}.{field}")
    assert plain == []
    task = spec["components"]["schemas"]["TaskOut"]["properties"]
    assert resolve(spec, task["priority"])["enum"] == ["low", "medium", "high", "urgent"]
    column = spec["components"]["schemas"]["ColumnOut"]["properties"]
    assert set(column) == {"key", "name", "done"}
