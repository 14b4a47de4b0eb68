"""The board as a person uses it, for the browser tests: one `BoardPage` per signed-in person."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

# What "live" means in these tests: another person's change shows within this long. Playwright's
# `expect` polls until then, so this is a deadline for the page, not a measured time.
LIVE_MS = 2000
# A node restart: the client's back-off, the restart itself and the catch-up.
RECOVERY_MS = 30_000

COLUMN_NAMES = {"todo": "To do", "in_progress": "In progress", "done": "Done"}


class BoardPage:
    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url

    # --- signing in --------------------------------------------------------------------------------

    def sign_up(self, name: str, email: str, password: str) -> None:
        self.page.goto(self.base_url + "/")
        form = self.page.locator("#sign-up-form")
        form.get_by_label("Name").fill(name)
        form.get_by_label("Email").fill(email)
        form.get_by_label("Password").fill(password)
        form.get_by_role("button", name="Sign up").click()
        expect(self.page.get_by_role("heading", name="Your workspaces")).to_be_visible()

    def sign_in(self, email: str, password: str) -> None:
        self.page.goto(self.base_url + "/")
        form = self.page.locator("#sign-in-form")
        form.get_by_label("Email").fill(email)
        form.get_by_label("Password").fill(password)
        form.get_by_role("button", name="Sign in").click()
        expect(self.page.get_by_role("heading", name="Your workspaces")).to_be_visible()

    # --- workspaces --------------------------------------------------------------------------------

    def create_workspace(self, name: str) -> None:
        self.page.get_by_label("New workspace").fill(name)
        self.page.get_by_role("button", name="Create workspace").click()
        expect(self.page.get_by_role("heading", name=name, exact=True)).to_be_visible()

    def open_workspace(self, name: str) -> None:
        self.page.get_by_role("link", name=name, exact=True).click()
        expect(self.page.get_by_role("heading", name=name, exact=True)).to_be_visible()

    def invite(self, email: str, role: str) -> None:
        self.page.locator("#members-panel summary").click()
        self.page.get_by_label("Invite by email").fill(email)
        self.page.get_by_label("Role").select_option(role)
        self.page.get_by_role("button", name="Invite").click()

    # --- the board -----------------------------------------------------------------------------

    def column(self, status: str) -> Locator:
        return self.page.locator(f'section.column[data-status="{status}"]')

    def card(self, title: str) -> Locator:
        return self.page.locator(".card").filter(has=self.page.get_by_role("heading", name=title, exact=True))

    def titles_in(self, status: str) -> Locator:
        return self.column(status).locator(".card-title")

    def add_task(self, title: str, status: str = "todo") -> None:
        self.page.get_by_label("New task").fill(title)
        self.page.get_by_label("Column", exact=True).select_option(status)
        self.page.get_by_role("button", name="Add task").click()
        expect(
            self.column(status).locator(".card-title", has_text=re.compile(f"^{re.escape(title)}$"))
        ).to_be_visible()

    def open_editor(self, title: str) -> Locator:
        self.page.get_by_role("button", name=f"Edit {title}", exact=True).click()
        dialog = self.page.get_by_role("dialog", name="Edit task")
        expect(dialog).to_be_visible()
        return dialog

    def banner(self) -> Locator:
        return self.page.locator("#connection-banner")

    def avatar(self, user_id: str) -> Locator:
        return self.page.locator(f'#presence .avatar[data-user-id="{user_id}"]')
