"""Labels, filters and full-text search of the task list (PROTOCOL §7), on both backends."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api, ApiUser
from tests.support.bulk import insert_tasks
from tests.support.observe import events_of, tasks_of, workspace_state
from tests.support.servers import RunningServer


def board(api: Api) -> tuple[ApiUser, str]:
    owner = api.register("Owner")
    return owner, owner.create_workspace("Labels")["id"]


def ids(tasks: list[dict[str, Any]]) -> list[str]:
    return [task["id"] for task in tasks]


def listing(user: ApiUser, workspace_id: str, **params: Any) -> list[str]:
    return ids(tasks_of(user, workspace_id, **params))


# --- labels -------------------------------------------------------------------------------------


def test_labels_are_trimmed_deduplicated_in_order_and_shown_everywhere(api: Api) -> None:
    owner, workspace_id = board(api)
    task = owner.create_task(workspace_id, "Ship", labels=[" launch ", "docs", "launch", "Docs"])
    assert task["labels"] == ["launch", "docs", "Docs"]
    plain = owner.create_task(workspace_id, "No labels")
    assert plain["labels"] == []
    assert owner.get(f"/tasks/{task['id']}").json()["labels"] == ["launch", "docs", "Docs"]

    response = owner.patch(f"/tasks/{task['id']}", json={"labels": ["urgent", "launch"]})
    assert response.status_code == 200, response.text
    assert response.json()["labels"] == ["urgent", "launch"]
    assert response.json()["version"] == task["version"] + 1

    events = events_of(owner, workspace_id)
    created = [e for e in events if e["type"] == "TASK_CREATED" and e["data"]["task"]["id"] == task["id"]]
    assert created[0]["data"]["task"]["labels"] == ["launch", "docs", "Docs"]
    updated = [e for e in events if e["type"] == "TASK_UPDATED"]
    assert updated[-1]["data"]["changes"] == ["labels"]
    assert updated[-1]["data"]["task"]["labels"] == ["urgent", "launch"]

    snapshot = owner.get(f"/workspaces/{workspace_id}/snapshot").json()
    by_id = {t["id"]: t for t in snapshot["tasks"]}
    assert by_id[task["id"]]["labels"] == ["urgent", "launch"]
    assert by_id[plain["id"]]["labels"] == []

    # [] clears them; the same list again changes nothing (no new version).
    cleared = owner.patch(f"/tasks/{task['id']}", json={"labels": []}).json()
    assert cleared["labels"] == []
    again = owner.patch(f"/tasks/{task['id']}", json={"labels": []}).json()
    assert again["version"] == cleared["version"]


@pytest.mark.parametrize(
    "labels",
    [
        [""],
        ["   "],
        ["x" * 41],
        ["a\x00b"],
        [f"l{n}" for n in range(21)],
        "launch",
        [1],
        None,
    ],
)
def test_a_bad_label_list_is_422_and_changes_nothing(api: Api, labels: Any) -> None:
    owner, workspace_id = board(api)
    task = owner.create_task(workspace_id, "Keep", labels=["keep"])
    before = workspace_state(owner, workspace_id)

    created = owner.post(f"/workspaces/{workspace_id}/tasks", json={"title": "New", "labels": labels})
    patched = owner.patch(f"/tasks/{task['id']}", json={"labels": labels, "title": "Changed"})
    for response in (created, patched):
        assert response.status_code == 422, response.text
        fields = [f["field"] for f in response.json()["error"]["fields"]]
        assert any(field.startswith("labels") for field in fields), fields
    assert workspace_state(owner, workspace_id) == before


def test_forty_characters_and_twenty_labels_are_the_limits(api: Api) -> None:
    owner, workspace_id = board(api)
    labels = ["x" * 40] + [f"l{n}" for n in range(19)]
    assert owner.create_task(workspace_id, "Full", labels=labels)["labels"] == labels
    # 21 given with a duplicate: the bound is on what is sent.
    response = owner.post(f"/workspaces/{workspace_id}/tasks", json={"title": "x", "labels": [*labels, "l0"]})
    assert response.status_code == 422


def test_labels_take_part_in_the_base_version_merge(api: Api) -> None:
    owner, workspace_id = board(api)
    task = owner.create_task(workspace_id, "Merge", labels=["a"])
    base = task["version"]
    assert owner.patch(f"/tasks/{task['id']}", json={"labels": ["b"], "baseVersion": base}).status_code == 200
    # Someone else's title edit from the same base merges: a different field.
    merged = owner.patch(f"/tasks/{task['id']}", json={"title": "Merged", "baseVersion": base})
    assert merged.status_code == 200, merged.text
    assert merged.json()["labels"] == ["b"]
    # A labels edit from the old base clashes with the labels change made since.
    clash = owner.patch(f"/tasks/{task['id']}", json={"labels": ["c"], "baseVersion": base})
    assert clash.status_code == 409, clash.text
    assert clash.json()["error"]["current"]["labels"] == ["b"]
    assert [f["field"] for f in clash.json()["error"]["fields"]] == ["labels"]


# --- filters ------------------------------------------------------------------------------------


def test_label_priority_and_due_filters(api: Api) -> None:
    owner, workspace_id = board(api)
    bug = owner.create_task(
        workspace_id, "Bug", labels=["bug", "ui"], priority="high", dueDate="2026-12-01T10:00:00Z"
    )
    feature = owner.create_task(
        workspace_id, "Feature", labels=["feature"], priority="low", dueDate="2026-12-10T10:00:00Z"
    )
    both = owner.create_task(workspace_id, "Both", labels=["feature", "bug"], priority="high")
    # Not a substring or a case variant: `bu` and `Bug` are other labels.
    owner.create_task(workspace_id, "Near", labels=["Bug", "bugs"])

    assert listing(owner, workspace_id, label="bug") == [bug["id"], both["id"]]
    assert listing(owner, workspace_id, label=" feature ") == [feature["id"], both["id"]]
    assert listing(owner, workspace_id, label="bu") == []
    assert listing(owner, workspace_id, priority="high") == [bug["id"], both["id"]]
    assert listing(owner, workspace_id, priority="high", label="ui") == [bug["id"]]
    # dueBefore is strict, dueAfter inclusive; a task with no due date matches neither.
    assert listing(owner, workspace_id, dueBefore="2026-12-10T10:00:00Z") == [bug["id"]]
    assert listing(owner, workspace_id, dueAfter="2026-12-01T10:00:00Z") == [bug["id"], feature["id"]]
    assert listing(owner, workspace_id, dueAfter="2026-12-01T10:00:01Z") == [feature["id"]]
    # An offset is honoured: 11:00+01:00 is 10:00Z.
    assert listing(owner, workspace_id, dueBefore="2026-12-01T11:00:00.001+01:00") == [bug["id"]]
    assert listing(
        owner, workspace_id, dueAfter="2026-11-30T00:00:00Z", dueBefore="2026-12-05T00:00:00Z"
    ) == [bug["id"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"priority": "extreme"}, "priority"),
        ({"dueBefore": "tomorrow"}, "dueBefore"),
        ({"dueAfter": "2026-13-01T00:00:00Z"}, "dueAfter"),
        ({"label": ""}, "label"),
        ({"label": "x" * 41}, "label"),
        ({"q": ""}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"q": "plan", "cursor": "bm90IGEgY3Vyc29y"}, "cursor"),
        ({"labels": "bug"}, "labels"),
        ({"search": "plan"}, "search"),
        ({"Q": "plan"}, "Q"),
    ],
)
def test_bad_or_unknown_parameters_are_422_naming_them(api: Api, params: dict[str, str], field: str) -> None:
    owner, workspace_id = board(api)
    owner.create_task(workspace_id, "Plan")
    response = owner.get(f"/workspaces/{workspace_id}/tasks", params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in [f["field"] for f in error["fields"]], error


def test_unknown_parameters_of_the_log_and_snapshot_are_422_too(api: Api) -> None:
    owner, workspace_id = board(api)
    for path in ("events", "snapshot"):
        response = owner.get(f"/workspaces/{workspace_id}/{path}", params={"sinse": "0"})
        assert response.status_code == 422, response.text
        assert [f["field"] for f in response.json()["error"]["fields"]] == ["sinse"]
    assert owner.get(f"/workspaces/{workspace_id}/events", params={"since": "0"}).status_code == 200


def test_a_board_cursor_does_not_page_a_search_nor_the_other_way(api: Api) -> None:
    owner, workspace_id = board(api)
    for n in range(3):
        owner.create_task(workspace_id, f"Plan {n}")
    board_page = owner.get(f"/workspaces/{workspace_id}/tasks", params={"limit": 1}).json()
    search_page = owner.get(f"/workspaces/{workspace_id}/tasks", params={"limit": 1, "q": "plan"}).json()
    mixed = [
        {"q": "plan", "cursor": board_page["nextCursor"]},
        {"cursor": search_page["nextCursor"]},
    ]
    for params in mixed:
        response = owner.get(f"/workspaces/{workspace_id}/tasks", params=params)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["fields"][0]["field"] == "cursor"


# --- search -------------------------------------------------------------------------------------


def test_a_title_match_ranks_above_a_description_only_match(api: Api) -> None:
    owner, workspace_id = board(api)
    in_description = owner.create_task(
        workspace_id, "Quarterly numbers", description="Budget budget budget, the budget review"
    )
    in_title = owner.create_task(workspace_id, "Budget review", description="For finance")
    owner.create_task(workspace_id, "Unrelated", description="Nothing here")
    found = listing(owner, workspace_id, q="budget")
    assert found == [in_title["id"], in_description["id"]]
    # Case does not matter; every word must match, in either field.
    assert listing(owner, workspace_id, q="BUDGET Review") == [in_title["id"], in_description["id"]]
    assert listing(owner, workspace_id, q="budget finance") == [in_title["id"]]
    assert listing(owner, workspace_id, q="budget missing") == []


def test_search_matches_words_not_substrings(api: Api) -> None:
    owner, workspace_id = board(api)
    word = owner.create_task(workspace_id, "Fix the cat flap")
    owner.create_task(workspace_id, "Catalogue the concatenated files")
    assert listing(owner, workspace_id, q="cat") == [word["id"]]
    assert listing(owner, workspace_id, q="ca") == []
    # Punctuation separates words, in the query and in the text.
    dashed = owner.create_task(workspace_id, "Send the e-mail", description="re: launch; (draft)")
    assert listing(owner, workspace_id, q="mail") == [dashed["id"]]
    assert listing(owner, workspace_id, q="launch, draft!") == [dashed["id"]]
    # No word at all finds nothing (and is no error).
    assert listing(owner, workspace_id, q="!!! ...") == []
    # Text that looks like query syntax is only words.
    assert listing(owner, workspace_id, q='"cat" OR NOT flap*') == []
    assert listing(owner, workspace_id, q="cat AND flap") == []


def test_search_follows_edits_and_deletes(api: Api) -> None:
    owner, workspace_id = board(api)
    task = owner.create_task(workspace_id, "Old wording")
    assert listing(owner, workspace_id, q="wording") == [task["id"]]
    owner.patch(f"/tasks/{task['id']}", json={"title": "New phrasing", "description": "Some wording"})
    assert listing(owner, workspace_id, q="phrasing") == [task["id"]]
    assert listing(owner, workspace_id, q="old") == []
    assert listing(owner, workspace_id, q="wording") == [task["id"]]
    owner.patch(f"/tasks/{task['id']}", json={"description": None})
    assert listing(owner, workspace_id, q="wording") == []
    assert owner.delete(f"/tasks/{task['id']}").status_code == 204
    assert listing(owner, workspace_id, q="phrasing") == []


def test_search_combines_with_filters(api: Api) -> None:
    owner, workspace_id = board(api)
    other = api.register("Other")
    owner.add_member(workspace_id, other)
    high = owner.create_task(workspace_id, "Deploy api", labels=["ops"], priority="high")
    owner.create_task(workspace_id, "Deploy web", labels=["web"], priority="low", assigneeId=other.id)
    done = owner.create_task(workspace_id, "Deploy docs", labels=["ops"], status="done")
    assert listing(owner, workspace_id, q="deploy", label="ops", priority="high") == [high["id"]]
    assert listing(owner, workspace_id, q="deploy", completed="true") == [done["id"]]
    assert listing(owner, workspace_id, q="deploy", status="done") == [done["id"]]
    assert len(listing(owner, workspace_id, q="deploy", assigneeId=other.id)) == 1
    assert listing(owner, workspace_id, q="deploy", label="web", priority="high") == []


def test_paging_a_search_gives_every_match_once_best_first(api: Api) -> None:
    owner, workspace_id = board(api)
    expected_title: list[str] = []
    expected_description: list[str] = []
    for n in range(23):
        expected_title.append(owner.create_task(workspace_id, f"Report {n}")["id"])
        expected_description.append(
            owner.create_task(workspace_id, f"Item {n}", description="see the report")["id"]
        )
        owner.create_task(workspace_id, f"Noise {n}")
    for limit in (1, 5, 10, 46):
        pages: list[list[str]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"q": "report", "limit": limit}
            if cursor is not None:
                params["cursor"] = cursor
            response = owner.get(f"/workspaces/{workspace_id}/tasks", params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            pages.append(ids(body["items"]))
            cursor = body["nextCursor"]
            if cursor is None:
                break
        found = [task_id for page in pages for task_id in page]
        assert len(found) == len(set(found)) == 46
        # Title matches first (ties in id order), then the description-only ones.
        assert found[:23] == sorted(expected_title)
        assert found[23:] == sorted(expected_description)
        assert all(len(page) == limit for page in pages[:-1])


def test_a_search_never_returns_another_workspaces_tasks(api: Api) -> None:
    owner, workspace_id = board(api)
    stranger, elsewhere = board(api)
    mine = owner.create_task(workspace_id, "Secret plan", labels=["secret"])
    stranger.create_task(elsewhere, "Secret plan", labels=["secret"])
    assert listing(owner, workspace_id, q="secret plan") == [mine["id"]]
    assert listing(owner, workspace_id, label="secret") == [mine["id"]]
    # The stranger cannot search this workspace at all: it does not exist for them.
    response = stranger.get(f"/workspaces/{workspace_id}/tasks", params={"q": "secret"})
    assert response.status_code == 404


def test_due_bounds_beyond_the_calendar_filter_like_the_nearest_time(api: Api) -> None:
    owner, workspace_id = board(api)
    due = owner.create_task(workspace_id, "Due", dueDate="2026-12-01T10:00:00Z")
    # Their UTC forms lie before year 1 and after year 9999.
    early, late = "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"
    assert listing(owner, workspace_id, dueBefore=early) == []
    assert listing(owner, workspace_id, dueAfter=early) == [due["id"]]
    assert listing(owner, workspace_id, dueBefore=late) == [due["id"]]
    assert listing(owner, workspace_id, dueAfter=late) == []


def test_tasks_written_outside_the_services_are_found_too(node: RunningServer, api: Api) -> None:
    """Rows written straight into the database (an import, a migration) are indexed as well:
    triggers on SQLite, a generated column on PostgreSQL."""
    owner, workspace_id = board(api)
    rows = [{"status": "todo", "position": "a0", "title": "Imported ledger", "description": "from csv"}]
    (task_id,) = insert_tasks(node, workspace_id, owner.id, rows)
    assert listing(owner, workspace_id, q="ledger") == [task_id]
    assert listing(owner, workspace_id, q="csv") == [task_id]
    assert tasks_of(owner, workspace_id)[0]["labels"] == []
