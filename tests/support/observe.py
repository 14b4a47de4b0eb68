"""Reading a workspace back as one of its members: what tests compare before and after an action."""

from __future__ import annotations

from typing import Any

from tests.support.api import ApiUser


def events_of(user: ApiUser, workspace_id: str, since: int = 0) -> list[dict[str, Any]]:
    """Every retained event after `since`, following `hasMore` across pages."""
    events: list[dict[str, Any]] = []
    while True:
        response = user.get(f"/workspaces/{workspace_id}/events", params={"since": since, "limit": 1000})
        assert response.status_code == 200, response.text
        page = response.json()
        events.extend(page["events"])
        if not page["hasMore"]:
            return events
        since = events[-1]["seq"]


def tasks_of(user: ApiUser, workspace_id: str, **filters: Any) -> list[dict[str, Any]]:
    """Every task (matching the filters), following `nextCursor` across pages."""
    tasks: list[dict[str, Any]] = []
    params = dict(filters)
    while True:
        response = user.get(f"/workspaces/{workspace_id}/tasks", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        tasks.extend(page["items"])
        if page["nextCursor"] is None:
            return tasks
        params["cursor"] = page["nextCursor"]


def members_of(user: ApiUser, workspace_id: str) -> list[dict[str, Any]]:
    response = user.get(f"/workspaces/{workspace_id}/members")
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def latest_seq(user: ApiUser, workspace_id: str) -> int:
    response = user.get(f"/workspaces/{workspace_id}/events", params={"since": 0, "limit": 1})
    assert response.status_code == 200, response.text
    return int(response.json()["latestSeq"])


def workspace_state(user: ApiUser, workspace_id: str) -> dict[str, Any]:
    """Everything a member can read about a workspace; equal before and after means nothing changed."""
    workspace = user.get(f"/workspaces/{workspace_id}")
    assert workspace.status_code == 200, workspace.text
    return {
        "workspace": workspace.json(),
        "members": members_of(user, workspace_id),
        "tasks": tasks_of(user, workspace_id),
        "events": events_of(user, workspace_id),
    }
