"""The web board in a real browser: two people on one workspace see each other's work live.

Each person has a browser context of their own. "Live" is Playwright's `expect` waiting at most
LIVE_MS for the other page to show a change; nothing here measures time.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, RestartableNode, start_node
from tests.browser.pages import LIVE_MS, RECOVERY_MS, BoardPage
from tests.support.api import Api, ApiUser
from tests.support.bulk import column_keys, insert_tasks

PASSWORD = "correct horse battery"


def _email(name: str) -> str:
    return f"{name.lower()}.{uuid.uuid4().hex[:8]}@example.test"


@dataclass
class Pair:
    ada: ApiUser
    bo: ApiUser
    ada_page: BoardPage
    bo_page: BoardPage
    workspace_id: str


def _pair_on_board(board_api: Api, open_page: Callable[..., BoardPage], workspace: str) -> Pair:
    """Ada (owner) and Bo (member) signed in through the page, both on the workspace's board."""
    ada, bo = board_api.register("Ada"), board_api.register("Bo")
    space = ada.create_workspace(workspace)
    ada.add_member(space["id"], bo)
    pages = []
    for user in (ada, bo):
        page = open_page(user.name.lower())
        page.sign_in(user.email, PASSWORD)
        page.open_workspace(workspace)
        pages.append(page)
    ada_page, bo_page = pages
    # Both live connections are up once each page shows the other one online.
    expect(ada_page.avatar(bo.id)).to_be_visible(timeout=LIVE_MS)
    expect(bo_page.avatar(ada.id)).to_be_visible(timeout=LIVE_MS)
    return Pair(ada, bo, ada_page, bo_page, space["id"])


def test_two_people_see_each_others_changes_live(open_page: Callable[..., BoardPage]) -> None:
    ada, bo = open_page("ada"), open_page("bo")
    ada_email, bo_email = _email("ada"), _email("bo")
    ada.sign_up("Ada Lovelace", ada_email, PASSWORD)
    bo.sign_up("Bo Chen", bo_email, PASSWORD)

    # Ada creates the workspace and invites Bo; it appears in Bo's list without a reload.
    ada.create_workspace("Launch")
    ada.invite(bo_email, "member")
    expect(ada.page.locator("#member-list")).to_contain_text("Bo Chen")
    expect(bo.page.get_by_role("link", name="Launch", exact=True)).to_be_visible(timeout=LIVE_MS)
    bo.open_workspace("Launch")

    # Presence: each sees the other's avatar; Bo's "busy" and "away" show on Ada's page.
    expect(ada.page.locator("#presence .avatar")).to_have_count(2, timeout=LIVE_MS)
    expect(bo.page.locator("#presence .avatar")).to_have_count(2, timeout=LIVE_MS)
    bo_avatar = ada.page.locator("#presence .avatar", has_text="Bo Chen")
    expect(bo_avatar).to_have_attribute("title", "Bo Chen: online")
    bo.page.get_by_label("My status").select_option("busy")
    expect(bo_avatar).to_have_attribute("title", "Bo Chen: busy", timeout=LIVE_MS)
    expect(bo_avatar).to_contain_text("BC")
    bo.page.get_by_label("My status").select_option("away")
    expect(bo_avatar).to_have_attribute("title", "Bo Chen: away", timeout=LIVE_MS)
    bo.page.get_by_label("My status").select_option("online")

    # Ada creates tasks; Bo's board shows them.
    for title in ("Write the plan", "Book the venue", "Order badges"):
        ada.add_task(title)
    expect(bo.titles_in("todo")).to_have_text(
        ["Write the plan", "Book the venue", "Order badges"], timeout=LIVE_MS
    )

    # Ada edits a title: while she types Bo sees "is typing…", then the new title.
    editor = ada.open_editor("Write the plan")
    editor.get_by_label("Title").press_sequentially(" for launch")
    expect(bo.card("Write the plan")).to_contain_text("Ada Lovelace is typing…", timeout=LIVE_MS)
    editor.get_by_label("Description").fill("Dates, owners, budget")
    editor.get_by_role("button", name="Save").click()
    expect(editor).to_be_hidden()
    expect(bo.card("Write the plan for launch")).to_contain_text("Dates, owners, budget", timeout=LIVE_MS)
    expect(bo.page.get_by_text("Ada Lovelace is typing…")).to_have_count(0, timeout=LIVE_MS)

    # Ada drags a card to another column, then another one within its column.
    ada.card("Book the venue").drag_to(ada.column("in_progress").locator(".cards"))
    expect(ada.titles_in("in_progress")).to_have_text(["Book the venue"])
    expect(bo.titles_in("in_progress")).to_have_text(["Book the venue"], timeout=LIVE_MS)
    ada.card("Order badges").drag_to(ada.card("Write the plan for launch"), target_position={"x": 40, "y": 4})
    expect(ada.titles_in("todo")).to_have_text(["Order badges", "Write the plan for launch"])
    expect(bo.titles_in("todo")).to_have_text(["Order badges", "Write the plan for launch"], timeout=LIVE_MS)

    # Ada completes a task, which moves it to Done (one meaning of done), and deletes another.
    ada.page.get_by_role("checkbox", name="Completed: Book the venue").check()
    expect(bo.page.get_by_role("checkbox", name="Completed: Book the venue")).to_be_checked(timeout=LIVE_MS)
    expect(bo.card("Book the venue")).to_have_class(re.compile(r"\bcompleted\b"))
    expect(bo.titles_in("done")).to_have_text(["Book the venue"])
    ada.page.get_by_role("button", name="Delete Order badges", exact=True).click()
    expect(bo.card("Order badges")).to_have_count(0, timeout=LIVE_MS)

    # Bo moves cards with the keyboard; Ada's board follows.
    bo.card("Write the plan for launch").focus()
    bo.page.keyboard.press("Alt+ArrowRight")  # to the next column, on the same row
    expect(ada.titles_in("in_progress")).to_have_text(["Write the plan for launch"], timeout=LIVE_MS)
    expect(bo.card("Write the plan for launch")).to_be_focused()
    bo.page.keyboard.press("Alt+ArrowRight")
    expect(ada.titles_in("done")).to_have_text(
        ["Write the plan for launch", "Book the venue"], timeout=LIVE_MS
    )
    expect(bo.page.locator("#live")).to_contain_text("Moved “Write the plan for launch” to Done")
    # Moved into Done, it is completed.
    expect(ada.page.get_by_role("checkbox", name="Completed: Write the plan for launch")).to_be_checked(
        timeout=LIVE_MS
    )
    bo.page.keyboard.press("Alt+ArrowDown")
    expect(ada.titles_in("done")).to_have_text(
        ["Book the venue", "Write the plan for launch"], timeout=LIVE_MS
    )

    # What both pages show is what the server holds: a reload shows the same board.
    bo.page.reload()
    expect(bo.titles_in("done")).to_have_text(["Book the venue", "Write the plan for launch"])
    expect(bo.titles_in("in_progress")).to_have_count(0)
    expect(bo.titles_in("todo")).to_have_count(0)
    expect(bo.page.get_by_role("checkbox", name="Completed: Book the venue")).to_be_checked()

    # Cursors: Ada's pointer over the board shows on Bo's page with her name, where she points.
    ada.add_task("Invite speakers", "in_progress")
    ada.add_task("Print the schedule")
    box = ada.page.locator("#board").bounding_box()
    assert box is not None
    ada.page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.8, steps=4)
    marker = bo.page.locator(".cursor", has_text="Ada Lovelace")
    expect(marker).to_have_count(1, timeout=LIVE_MS)
    expect(marker.locator(".cursor-label")).to_be_visible()
    bo_box = bo.page.locator("#board").bounding_box()
    marker_box = marker.bounding_box()
    assert bo_box is not None and marker_box is not None
    assert bo_box["x"] <= marker_box["x"] < bo_box["x"] + bo_box["width"] / 3  # over the "To do" column

    # Bo's page as the docs show it: avatars, a cursor, and "is typing…".
    # (The editor opened from the keyboard, so the pointer stays where it was.)
    ada.page.get_by_role("button", name="Edit Invite speakers", exact=True).press("Enter")
    editor = ada.page.get_by_role("dialog", name="Edit task")
    editor.get_by_label("Description").press_sequentially("Three keynotes")
    expect(bo.card("Invite speakers")).to_contain_text("Ada Lovelace is typing…", timeout=LIVE_MS)
    bo.page.screenshot(path=str(_artifact("board-live.png")))


def test_conflicting_edits_are_shown_and_resolved(
    board_api: Api, open_page: Callable[..., BoardPage]
) -> None:
    pair = _pair_on_board(board_api, open_page, "Conflicts")
    ada, ada_page, bo_page = pair.ada, pair.ada_page, pair.bo_page
    ada.create_task(pair.workspace_id, "Draft the agenda")
    expect(bo_page.card("Draft the agenda")).to_be_visible(timeout=LIVE_MS)

    # Ada starts editing; Bo saves another title first; Ada's save is a conflict she settles.
    ada_editor = ada_page.open_editor("Draft the agenda")
    ada_editor.get_by_label("Title").fill("Agenda (Ada)")
    bo_editor = bo_page.open_editor("Draft the agenda")
    bo_editor.get_by_label("Title").fill("Agenda (Bo)")
    bo_editor.get_by_role("button", name="Save").click()
    expect(ada_page.card("Agenda (Bo)")).to_be_visible(timeout=LIVE_MS)
    ada_editor.get_by_role("button", name="Save").click()
    conflict = ada_page.page.get_by_role("dialog", name="Someone else changed this task")
    expect(conflict).to_be_visible()
    expect(conflict).to_contain_text("Bo")
    expect(conflict.locator(".conflict-mine")).to_have_text(["Agenda (Ada)"])
    expect(conflict.locator(".conflict-theirs")).to_have_text(["Agenda (Bo)"])
    conflict.get_by_role("button", name="Keep mine").click()
    expect(conflict).to_be_hidden()
    expect(bo_page.card("Agenda (Ada)")).to_be_visible(timeout=LIVE_MS)
    expect(ada_page.card("Agenda (Ada)")).to_be_visible()

    # The other way: Ada takes Bo's version and nothing of hers is written.
    ada_editor = ada_page.open_editor("Agenda (Ada)")
    ada_editor.get_by_label("Title").fill("Agenda, final (Ada)")
    bo_editor = bo_page.open_editor("Agenda (Ada)")
    bo_editor.get_by_label("Title").fill("Agenda, final (Bo)")
    bo_editor.get_by_role("button", name="Save").click()
    expect(ada_page.card("Agenda, final (Bo)")).to_be_visible(timeout=LIVE_MS)
    ada_editor.get_by_role("button", name="Save").click()
    expect(conflict).to_be_visible()
    conflict.get_by_role("button", name="Take theirs").click()
    expect(conflict).to_be_hidden()
    expect(ada_page.card("Agenda, final (Bo)")).to_be_visible()
    tasks = ada.get(f"/workspaces/{pair.workspace_id}/tasks").json()["items"]
    assert [t["title"] for t in tasks] == ["Agenda, final (Bo)"]
    expect(bo_page.card("Agenda, final (Bo)")).to_be_visible()


def test_pages_show_reconnecting_and_catch_up_after_a_restart(
    board_node: RestartableNode, board_api: Api, open_page: Callable[..., BoardPage]
) -> None:
    pair = _pair_on_board(board_api, open_page, "Restarts")
    ada, ada_page, bo_page = pair.ada, pair.ada_page, pair.bo_page
    ada.create_task(pair.workspace_id, "Before the restart")
    expect(bo_page.card("Before the restart")).to_be_visible(timeout=LIVE_MS)

    board_node.stop()
    for page in (ada_page, bo_page):
        expect(page.banner()).to_contain_text("Reconnecting", timeout=LIVE_MS)

    # A change made while both pages are cut off: through another node on the same database file.
    other = start_node(board_node.database_url)
    try:
        response = ada.http.post(
            f"{other.api}/workspaces/{pair.workspace_id}/tasks",
            json={"title": "Made while down", "status": "in_progress"},
            headers={"Authorization": f"Bearer {ada.token}"},
        )
        assert response.status_code == 201, response.text
    finally:
        other.stop()
    expect(bo_page.card("Made while down")).to_have_count(0)

    board_node.start()
    for page in (ada_page, bo_page):
        expect(page.banner()).to_be_hidden(timeout=RECOVERY_MS)
        expect(page.titles_in("in_progress")).to_have_text(["Made while down"], timeout=RECOVERY_MS)
        expect(page.card("Before the restart")).to_be_visible()

    # And live again.
    ada_page.add_task("After the restart")
    expect(bo_page.card("After the restart")).to_be_visible(timeout=LIVE_MS)


def test_board_fits_a_phone_screen(board_api: Api, open_page: Callable[..., BoardPage]) -> None:
    ada = board_api.register("Ada")
    space = ada.create_workspace("Pocket")
    for title, status in (
        ("Call the venue", "todo"),
        ("Draft the menu", "in_progress"),
        ("Pay deposit", "done"),
    ):
        ada.create_task(space["id"], title, status=status)
    phone = open_page("phone", width=390, height=844)
    phone.sign_in(ada.email, PASSWORD)
    phone.open_workspace("Pocket")
    expect(phone.card("Pay deposit")).to_be_visible()

    # The columns stack one under another, and nothing needs sideways scrolling.
    boxes = [phone.column(status).bounding_box() for status in ("todo", "in_progress", "done")]
    assert all(box is not None for box in boxes)
    lefts = {round(box["x"]) for box in boxes if box}
    tops = [box["y"] for box in boxes if box]
    assert len(lefts) == 1 and tops == sorted(tops)
    assert phone.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    # Without drag and drop, a card moves with its column picker.
    phone.page.get_by_label("Column of Call the venue").select_option("done")
    expect(phone.titles_in("done")).to_have_text(["Pay deposit", "Call the venue"])


def test_a_board_of_more_than_one_page_shows_every_task_in_order(
    board_node: RestartableNode, board_api: Api, open_page: Callable[..., BoardPage]
) -> None:
    ada = board_api.register("Ada")
    space = ada.create_workspace("Backlog")
    counts = {"todo": 420, "in_progress": 130, "done": 90}  # 640 tasks: two pages of 500
    rows = [
        {"status": status, "position": position, "title": f"{status} {index:03d}"}
        for status, count in counts.items()
        for index, position in enumerate(column_keys(count))
    ]
    assert board_node.server is not None
    insert_tasks(board_node.server, space["id"], ada.id, reversed(rows))
    page = open_page("ada")
    lists: list[str] = []
    page.page.on("request", lambda request: lists.append(request.url) if "/tasks?" in request.url else None)
    page.sign_in(ada.email, PASSWORD)
    page.open_workspace("Backlog")
    for status, count in counts.items():
        expect(page.titles_in(status)).to_have_count(count)
        titles = page.titles_in(status).all_inner_texts()
        assert titles == [f"{status} {index:03d}" for index in range(count)]
    assert len(lists) == 2 and "cursor=" in lists[1]


def _artifact(name: str) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / name)
