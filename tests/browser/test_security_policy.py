"""The node's Content-Security-Policy in Chromium: the board and the API docs work under it, and
no page reports a violation; nothing may frame the board.

Violations are gathered two ways: `securitypolicyviolation` events, listened for by a script that
runs before the page's own, and Chromium's console errors ("Refused to …").
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from playwright.sync_api import ConsoleMessage, Page, Response, expect

from tests.browser.conftest import RestartableNode
from tests.browser.pages import LIVE_MS, BoardPage
from tests.support.api import Api

PASSWORD = "correct horse battery"

LISTEN_FOR_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


class ViolationWatch:
    """Every CSP complaint of one page: its violation events and Chromium's console errors."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        self.policies: list[str | None] = []  # of each page loaded: a test under no policy proves nothing
        page.add_init_script(LISTEN_FOR_VIOLATIONS)
        page.on("console", self._on_console)
        page.on("response", self._on_response)
        page.on("pageerror", lambda error: self.console.append(f"page error: {error}"))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and (
            "Content Security Policy" in message.text or "Refused to" in message.text
        ):
            self.console.append(message.text)

    def _on_response(self, response: Response) -> None:
        if response.request.resource_type == "document":
            self.policies.append(response.headers.get("content-security-policy"))

    def events(self) -> list[Any]:
        return list(self.page.evaluate("window.__violations"))

    def assert_policy_applied(self) -> None:
        assert self.policies, "no page was loaded"
        assert all(policy and "frame-ancestors 'none'" in policy for policy in self.policies), self.policies

    def assert_none(self) -> None:
        self.assert_policy_applied()
        assert self.events() == []
        assert self.console == []


def test_the_board_works_under_its_policy(board_api: Api, open_page: Callable[..., BoardPage]) -> None:
    ada = open_page("ada")
    bo_page = open_page("bo")
    watches = [ViolationWatch(ada.page), ViolationWatch(bo_page.page)]
    ada_email = f"ada.{uuid.uuid4().hex[:8]}@example.test"

    # Ada signs up through the page and makes a workspace and a task in it.
    ada.sign_up("Ada Lovelace", ada_email, PASSWORD)
    ada.create_workspace("Secured")
    ada.add_task("Check the headers")

    # Bo joins: presence avatars, a cursor and the shared description (a Yjs WebSocket) all run.
    bo = board_api.register("Bo")
    ada.invite(bo.email, "member")
    expect(ada.page.locator("#member-list")).to_contain_text("Bo")
    bo_page.sign_in(bo.email, PASSWORD)
    bo_page.open_workspace("Secured")
    expect(ada.page.locator("#presence .avatar")).to_have_count(2, timeout=LIVE_MS)
    box = bo_page.page.locator("#board").bounding_box()
    assert box is not None
    bo_page.page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5, steps=4)
    expect(ada.page.locator(".cursor", has_text="Bo")).to_have_count(1, timeout=LIVE_MS)

    dialogs = [page.open_editor("Check the headers") for page in (ada, bo_page)]
    for dialog in dialogs:
        expect(dialog).to_contain_text("The description is shared", timeout=LIVE_MS)
    dialogs[0].get_by_label("Description").press_sequentially("Seen by both")
    expect(dialogs[1].get_by_label("Description")).to_have_value("Seen by both", timeout=LIVE_MS)

    for watch in watches:
        watch.assert_none()


def test_swagger_ui_renders_and_calls_the_api_with_no_violation(
    browser: Any, board_node: RestartableNode
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        watch = ViolationWatch(page)
        page.goto(f"{board_node.base_url}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Taskroom", timeout=LIVE_MS * 5)
        # Try one call from the page: Swagger UI fetches it from the node (connect-src).
        operation = page.locator(".opblock", has=page.locator('[data-path="/api/v1/ws/health"]'))
        operation.locator(".opblock-summary").first.click()
        operation.get_by_role("button", name="Try it out").click()
        operation.get_by_role("button", name="Execute").click()
        expect(operation.locator(".live-responses-table tr.response .response-col_status")).to_contain_text(
            "200"
        )
        watch.assert_none()
    finally:
        context.close()


def test_redoc_renders_with_no_violation(browser: Any, board_node: RestartableNode) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        watch = ViolationWatch(page)
        page.goto(f"{board_node.base_url}/redoc")
        expect(page.get_by_role("heading", name="Taskroom")).to_be_visible(timeout=LIVE_MS * 5)
        # ReDoc always shows its maker's logo from their CDN (and hides it when it fails to
        # load): the policy keeps the page from calling out to another site, and that is the
        # one thing it refuses.
        expect(page.get_by_alt_text("redocly logo")).to_have_count(0)
        watch.assert_policy_applied()
        assert watch.events() == ["img-src blocked https://cdn.redoc.ly/redoc/logo-mini.svg"]
        assert [text for text in watch.console if "cdn.redoc.ly" not in text] == []
    finally:
        context.close()


def test_another_site_cannot_frame_the_board(browser: Any, board_node: RestartableNode) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        # A page of another origin (about:blank's content set here) that frames the board.
        with page.expect_console_message(
            predicate=lambda message: "frame-ancestors" in message.text, timeout=LIVE_MS * 5
        ):
            page.set_content(f'<iframe id="board" src="{board_node.base_url}/"></iframe>')
        frame = page.frame_locator("#board")
        expect(frame.locator("#sign-up-form")).to_have_count(0)
    finally:
        context.close()
