"""The edit dialog's description is the task's shared document: two people type in it at once.

Ada and Bo (members) and Cy (viewer) open the same task's editor. Ada and Bo type by turns, each at
a caret of their own (Bo in the middle of the text, Ada at its end); both textareas end with the same
text, which the task's REST description then shows; each sees the other's caret with a name; Cy
reads it all but cannot type. Nothing here measures time: `expect` waits up to LIVE_MS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from playwright.sync_api import Locator, WebSocketRoute, expect

from tests.browser.conftest import ARTIFACTS
from tests.browser.pages import LIVE_MS, BoardPage
from tests.support.api import Api, ApiUser
from tests.support.ydoc import awareness_frame

PASSWORD = "correct horse battery"
SHARED = "The description is shared"


def _open_board(open_page: Callable[..., BoardPage], user: ApiUser, workspace: str) -> BoardPage:
    page = open_page(user.name.lower())
    page.sign_in(user.email, PASSWORD)
    page.open_workspace(workspace)
    return page


def _description(dialog: Locator) -> Locator:
    return dialog.get_by_label("Description")


def _task_description(user: ApiUser, task_id: str, expected: str, page: BoardPage) -> str:
    """The task's description over REST once it is `expected` (the node writes the document's text
    to the task a moment after the last change), or whatever it is after LIVE_MS of polling."""
    description = ""
    for _ in range(LIVE_MS // 100):
        description = user.get(f"/tasks/{task_id}").json()["description"]
        if description == expected:
            break
        page.page.wait_for_timeout(100)
    return str(description)


def test_two_people_type_in_one_description_and_a_viewer_reads_it(
    board_api: Api, open_page: Callable[..., BoardPage]
) -> None:
    ada, bo, cy = board_api.register("Ada"), board_api.register("Bo"), board_api.register("Cy")
    space = ada.create_workspace("Offsite")
    ada.add_member(space["id"], bo)
    ada.add_member(space["id"], cy, role="viewer")
    task = ada.create_task(space["id"], "Plan the offsite", description="Agenda: budget, venue")
    ada_page, bo_page, cy_page = (_open_board(open_page, user, "Offsite") for user in (ada, bo, cy))

    ada_dialog = ada_page.open_editor("Plan the offsite")
    bo_dialog = bo_page.open_editor("Plan the offsite")
    for dialog in (ada_dialog, bo_dialog):
        expect(dialog).to_contain_text(SHARED, timeout=LIVE_MS)
        expect(_description(dialog)).to_be_editable()
    ada_text, bo_text = _description(ada_dialog), _description(bo_dialog)
    expect(ada_text).to_have_value("Agenda: budget, venue")

    # Ada's caret at the end; Bo's after "Agenda: ", in the middle of the text.
    ada_text.click()
    ada_page.page.keyboard.press("Control+End")
    bo_text.click()
    bo_page.page.keyboard.press("Control+Home")
    for _ in range(len("Agenda: ")):
        bo_page.page.keyboard.press("ArrowRight")

    # By turns, so that each one's typing lands while the other's is arriving.
    for ada_part, bo_part in ((" and", "dates"), (" cater", ", "), ("ing", "rooms, ")):
        ada_page.page.keyboard.type(ada_part, delay=15)
        bo_page.page.keyboard.type(bo_part, delay=15)

    expected = "Agenda: dates, rooms, budget, venue and catering"
    expect(ada_text).to_have_value(expected, timeout=LIVE_MS)
    expect(bo_text).to_have_value(expected, timeout=LIVE_MS)
    assert _task_description(ada, task["id"], expected, ada_page) == expected

    # Each sees the other's caret, with a name, in the description.
    ada_caret = bo_dialog.locator(".remote-caret", has_text="Ada")
    expect(ada_caret).to_be_visible(timeout=LIVE_MS)
    expect(ada_dialog.locator(".remote-caret", has_text="Bo")).to_be_visible(timeout=LIVE_MS)
    # Ada's caret is after the last word: on Bo's page, right of where Bo's caret (after
    # "rooms, ") is drawn on Ada's, both on the first line.
    ada_box, bo_box = ada_caret.bounding_box(), ada_dialog.locator(".remote-caret").bounding_box()
    assert ada_box is not None and bo_box is not None
    assert ada_box["x"] > bo_box["x"]

    # Cy, a viewer, reads the same text live and sees the carets, but cannot type.
    cy_page.page.get_by_role("button", name="View Plan the offsite", exact=True).click()
    cy_dialog = cy_page.page.get_by_role("dialog", name="View task")
    expect(cy_dialog).to_contain_text("Read-only: you are a viewer here.", timeout=LIVE_MS)
    cy_text = _description(cy_dialog)
    expect(cy_text).to_have_value(expected)
    expect(cy_text).not_to_be_editable()
    expect(cy_dialog.locator(".remote-caret", has_text="Ada")).to_be_visible(timeout=LIVE_MS)
    cy_text.click(position={"x": 8, "y": 12})  # before the first letter
    cy_page.page.keyboard.type("viewer text")
    expect(cy_text).to_have_value(expected)

    # Bo selects "rooms, "; Ada sees the selection highlighted, and the three carets.
    for _ in range(len("rooms, ")):
        bo_page.page.keyboard.press("Shift+ArrowLeft")
    expect(ada_dialog.locator(".remote-selection")).to_have_count(1, timeout=LIVE_MS)
    expect(ada_dialog.locator(".remote-caret")).to_have_count(2)
    ada_page.page.screenshot(path=str(ARTIFACTS / "shared-description.png"))

    # Ada saves a new title: the PATCH carries the title only, and the description stays as typed.
    ada_dialog.get_by_label("Title").fill("Plan the offsite (draft)")
    with ada_page.page.expect_request(lambda request: request.method == "PATCH") as sent:
        ada_dialog.get_by_role("button", name="Save").click()
    assert sent.value.post_data_json["title"] == "Plan the offsite (draft)"
    assert "description" not in sent.value.post_data_json
    expect(ada_dialog).to_be_hidden()
    expect(bo_page.card("Plan the offsite (draft)")).to_be_visible(timeout=LIVE_MS)
    saved = ada.get(f"/tasks/{task['id']}").json()
    assert (saved["title"], saved["description"]) == ("Plan the offsite (draft)", expected)

    # Ada's dialog is closed: her caret leaves the others' descriptions.
    expect(bo_dialog.locator(".remote-caret", has_text="Ada")).to_have_count(0, timeout=LIVE_MS)
    expect(cy_dialog.locator(".remote-caret", has_text="Ada")).to_have_count(0, timeout=LIVE_MS)


def test_without_the_shared_document_the_description_is_saved_with_the_task(
    board_api: Api, open_page: Callable[..., BoardPage]
) -> None:
    ada = board_api.register("Ada")
    space = ada.create_workspace("Offsite")
    task = ada.create_task(space["id"], "Book rooms", description="Two rooms")
    page = _open_board(open_page, ada, "Offsite")

    # The document's endpoint refuses this page, as the server does once access is gone.
    def refuse(socket: WebSocketRoute) -> None:
        socket.close(code=4403, reason="no access")

    page.page.route_web_socket(re.compile(r"/api/v1/tasks/[^/]+/doc"), refuse)
    dialog = page.open_editor("Book rooms")
    expect(dialog).to_contain_text("Live editing of the description is not available now", timeout=LIVE_MS)
    text = _description(dialog)
    expect(text).to_be_editable()
    text.fill("Two rooms, one with a projector")
    with page.page.expect_request(lambda request: request.method == "PATCH") as sent:
        dialog.get_by_role("button", name="Save").click()
    assert sent.value.post_data_json["description"] == "Two rooms, one with a projector"
    expect(dialog).to_be_hidden()
    assert ada.get(f"/tasks/{task['id']}").json()["description"] == "Two rooms, one with a projector"


def test_a_caret_colour_that_is_not_rrggbb_never_reaches_a_style(
    board_api: Api, open_page: Callable[..., BoardPage]
) -> None:
    """The server drops such a colour; the board ignores one all the same (here the frame comes
    from the page's own route, past the server): a `url(…)` would make the browser fetch it."""
    ada = board_api.register("Ada")
    space = ada.create_workspace("Offsite")
    ada.create_task(space["id"], "Book rooms", description="Two rooms")
    page = _open_board(open_page, ada, "Offsite")
    fetched: list[str] = []
    page.page.on("request", lambda request: "beacon" in request.url and fetched.append(request.url))
    at_end = {"type": None, "tname": "description", "item": None, "assoc": 0}
    beacon = json.dumps(
        {
            "user": {"name": "Beacon", "color": "url(http://127.0.0.1:9/beacon.png)"},
            "cursor": {"anchor": at_end, "head": at_end},
        }
    )

    def inject(socket: WebSocketRoute) -> None:
        server = socket.connect_to_server()
        injected = False

        def to_page(message: str | bytes) -> None:
            nonlocal injected
            socket.send(message)
            if not injected:  # once the server has spoken: as if it had sent this state
                injected = True
                socket.send(awareness_frame([(424_242, 3, beacon)]))

        server.on_message(to_page)

    page.page.route_web_socket(re.compile(r"/api/v1/tasks/[^/]+/doc"), inject)
    dialog = page.open_editor("Book rooms")
    expect(dialog).to_contain_text(SHARED, timeout=LIVE_MS)
    caret = dialog.locator(".remote-caret", has_text="Beacon")
    expect(caret).to_be_visible(timeout=LIVE_MS)
    assert caret.evaluate("element => element.style.getPropertyValue('--caret-colour')") == "#1d4ed8"
    assert fetched == []
