"""The board draws its workspace's columns (PROTOCOL §7), and follows an admin who changes them.

An admin changes the columns over REST while Bo has the board open: the new column and the new name
show without a reload, in the workspace's order, and cards move into the new column with the keyboard
and with the card's column picker. A card ticked completed goes where the server puts it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import expect

from tests.browser.pages import LIVE_MS, BoardPage
from tests.support.api import Api

PASSWORD = "correct horse battery"

WITH_REVIEW = [
    {"key": "todo", "name": "Backlog", "done": False},
    {"key": "in_progress", "name": "In progress", "done": False},
    {"key": "review", "name": "Review", "done": False},
    {"key": "done", "name": "Done", "done": True},
]


def _headings(names: list[str]) -> list[re.Pattern[str]]:
    # A heading is the column's name and its count, e.g. "Review (0)".
    return [re.compile(rf"^{re.escape(name)} \(\d+\)$") for name in names]


def test_columns_changed_over_rest_show_live_and_take_cards(
    board_api: Api, open_page: Callable[..., BoardPage]
) -> None:
    ada, bo = board_api.register("Ada"), board_api.register("Bo")
    space = ada.create_workspace("Release")
    ada.add_member(space["id"], bo)
    ada.create_task(space["id"], "Write the spec")
    board = open_page("bo")
    board.sign_in(bo.email, PASSWORD)
    board.open_workspace("Release")
    headings = board.page.locator("section.column h2")
    expect(headings).to_have_text(_headings(["To do", "In progress", "Done"]))
    # A task created now shows only over the live connection: it is up.
    ada.create_task(space["id"], "Fix the login")
    expect(board.titles_in("todo")).to_have_text(["Write the spec", "Fix the login"], timeout=LIVE_MS)

    # Ada adds "Review" and renames "To do"; Bo's board redraws its columns, the cards stay.
    changed = ada.patch(f"/workspaces/{space['id']}", json={"columns": WITH_REVIEW})
    assert changed.status_code == 200, changed.text
    expect(headings).to_have_text(_headings(["Backlog", "In progress", "Review", "Done"]), timeout=LIVE_MS)
    expect(board.titles_in("todo")).to_have_text(["Write the spec", "Fix the login"])
    expect(board.column("review").locator(".card")).to_have_count(0)
    options = ["Backlog", "In progress", "Review", "Done"]
    expect(board.page.get_by_label("Column", exact=True).locator("option")).to_have_text(options)
    expect(board.page.get_by_label("Column of Fix the login").locator("option")).to_have_text(options)

    # Alt+arrows walk the new columns: two steps right is Review.
    board.card("Write the spec").focus()
    board.page.keyboard.press("Alt+ArrowRight")
    expect(board.titles_in("in_progress")).to_have_text(["Write the spec"])
    board.page.keyboard.press("Alt+ArrowRight")
    expect(board.titles_in("review")).to_have_text(["Write the spec"])
    expect(board.page.locator("#live")).to_contain_text("Moved “Write the spec” to Review")
    expect(board.card("Write the spec")).to_be_focused()

    # The card's picker moves the other one there too; the server has both in Review, open.
    board.page.get_by_label("Column of Fix the login").select_option("review")
    expect(board.titles_in("review")).to_have_text(["Write the spec", "Fix the login"])
    listed = ada.get(f"/workspaces/{space['id']}/tasks").json()["items"]
    assert [(t["title"], t["status"], t["completed"]) for t in listed] == [
        ("Write the spec", "review", False),
        ("Fix the login", "review", False),
    ]

    # Ticked completed, a card goes to the first done column, where the server put it.
    board.page.get_by_role("checkbox", name="Completed: Write the spec").check()
    expect(board.titles_in("done")).to_have_text(["Write the spec"])
    expect(board.titles_in("review")).to_have_text(["Fix the login"])
    task = next(
        t
        for t in ada.get(f"/workspaces/{space['id']}/tasks").json()["items"]
        if t["title"] == "Write the spec"
    )
    assert (task["status"], task["completed"]) == ("done", True)

    # A new task goes where the form's picker says: Review is one of its columns now.
    board.add_task("Check the release notes", status="review")
    expect(board.titles_in("review")).to_have_text(["Fix the login", "Check the release notes"])
