"""Requests the schema fuzzer (test_openapi_fuzz.py) found mishandled, pinned down one by one.

Each answered a 500 or an undeclared status, or the server and its OpenAPI schema disagreed on
what is valid. Bad input gets 422 naming what is wrong, on every backend, and changes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api, ApiUser
from tests.support.observe import workspace_state


def board(api: Api) -> tuple[ApiUser, str, dict[str, Any]]:
    owner = api.register("Owner")
    wid = owner.create_workspace()["id"]
    return owner, wid, owner.create_task(wid, "Fuzzed")


def fields_of(response: Any) -> set[str]:
    return {entry["field"] for entry in response.json()["error"]["fields"]}


# PostgreSQL text cannot hold NUL: these were 500s there (and stored as is on SQLite).
NUL_BODIES: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "task title": ("POST", "/workspaces/{wid}/tasks", {"title": "a\x00b"}, "title"),
    "task description": (
        "POST",
        "/workspaces/{wid}/tasks",
        {"title": "T", "description": "\x00"},
        "description",
    ),
    "edited title": ("PATCH", "/tasks/{tid}", {"title": "\x06\x00#"}, "title"),
    "assignee": ("PATCH", "/tasks/{tid}", {"assigneeId": "\x00"}, "assigneeId"),
    "neighbour": ("POST", "/tasks/{tid}/move", {"status": "todo", "beforeId": "x\x00"}, "beforeId"),
    "workspace name": ("PATCH", "/workspaces/{wid}", {"name": "Board\x00"}, "name"),
    "workspace description": ("PATCH", "/workspaces/{wid}", {"description": "\x00"}, "description"),
}


@pytest.mark.parametrize("case", list(NUL_BODIES))
def test_a_nul_character_in_stored_or_looked_up_text_answers_422(api: Api, case: str) -> None:
    method, path, body, field = NUL_BODIES[case]
    owner, wid, task = board(api)
    before = workspace_state(owner, wid)
    response = owner.request(method, path.format(wid=wid, tid=task["id"]), json=body)
    assert response.status_code == 422, response.text
    assert fields_of(response) == {field}
    assert workspace_state(owner, wid) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/workspaces/a%00b"),
        ("GET", "/workspaces/a%00b/tasks"),
        ("GET", "/tasks/a%00b"),
        ("DELETE", "/tasks/a%00b"),
        ("DELETE", "/workspaces/{wid}/members/a%00b"),
        ("GET", "/workspaces/{wid}/tasks?assigneeId=a%00b"),
    ],
)
def test_a_nul_character_in_an_id_of_the_path_or_query_answers_422(api: Api, method: str, path: str) -> None:
    owner, wid, _task = board(api)
    before = workspace_state(owner, wid)
    response = owner.request(method, path.format(wid=wid))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert workspace_state(owner, wid) == before


def test_a_nul_character_in_a_name_at_registration_answers_422(api: Api) -> None:
    response = api.http.post(
        "/auth/register", json={"email": "nul@example.test", "password": "long enough", "name": "N\x00"}
    )
    assert response.status_code == 422, response.text
    assert fields_of(response) == {"name"}


UNREADABLE_BODIES = {
    "not UTF-8": b"\x7f#D\xff",
    "a broken UTF-8 sequence": b"\xc3\x28",
    "not UTF-8 inside a string": b'{"name": "\xff"}',
    "nested too deep": b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "a number of 5000 digits": b'{"name": ' + b"9" * 5000 + b"}",
}


@pytest.mark.parametrize("body", list(UNREADABLE_BODIES.values()), ids=list(UNREADABLE_BODIES))
def test_a_body_json_cannot_read_answers_422_like_malformed_json(api: Api, body: bytes) -> None:
    # Was 400 "There was an error parsing the body", a status the API never declares.
    owner, wid, _task = board(api)
    before = workspace_state(owner, wid)
    response = owner.patch(f"/workspaces/{wid}", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert fields_of(response) == {"body"}
    assert workspace_state(owner, wid) == before


@pytest.mark.parametrize(
    "email",
    ["a\x11b@example.test", "ab@exa\x85mple.test", "ab@example.te\ufeffst", "a\u2028b@example.test"],
    ids=repr,
)
def test_an_email_with_a_control_or_space_character_inside_answers_422(api: Api, email: str) -> None:
    # The schema's pattern and the server's disagreed on what `\s` covers; both now refuse these.
    response = api.http.post("/auth/register", json={"email": email, "password": "long enough", "name": "N"})
    assert response.status_code == 422, response.text
    assert fields_of(response) == {"email"}


def test_a_conflict_names_its_fields_in_the_shape_of_every_other_error(api: Api) -> None:
    owner, _wid, task = board(api)
    assert owner.patch(f"/tasks/{task['id']}", json={"title": "Theirs"}).status_code == 200
    response = owner.patch(f"/tasks/{task['id']}", json={"title": "Mine", "baseVersion": task["version"]})
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "CONFLICT"
    assert [entry["field"] for entry in error["fields"]] == ["title"]
    assert all(isinstance(entry["message"], str) for entry in error["fields"])
    assert error["current"]["title"] == "Theirs"
