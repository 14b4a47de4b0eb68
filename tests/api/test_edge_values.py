"""Numbers and dates at the edges (PROTOCOL §2: bad bodies answer 422 with the failing fields).

An integer past 64 bits or a date-time whose UTC form leaves the calendar is the client's mistake:
it gets 422 naming the field, never a 500, and the keep-alive connection stays usable.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api, ApiUser
from tests.support.observe import workspace_state

HUGE = 99999999999999999999999
JUST_PAST_INT64 = 2**63


def board(api: Api) -> tuple[ApiUser, str, dict[str, Any]]:
    owner = api.register("Owner")
    wid = owner.create_workspace()["id"]
    return owner, wid, owner.create_task(wid, "Edge")


def fields_of(response: Any) -> list[str]:
    return [entry["field"] for entry in response.json()["error"]["fields"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": HUGE}, "since"),
        ({"since": JUST_PAST_INT64}, "since"),
        ({"since": -1}, "since"),
        ({"limit": HUGE}, "limit"),
        ({"since": 0, "limit": -HUGE}, "limit"),
    ],
    ids=["since-huge", "since-past-int64", "since-negative", "limit-huge", "limit-huge-negative"],
)
def test_event_paging_numbers_out_of_range_answer_422_naming_the_parameter(
    api: Api, params: dict[str, int], field: str
) -> None:
    owner, wid, _task = board(api)
    response = owner.get(f"/workspaces/{wid}/events", params=params)
    assert response.status_code == 422, response.text
    assert fields_of(response) == [field]
    # The same keep-alive connection still answers.
    assert owner.get(f"/workspaces/{wid}/events", params={"since": 0}).status_code == 200


def test_the_largest_64_bit_since_is_accepted(api: Api) -> None:
    owner, wid, _task = board(api)
    response = owner.get(f"/workspaces/{wid}/events", params={"since": 2**63 - 1})
    assert response.status_code == 200, response.text
    assert response.json()["events"] == []


@pytest.mark.parametrize("version", [HUGE, JUST_PAST_INT64, "1", True, 1.5, "one"], ids=repr)
@pytest.mark.parametrize("endpoint", ["patch", "move"])
def test_base_version_is_a_strict_64_bit_integer(api: Api, endpoint: str, version: Any) -> None:
    owner, wid, task = board(api)
    before = workspace_state(owner, wid)
    if endpoint == "patch":
        response = owner.patch(f"/tasks/{task['id']}", json={"title": "New", "baseVersion": version})
    else:
        response = owner.post(f"/tasks/{task['id']}/move", json={"status": "done", "baseVersion": version})
    assert response.status_code == 422, response.text
    assert fields_of(response) == ["baseVersion"]
    assert workspace_state(owner, wid) == before


@pytest.mark.parametrize("endpoint", ["patch", "move"])
def test_a_base_version_written_as_a_whole_float_is_that_integer(api: Api, endpoint: str) -> None:
    # JSON has one number type, and the OpenAPI schema's "integer" takes 1.0: it is version 1.
    owner, _wid, task = board(api)
    if endpoint == "patch":
        response = owner.patch(f"/tasks/{task['id']}", json={"title": "New", "baseVersion": 1.0})
    else:
        response = owner.post(f"/tasks/{task['id']}/move", json={"status": "done", "baseVersion": 1.0})
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2


@pytest.mark.parametrize(
    "due",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:59:59.999+01:00"],
)
def test_a_due_date_whose_utc_form_leaves_the_calendar_answers_422(api: Api, due: str) -> None:
    owner, wid, task = board(api)
    before = workspace_state(owner, wid)
    created = owner.post(f"/workspaces/{wid}/tasks", json={"title": "T", "dueDate": due})
    edited = owner.patch(f"/tasks/{task['id']}", json={"dueDate": due})
    for response in (created, edited):
        assert response.status_code == 422, response.text
        assert fields_of(response) == ["dueDate"]
    assert workspace_state(owner, wid) == before


@pytest.mark.parametrize(
    ("due", "stored"),
    [
        ("0001-01-01T01:00:00+01:00", "0001-01-01T00:00:00.000Z"),
        ("9999-12-31T22:59:59.999-01:00", "9999-12-31T23:59:59.999Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"),
    ],
)
def test_due_dates_at_the_edges_of_the_calendar_are_kept(api: Api, due: str, stored: str) -> None:
    owner, wid, _task = board(api)
    task = owner.create_task(wid, dueDate=due)
    assert task["dueDate"] == stored
    assert owner.get(f"/tasks/{task['id']}").json()["dueDate"] == stored
