"""Invitation links on the board (PROTOCOL §5.4): someone with no account follows one, signs up and
lands in the workspace; an admin makes and withdraws links in the members panel."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from playwright.sync_api import expect

from tests.browser.pages import LIVE_MS, BoardPage

PASSWORD = "correct horse battery"


def _email(name: str) -> str:
    return f"{name.lower()}.{uuid.uuid4().hex[:8]}@example.test"


def _invite_link(admin: BoardPage, email: str, button: str) -> str:
    """The link the members panel shows after inviting `email` with the given button."""
    admin.page.locator("#members-panel summary").click()
    admin.page.get_by_label("Invite by email").fill(email)
    admin.page.get_by_label("Role").select_option("member")
    admin.page.get_by_role("button", name=button, exact=True).click()
    field = admin.page.get_by_label(f"Link for {email}")
    expect(field).to_have_value(re.compile(rf"^{re.escape(admin.base_url)}/#/invite/tri_[A-Za-z0-9_-]+$"))
    return field.input_value()


def test_someone_without_an_account_follows_the_link_signs_up_and_lands_in_the_workspace(
    open_page: Callable[..., BoardPage],
) -> None:
    ada = open_page("ada")
    ada.sign_up("Ada Lovelace", _email("ada"), PASSWORD)
    ada.create_workspace("Launch")
    newcomer_email = _email("cy")
    # Nobody has this address yet: Invite makes a link instead of adding an account.
    link = _invite_link(ada, newcomer_email, "Invite")
    pending = ada.page.locator("#invitation-list")
    expect(pending).to_contain_text(newcomer_email)

    cy = open_page("cy")
    cy.page.goto(link)
    expect(cy.page.locator("#invite-notice")).to_be_visible()
    form = cy.page.locator("#sign-up-form")
    form.get_by_label("Name").fill("Cy Newcomer")
    form.get_by_label("Email").fill(newcomer_email.upper())
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign up").click()

    expect(cy.page.get_by_role("heading", name="Launch", exact=True)).to_be_visible()
    assert "/invite/" not in cy.page.url  # the used link is not left in the address bar
    expect(cy.page.locator("#member-list")).to_contain_text("Ada Lovelace")
    # Ada's open board hears of the new member at once.
    expect(ada.page.locator("#member-list")).to_contain_text("Cy Newcomer", timeout=LIVE_MS)
    expect(pending).to_be_hidden(timeout=LIVE_MS)  # no longer pending
    expect(ada.page.locator("#invite-link-box")).to_be_hidden()
    expect(cy.page.locator('#presence .avatar[title^="Ada Lovelace"]')).to_be_visible(timeout=LIVE_MS)
    ada.add_task("Welcome Cy")
    expect(cy.card("Welcome Cy")).to_be_visible(timeout=LIVE_MS)

    # The link worked once: following it again says so and opens the workspace list.
    cy.page.goto(link)
    expect(cy.page.locator("#error")).to_contain_text("used already")
    expect(cy.page.get_by_role("heading", name="Your workspaces")).to_be_visible()
    expect(cy.page.get_by_role("link", name="Launch", exact=True)).to_be_visible()


def test_a_withdrawn_link_tells_the_person_and_another_account_is_told_to_switch(
    open_page: Callable[..., BoardPage],
) -> None:
    ada = open_page("ada")
    ada.sign_up("Ada Lovelace", _email("ada"), PASSWORD)
    ada.create_workspace("Secret plans")
    invited = _email("dee")
    link = _invite_link(ada, invited, "Create link")

    eve = open_page("eve")
    eve.sign_up("Eve Other", _email("eve"), PASSWORD)
    eve.page.goto(link)
    expect(eve.page.locator("#error")).to_contain_text("sent to another email address")
    expect(eve.page.get_by_role("heading", name="Your workspaces")).to_be_visible()
    expect(eve.page.get_by_role("link", name="Secret plans")).to_have_count(0)

    ada.page.get_by_role("button", name=f"Withdraw the invitation for {invited}").click()
    expect(ada.page.locator("#invitation-list")).to_be_hidden()
    dee = open_page("dee")
    dee.page.goto(link)
    form = dee.page.locator("#sign-up-form")
    form.get_by_label("Name").fill("Dee")
    form.get_by_label("Email").fill(invited)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign up").click()
    expect(dee.page.locator("#error")).to_contain_text("withdrawn")
    expect(dee.page.get_by_role("heading", name="Your workspaces")).to_be_visible()
    expect(dee.page.locator("#no-workspaces")).to_be_visible()
