"""The board keeps people signed in (PROTOCOL.md §4, §5.1), in real Chromium against a real node.

The node's access tokens live five seconds (JWT_TTL_SECONDS=5), so a few seconds on a page span
several token lifetimes. One node serves the module. The board holds its access token in memory
only and renews it with the refresh cookie (HttpOnly, so no page script sees it); its tabs renew
one at a time (Web Locks), and a sign-out or an ended session reaches every tab.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import ARTIFACTS, start_node
from tests.browser.pages import LIVE_MS, BoardPage
from tests.support.accounts import delete_account
from tests.support.servers import RunningServer

PASSWORD = "correct horse battery"
TOKEN_TTL_SECONDS = 5
# Long enough for the page to renew its token, notice a refusal and show the sign-in page.
SIGN_IN_MS = 10_000
SIGNED_OUT_HEADING = "Sign in to Taskroom"


@pytest.fixture(scope="module")
def session_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    path: Path = tmp_path_factory.mktemp("board-session") / "board.db"
    node = start_node(f"sqlite:///{path}", jwt_ttl_seconds=TOKEN_TTL_SECONDS)
    yield node
    node.stop()


@pytest.fixture
def new_context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[[], BrowserContext]]:
    """Browser contexts (one person's browser each: its own cookies), screenshotted and closed after."""
    contexts: list[BrowserContext] = []

    def make() -> BrowserContext:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        contexts.append(context)
        return context

    yield make
    ARTIFACTS.mkdir(exist_ok=True)
    name = request.node.name
    for i, context in enumerate(contexts):
        for j, page in enumerate(context.pages):
            page.screenshot(path=str(ARTIFACTS / f"{name}-{i}-{j}.png"), full_page=True)
        context.close()


def _email(name: str) -> str:
    return f"{name.lower()}.{uuid.uuid4().hex[:8]}@example.test"


def _board(context: BrowserContext, node: RunningServer) -> BoardPage:
    return BoardPage(context.new_page(), node.base_url)


def _signed_in_tab(context: BrowserContext, node: RunningServer) -> BoardPage:
    """Another tab of the same browser, opened on the board: signed in by the cookie alone."""
    tab = _board(context, node)
    tab.page.goto(node.base_url + "/")
    expect(tab.page.get_by_role("heading", name="Your workspaces")).to_be_visible()
    return tab


def _shows_sign_in(page: Page, message: str) -> None:
    expect(page.get_by_role("heading", name=SIGNED_OUT_HEADING)).to_be_visible(timeout=SIGN_IN_MS)
    expect(page.locator("#error")).to_contain_text(message)
    expect(page.locator("#connection-banner")).to_be_hidden()


def _refresh_cookie(context: BrowserContext) -> dict[str, Any] | None:
    found = [dict(c) for c in context.cookies() if c["name"] == "taskroom_refresh"]
    assert len(found) <= 1
    return found[0] if found else None


def test_a_board_open_for_several_token_lifetimes_stays_live_in_two_tabs(
    session_node: RunningServer, new_context: Callable[[], BrowserContext]
) -> None:
    context = new_context()
    first = _board(context, session_node)
    first.sign_up("Ada", _email("ada"), PASSWORD)
    first.create_workspace("Long day")
    second = _signed_in_tab(context, session_node)
    second.open_workspace("Long day")
    first.add_task("Before the wait")
    expect(second.card("Before the wait")).to_be_visible(timeout=LIVE_MS)

    # Four token lifetimes, in which both tabs renew with the same cookie: one at a time, else the
    # second renewal would spend a spent token and end the session (both tabs would show sign-in).
    first.page.wait_for_timeout(4 * TOKEN_TTL_SECONDS * 1000)
    for tab in (first, second):
        expect(tab.page.get_by_role("heading", name="Long day", exact=True)).to_be_visible()
        expect(tab.banner()).to_be_hidden()

    # A write after them succeeds (REST with a renewed token) and shows on the other tab (its live
    # connection carried on with renewed tokens), both ways.
    first.add_task("After four lifetimes")
    expect(second.card("After four lifetimes")).to_be_visible(timeout=LIVE_MS)
    second.add_task("And back")
    expect(first.card("And back")).to_be_visible(timeout=LIVE_MS)
    # And a board in another browser of the same person, signed in afresh, sees them too.
    other = _board(new_context(), session_node)
    other.page.goto(session_node.base_url + "/")
    expect(other.page.get_by_role("heading", name=SIGNED_OUT_HEADING)).to_be_visible()


def test_the_refresh_token_is_out_of_reach_of_page_scripts(
    session_node: RunningServer, new_context: Callable[[], BrowserContext]
) -> None:
    context = new_context()
    board = _board(context, session_node)
    board.sign_up("Bo", _email("bo"), PASSWORD)
    cookie = _refresh_cookie(context)
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/api/v1/auth"
    seen = board.page.evaluate(
        """() => JSON.stringify({
            cookie: document.cookie,
            local: Object.fromEntries(Object.entries(localStorage)),
            session: Object.fromEntries(Object.entries(sessionStorage)),
        })"""
    )
    assert cookie["value"] not in seen
    assert "trr_" not in seen
    assert "taskroom_refresh" not in seen
    # Nor is the access token kept in storage: it lives in the page's memory only.
    assert "eyJ" not in seen


def test_a_second_tab_is_signed_in_and_signing_out_in_one_signs_out_both(
    session_node: RunningServer, new_context: Callable[[], BrowserContext]
) -> None:
    email = _email("cy")
    context = new_context()
    first = _board(context, session_node)
    first.sign_up("Cy", email, PASSWORD)
    first.create_workspace("Shared")
    second = _signed_in_tab(context, session_node)
    second.open_workspace("Shared")
    second.page.get_by_role("button", name="Sign out").click()
    expect(second.page.get_by_role("heading", name=SIGNED_OUT_HEADING)).to_be_visible()
    _shows_sign_in(first.page, "You signed out in another tab.")
    assert _refresh_cookie(context) is None, "the sign-out cleared the cookie"
    # A tab opened now is signed out too.
    third = _board(context, session_node)
    third.page.goto(session_node.base_url + "/")
    expect(third.page.get_by_role("heading", name=SIGNED_OUT_HEADING)).to_be_visible()
    # Signing in again in one tab signs the others in.
    third.sign_in(email, PASSWORD)
    expect(first.page.get_by_role("heading", name="Your workspaces")).to_be_visible(timeout=SIGN_IN_MS)


def test_ending_the_session_elsewhere_brings_the_sign_in_page_with_a_message(
    session_node: RunningServer, new_context: Callable[[], BrowserContext]
) -> None:
    email = _email("dee")
    board = _board(new_context(), session_node)
    board.sign_up("Dee", email, PASSWORD)
    board.create_workspace("Soon gone")
    with httpx.Client(base_url=session_node.api, timeout=30) as http:
        login = http.post("/auth/login", json={"email": email, "password": PASSWORD}).json()
        auth = {"Authorization": f"Bearer {login['accessToken']}"}
        sessions = http.get("/auth/sessions", headers=auth).json()["items"]
        (the_boards,) = [s for s in sessions if not s["current"]]
        assert http.delete(f"/auth/sessions/{the_boards['id']}", headers=auth).status_code == 204
    _shows_sign_in(board.page, "Your session has ended")


def test_an_account_deleted_behind_the_board_brings_the_sign_in_page(
    session_node: RunningServer, new_context: Callable[[], BrowserContext]
) -> None:
    """No endpoint deletes an account; an operator may, in the database (one that owns no
    workspace: ownership is kept by a foreign key). The board's token then runs out within its
    five seconds, its renewal is refused, and the person is told."""
    email = _email("eve")
    board = _board(new_context(), session_node)
    board.sign_up("Eve", email, PASSWORD)
    expect(board.page.get_by_role("heading", name="Your workspaces")).to_be_visible()
    with httpx.Client(base_url=session_node.api, timeout=30) as http:
        login = http.post("/auth/login", json={"email": email, "password": PASSWORD}).json()
    delete_account(session_node, login["user"]["id"])
    _shows_sign_in(board.page, "Your session has ended")


def test_a_logout_from_another_client_brings_the_sign_in_page_to_every_tab(
    session_node: RunningServer, new_context: Callable[[], BrowserContext]
) -> None:
    email = _email("eve")
    context = new_context()
    first = _board(context, session_node)
    first.sign_up("Eve", email, PASSWORD)
    first.create_workspace("Watched")
    second = _signed_in_tab(context, session_node)
    with httpx.Client(base_url=session_node.api, timeout=30) as http:
        # Another client signs out "everywhere else": the board's session ends on the server.
        login = http.post("/auth/login", json={"email": email, "password": PASSWORD}).json()
        auth = {"Authorization": f"Bearer {login['accessToken']}"}
        assert http.delete("/auth/sessions", headers=auth).status_code == 204
    for tab in (first, second):
        _shows_sign_in(tab.page, "Your session has ended")


RENEW_IN_A_LOOP = """async ([at, rounds]) => {
    const { TaskroomSession } = await import("/client/taskroom.js");
    const session = new TaskroomSession({ channel: null });
    window.__renewals = (async () => {
        await new Promise((resolve) => setTimeout(resolve, at - Date.now()));
        const outcomes = [];
        for (let i = 0; i < rounds; i++) {
            outcomes.push(await session.refresh().then(() => "renewed", (error) => error.code));
        }
        return outcomes;
    })();
}"""


def test_two_tabs_renewing_at_the_same_moment_take_turns_and_keep_the_session(
    session_node: RunningServer, new_context: Callable[[], BrowserContext]
) -> None:
    context = new_context()
    first = _board(context, session_node)
    first.sign_up("Fay", _email("fay"), PASSWORD)
    second = _signed_in_tab(context, session_node)
    # Both tabs start renewing in a loop at the same moment, with the one cookie they share. Without
    # the lock, one would soon present the token the other just spent, and the session would end.
    start_at = int(first.page.evaluate("() => Date.now()")) + 1000
    for tab in (first, second):
        tab.page.evaluate(RENEW_IN_A_LOOP, [start_at, 8])
    outcomes = [tab.page.evaluate("() => window.__renewals") for tab in (first, second)]
    assert outcomes == [["renewed"] * 8, ["renewed"] * 8]
    # The boards of both tabs are still signed in, and a new tab too.
    for tab in (first, second):
        expect(tab.page.get_by_role("heading", name="Your workspaces")).to_be_visible()
    _signed_in_tab(context, session_node)


def test_a_node_restarted_with_another_signing_key_renews_or_signs_out_never_reconnects_forever(
    tmp_path: Path, new_context: Callable[[], BrowserContext]
) -> None:
    database = f"sqlite:///{tmp_path / 'first.db'}"
    node = start_node(database, jwt_secret="the-first-signing-key-of-this-test-0123456789")
    port = node.port
    try:
        board = _board(new_context(), node)
        board.sign_up("Gus", _email("gus"), PASSWORD)
        board.create_workspace("Keys")
        # Another JWT_SECRET, the same database: the page's access token is refused (4401), but its
        # session is still there, so the renewal through the cookie gets a token of the new key.
        node.stop()
        node = start_node(database, port=port, jwt_secret="the-second-signing-key-of-this-test-012345678")
        board.add_task("Under the new key")
        expect(board.banner()).to_be_hidden(timeout=SIGN_IN_MS)
        # Another key and another database: no session of the page exists there. The refused token
        # and the refused renewal bring the sign-in page, not an endless "Reconnecting…".
        node.stop()
        node = start_node(
            f"sqlite:///{tmp_path / 'second.db'}",
            port=port,
            jwt_secret="the-third-signing-key-of-this-test-0123456789ab",
        )
        _shows_sign_in(board.page, "Your session has ended")
    finally:
        node.stop()
