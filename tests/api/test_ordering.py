"""Order inside a column (PROTOCOL §2, move): `beforeId` names the task that ends up right above the
moved one, `afterId` the one right below it, neither means the end of the column. The list shows
todo, then in_progress, then done, each in position order."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.support.api import Api, ApiUser
from tests.support.observe import tasks_of

COLUMNS = ("todo", "in_progress", "done")


class BoardModel:
    """What the client expects the board to look like: the ids of each column, top to bottom."""

    def __init__(self) -> None:
        self.columns: dict[str, list[str]] = {status: [] for status in COLUMNS}

    def add(self, status: str, task_id: str) -> None:
        self.columns[status].append(task_id)

    def move(self, task_id: str, status: str, before_id: str | None, after_id: str | None) -> None:
        for ids in self.columns.values():
            if task_id in ids:
                ids.remove(task_id)
        target = self.columns[status]
        if before_id is not None:
            index = target.index(before_id) + 1
            if after_id is not None:
                assert target[index] == after_id, "the model only names adjacent neighbours"
        elif after_id is not None:
            index = target.index(after_id)
        else:
            index = len(target)
        target.insert(index, task_id)

    def listing(self) -> list[str]:
        return [task_id for status in COLUMNS for task_id in self.columns[status]]


def move(
    user: ApiUser, task_id: str, status: str, before: str | None = None, after: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status}
    if before is not None:
        body["beforeId"] = before
    if after is not None:
        body["afterId"] = after
    response = user.post(f"/tasks/{task_id}/move", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def listed_ids(user: ApiUser, workspace_id: str) -> list[str]:
    return [t["id"] for t in tasks_of(user, workspace_id)]


@pytest.fixture
def abc(api: Api) -> tuple[ApiUser, str, dict[str, str]]:
    owner = api.register()
    wid = owner.create_workspace()["id"]
    ids = {name: owner.create_task(wid, name)["id"] for name in "ABC"}
    return owner, wid, ids


def titles(user: ApiUser, workspace_id: str, status: str = "todo") -> str:
    return "".join(t["title"] for t in tasks_of(user, workspace_id, status=status))


def test_new_tasks_go_to_the_end_of_their_column(abc: tuple[ApiUser, str, dict[str, str]]) -> None:
    owner, wid, _ids = abc
    assert titles(owner, wid) == "ABC"


def test_before_id_names_the_task_that_ends_up_right_above(abc: tuple[ApiUser, str, dict[str, str]]) -> None:
    owner, wid, ids = abc
    move(owner, ids["C"], "todo", before=ids["A"])
    assert titles(owner, wid) == "ACB"
    move(owner, ids["A"], "todo", before=ids["B"])
    assert titles(owner, wid) == "CBA"


def test_after_id_names_the_task_that_ends_up_right_below(abc: tuple[ApiUser, str, dict[str, str]]) -> None:
    owner, wid, ids = abc
    move(owner, ids["C"], "todo", after=ids["A"])
    assert titles(owner, wid) == "CAB"
    move(owner, ids["A"], "todo", after=ids["B"])
    assert titles(owner, wid) == "CAB"
    move(owner, ids["C"], "todo", after=ids["B"])
    assert titles(owner, wid) == "ACB"


def test_both_neighbours_place_the_task_between_them(abc: tuple[ApiUser, str, dict[str, str]]) -> None:
    owner, wid, ids = abc
    move(owner, ids["A"], "todo", before=ids["B"], after=ids["C"])
    assert titles(owner, wid) == "BAC"


def test_neighbours_that_are_no_longer_adjacent_place_the_task_right_below_before_id(
    abc: tuple[ApiUser, str, dict[str, str]],
) -> None:
    # A client that still sees A and C adjacent names them both; B was moved between them meanwhile.
    owner, wid, ids = abc
    extra = owner.create_task(wid, "D")["id"]
    move(owner, ids["C"], "todo", before=ids["A"])
    assert titles(owner, wid) == "ACBD"
    move(owner, extra, "todo", before=ids["A"], after=ids["B"])
    assert titles(owner, wid) == "ADCB"
    positions = [t["position"] for t in tasks_of(owner, wid)]
    assert len(set(positions)) == len(positions)


def test_no_neighbour_means_the_end_of_the_column(abc: tuple[ApiUser, str, dict[str, str]]) -> None:
    owner, wid, ids = abc
    move(owner, ids["A"], "todo")
    assert titles(owner, wid) == "BCA"


def test_a_move_to_another_column_lands_where_named_and_leaves_the_old_column(
    abc: tuple[ApiUser, str, dict[str, str]],
) -> None:
    owner, wid, ids = abc
    moved = move(owner, ids["B"], "done")
    assert moved["status"] == "done"
    assert titles(owner, wid) == "AC"
    assert titles(owner, wid, "done") == "B"
    move(owner, ids["A"], "done", after=ids["B"])
    move(owner, ids["C"], "in_progress")
    assert titles(owner, wid, "done") == "AB"
    assert [t["status"] for t in tasks_of(owner, wid)] == ["in_progress", "done", "done"]


def test_a_move_rewrites_only_the_moved_task(abc: tuple[ApiUser, str, dict[str, str]]) -> None:
    owner, wid, ids = abc
    before = {t["id"]: t for t in tasks_of(owner, wid)}
    moved = move(owner, ids["C"], "todo", before=ids["A"], after=ids["B"])
    after = {t["id"]: t for t in tasks_of(owner, wid)}
    assert after[ids["A"]] == before[ids["A"]]
    assert after[ids["B"]] == before[ids["B"]]
    assert moved["version"] == before[ids["C"]]["version"] + 1
    assert after[ids["C"]] == moved


def test_two_hundred_random_moves_keep_the_board_equal_to_the_clients_model(api: Api) -> None:
    rng = random.Random(20261126)  # seeded: a failure replays exactly
    owner = api.register()
    wid = owner.create_workspace()["id"]
    model = BoardModel()
    for n in range(12):
        status = COLUMNS[n % 3]
        model.add(status, owner.create_task(wid, f"T{n}", status=status)["id"])
    all_ids = model.listing()

    for step in range(200):
        task_id = rng.choice(all_ids)
        status = rng.choice(COLUMNS)
        others = [t for t in model.columns[status] if t != task_id]
        mode = rng.choice(["end", "before", "after", "between"]) if others else "end"
        before = after = None
        if mode == "before":
            before = rng.choice(others)
        elif mode == "after":
            after = rng.choice(others)
        elif mode == "between" and len(others) >= 2:
            index = rng.randrange(len(others) - 1)
            before, after = others[index], others[index + 1]
        moved = move(owner, task_id, status, before, after)
        model.move(task_id, status, before, after)
        assert moved["status"] == status
        assert listed_ids(owner, wid) == model.listing(), f"after move {step}"

    for status in COLUMNS:
        positions = [t["position"] for t in tasks_of(owner, wid, status=status)]
        assert len(set(positions)) == len(positions), status


@pytest.mark.parametrize("named", ["beforeId", "afterId", "both"])
def test_sixty_inserts_into_the_same_gap_keep_working_and_keep_the_order(api: Api, named: str) -> None:
    owner = api.register()
    wid = owner.create_workspace()["id"]
    top = owner.create_task(wid, "top")["id"]
    bottom = owner.create_task(wid, "bottom")["id"]
    model = BoardModel()
    model.add("todo", top)
    model.add("todo", bottom)
    newest: str | None = None
    for n in range(60):
        task_id = owner.create_task(wid, f"n{n}")["id"]
        model.add("todo", task_id)
        if named == "beforeId":  # always right below `top`: the gap above the previous insert
            before, after = top, None
        elif named == "afterId":  # always right above `bottom`: the gap below the previous insert
            before, after = None, bottom
        else:  # the same two neighbours by name: `top` and whichever task now follows it
            before, after = top, newest or bottom
        move(owner, task_id, "todo", before, after)
        model.move(task_id, "todo", before, after)
        newest = task_id
    listed = tasks_of(owner, wid)
    assert [t["id"] for t in listed] == model.listing()
    positions = [t["position"] for t in listed]
    assert positions == sorted(positions, key=str.encode)
    assert len(set(positions)) == len(positions)


def test_repeatedly_moving_to_the_top_keeps_working(api: Api) -> None:
    owner = api.register()
    wid = owner.create_workspace()["id"]
    ids = [owner.create_task(wid, f"T{n}")["id"] for n in range(5)]
    model = BoardModel()
    for task_id in ids:
        model.add("todo", task_id)
    for n in range(40):
        task_id = ids[n % 5]
        first = model.columns["todo"][0]
        if first == task_id:
            continue
        move(owner, task_id, "todo", after=first)
        model.move(task_id, "todo", None, first)
    assert listed_ids(owner, wid) == model.listing()
