"""The task list a page at a time: `limit`, an opaque `cursor`, board order, each task once (PROTOCOL §2)."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.api import Api, ApiUser
from tests.support.bulk import column_keys, insert_tasks
from tests.support.observe import workspace_state
from tests.support.servers import RunningServer

COLUMNS = ("todo", "in_progress", "done")
RANK = {status: rank for rank, status in enumerate(COLUMNS)}


@dataclass
class BigBoard:
    owner: ApiUser
    viewer: ApiUser
    workspace_id: str
    # Every task as inserted: id, status, position, assigneeId, completed.
    rows: list[dict[str, Any]]

    def expected(self, **match: Any) -> list[str]:
        """Ids of the matching tasks in board order: column, then position byte by byte, then id."""
        chosen = [r for r in self.rows if all(r[k] == v for k, v in match.items())]
        chosen.sort(key=lambda r: (RANK[r["status"]], r["position"].encode(), r["id"]))
        return [r["id"] for r in chosen]


@pytest.fixture(scope="module")
def big_board(node: RunningServer) -> Iterator[BigBoard]:
    """3,000 tasks over the three columns (1,400 / 800 / 800), inserted in random order, with
    repeated positions and keys that mix digits, capitals and small letters (byte order differs
    from a linguistic one), some assigned to the viewer and some completed outside "done"."""
    api = Api(node.api)
    owner = api.register("Owner")
    viewer = api.register("Viewer")
    workspace_id = owner.create_workspace("Big")["id"]
    owner.add_member(workspace_id, viewer, "viewer")
    picker = random.Random(14)
    rows: list[dict[str, Any]] = []
    for status, count in zip(COLUMNS, (1400, 800, 800), strict=True):
        for index, position in enumerate(column_keys(count, ties_every=7)):
            rows.append(
                {
                    "status": status,
                    "position": position,
                    "title": f"{status} {index}",
                    "assigneeId": viewer.id if index % 3 == 0 else None,
                    "completed": status == "done" or index % 5 == 0,
                }
            )
    picker.shuffle(rows)
    for row, task_id in zip(rows, insert_tasks(node, workspace_id, owner.id, rows), strict=True):
        row["id"] = task_id
    yield BigBoard(owner, viewer, workspace_id, rows)
    api.close()


def page_through(user: ApiUser, workspace_id: str, **params: Any) -> tuple[list[str], list[int]]:
    """Every page from the first: the ids in the order received, and the size of each page."""
    ids: list[str] = []
    sizes: list[int] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor is not None else {})}
        response = user.get(f"/workspaces/{workspace_id}/tasks", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "nextCursor"}
        ids.extend(task["id"] for task in body["items"])
        sizes.append(len(body["items"]))
        cursor = body["nextCursor"]
        if cursor is None:
            return ids, sizes
        assert len(sizes) < 1000, "the cursor does not move forward"


def test_the_first_page_holds_200_tasks_by_default_and_says_where_to_go_on(big_board: BigBoard) -> None:
    response = big_board.viewer.get(f"/workspaces/{big_board.workspace_id}/tasks")
    assert response.status_code == 200
    body = response.json()
    assert [t["id"] for t in body["items"]] == big_board.expected()[:200]
    assert isinstance(body["nextCursor"], str) and body["nextCursor"]


@pytest.mark.parametrize("limit", [500, 137])
def test_paging_through_thousands_of_tasks_gives_each_once_in_board_order(
    big_board: BigBoard, limit: int
) -> None:
    ids, sizes = page_through(big_board.viewer, big_board.workspace_id, limit=limit)
    assert len(ids) == len(set(ids)) == 3000
    assert ids == big_board.expected()
    # Full pages but the last, which is not empty: null comes with the last tasks, not after them.
    assert all(size == limit for size in sizes[:-1])
    assert 0 < sizes[-1] <= limit
    assert len(sizes) == -(-3000 // limit)


def test_a_page_of_exactly_the_rest_is_the_last(big_board: BigBoard) -> None:
    _, sizes = page_through(big_board.viewer, big_board.workspace_id, limit=500)
    assert sizes == [500] * 6


@pytest.mark.parametrize(
    "filters",
    [
        {"status": "in_progress"},
        {"completed": "true"},
        {"completed": "false", "status": "todo"},
        {"assigneeId": "viewer"},
        {"assigneeId": "viewer", "completed": "true"},
        {"assigneeId": "viewer", "completed": "false", "status": "todo"},
    ],
)
def test_filters_hold_on_every_page(big_board: BigBoard, filters: dict[str, str]) -> None:
    params = {k: big_board.viewer.id if v == "viewer" else v for k, v in filters.items()}
    match: dict[str, Any] = {}
    for name, value in params.items():
        match[name] = value == "true" if name == "completed" else value
    expected = big_board.expected(**match)
    assert len(expected) > 100
    ids, sizes = page_through(big_board.viewer, big_board.workspace_id, limit=97, **params)
    assert ids == expected
    assert len(sizes) > 1


def test_a_filter_that_matches_nothing_is_one_empty_last_page(api: Api) -> None:
    owner = api.register("Owner")
    workspace_id = owner.create_workspace()["id"]
    owner.create_task(workspace_id, "Only in todo")
    response = owner.get(f"/workspaces/{workspace_id}/tasks", params={"status": "done"})
    assert response.json() == {"items": [], "nextCursor": None}


@pytest.mark.parametrize("limit", ["501", "0", "-1", "1000000", "ten", "2.5"])
def test_a_limit_out_of_range_is_422_naming_limit(big_board: BigBoard, limit: str) -> None:
    response = big_board.viewer.get(f"/workspaces/{big_board.workspace_id}/tasks", params={"limit": limit})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert [f["field"] for f in error["fields"]] == ["limit"]


@pytest.mark.parametrize("limit", [1, 500])
def test_the_bounds_of_limit_are_accepted(big_board: BigBoard, limit: int) -> None:
    response = big_board.viewer.get(f"/workspaces/{big_board.workspace_id}/tasks", params={"limit": limit})
    assert response.status_code == 200
    assert len(response.json()["items"]) == limit


def _b64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


BAD_CURSORS = [
    "",
    "not a cursor!",
    "%%%",
    "eyJ",  # a cut-off base64 string
    _b64(b"\xff\xfe not utf-8"),
    _b64(b"not json"),
    _b64(b"[1, 2, 3]"),
    _b64(json.dumps({"s": "todo", "p": "a0"}).encode()),  # a field missing
    _b64(json.dumps({"s": "todo", "p": "a0", "i": "x", "extra": 1}).encode()),
    _b64(json.dumps({"s": "archived", "p": "a0", "i": "x"}).encode()),  # no such column
    _b64(json.dumps({"s": "todo", "p": 5, "i": "x"}).encode()),
    _b64(json.dumps({"s": "todo", "p": "", "i": "x"}).encode()),
    _b64(json.dumps({"s": "todo", "p": "a0", "i": None}).encode()),
    _b64(json.dumps({"s": "todo", "p": "a\u0000", "i": "x"}).encode()),
    "A" * 5000,  # longer than any cursor handed out
]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
def test_a_bad_cursor_is_422_naming_cursor_and_changes_nothing(api: Api, cursor: str) -> None:
    owner = api.register("Owner")
    workspace_id = owner.create_workspace()["id"]
    owner.create_task(workspace_id, "One")
    before = workspace_state(owner, workspace_id)
    response = owner.get(f"/workspaces/{workspace_id}/tasks", params={"cursor": cursor})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert [f["field"] for f in error["fields"]] == ["cursor"]
    assert "cursor" in error["message"]
    assert workspace_state(owner, workspace_id) == before


def test_a_cursor_opens_no_other_workspace(big_board: BigBoard, api: Api) -> None:
    first = big_board.viewer.get(f"/workspaces/{big_board.workspace_id}/tasks", params={"limit": 5}).json()
    stranger = api.register("Stranger")
    response = stranger.get(
        f"/workspaces/{big_board.workspace_id}/tasks", params={"cursor": first["nextCursor"]}
    )
    assert response.status_code == 404
    # On another workspace the key is only a place in the order: it shows that workspace's tasks.
    own = stranger.create_workspace()["id"]
    late = stranger.create_task(own, "Late", status="done")
    page = stranger.get(f"/workspaces/{own}/tasks", params={"cursor": first["nextCursor"]}).json()
    assert [t["id"] for t in page["items"]] == [late["id"]]


def test_tasks_that_do_not_change_while_paging_appear_exactly_once(api: Api) -> None:
    owner = api.register("Owner")
    workspace_id = owner.create_workspace()["id"]
    created = [owner.create_task(workspace_id, f"T{i}", status=COLUMNS[i % 3])["id"] for i in range(45)]
    touched: set[str] = set()
    seen: list[str] = []
    cursor: str | None = None
    turn = 0
    while True:
        params: dict[str, Any] = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        body = owner.get(f"/workspaces/{workspace_id}/tasks", params=params).json()
        seen.extend(t["id"] for t in body["items"])
        cursor = body["nextCursor"]
        if cursor is None:
            break
        # Between pages others work: moves to the top and the bottom of columns (behind and
        # ahead of the reader), deletes, and new tasks.
        turn += 1
        pending = [t for t in created if t not in touched and t not in seen]
        done_already = [t for t in seen if t not in touched]
        if pending:
            moved = pending[-1]
            top = owner.get(f"/workspaces/{workspace_id}/tasks", params={"status": "todo", "limit": 1}).json()
            after = top["items"][0]["id"] if top["items"] else None
            body_move: dict[str, Any] = {"status": "todo", **({"afterId": after} if after else {})}
            assert owner.post(f"/tasks/{moved}/move", json=body_move).status_code == 200
            touched.add(moved)
        if done_already:
            moved = done_already[0]
            assert owner.post(f"/tasks/{moved}/move", json={"status": "done"}).status_code == 200
            touched.add(moved)
        if turn % 2 and len(pending) > 2:
            assert owner.delete(f"/tasks/{pending[0]}").status_code == 204
            touched.add(pending[0])
        touched.add(owner.create_task(workspace_id, f"New {turn}", status=COLUMNS[turn % 3])["id"])
    steady = [t for t in created if t not in touched]
    assert len(steady) > 10
    assert sorted(t for t in seen if t in steady) == sorted(steady)  # each once, none missed
