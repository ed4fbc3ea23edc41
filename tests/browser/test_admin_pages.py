"""An administrator adds an account, resets its password and deactivates it, searches
the audit log for a referral, and finds moderation from "Our services"."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import RunningSystem, sign_in
from tests.browser.test_pages import _new_person, _refer_through_the_api

pytestmark = pytest.mark.browser


def test_an_administrator_manages_accounts_and_reads_the_audit_log(
    page: Page, running_system: RunningSystem
):
    s = running_system
    sign_in(page, s, "admin")
    page.get_by_role("link", name="Users").click()
    expect(page).to_have_url(f"{s.referrals}/admin/users")
    username = f"lw-{uuid.uuid4().hex[:6]}"
    page.get_by_text("Add a user").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Full name").fill("Robin Field")
    page.get_by_label("Link worker").check()
    page.get_by_label("First password").fill("a-long-enough-password")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator('[data-field="team"] .field-error')).to_contain_text("need a team")
    page.get_by_label("Team").fill("community-connect")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("#message")).to_contain_text(f"can now sign in as {username}")
    row = page.locator("#users tbody tr").filter(has_text=username)
    expect(row).to_contain_text("Link worker")

    row.get_by_role("button", name=f"Reset the password of {username}").click()
    expect(page.locator("#message")).to_contain_text(f"New password for {username}")
    row.get_by_role("button", name=f"Deactivate {username}").click()
    page.get_by_role("dialog").get_by_role("button", name="Yes, deactivate").click()
    expect(row).to_contain_text("Deactivated")
    page.screenshot(path=s.screenshots / "admin_users.png", full_page=True)

    person = _new_person()
    referral_id = _refer_through_the_api(s, person)
    page.goto(f"{s.referrals}/referrals/{referral_id}")  # reading it is audited
    expect(page.get_by_role("heading", level=1)).to_have_text(person.name)
    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Referral id").fill(referral_id)
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#entries tbody tr").first).to_be_visible()
    expect(page.locator("#list-status")).to_contain_text("newest first")
    page.screenshot(path=s.screenshots / "admin_audit.png", full_page=True)

    page.get_by_role("link", name="Our services").click()
    page.locator("#list-status").get_by_role("link", name="moderation").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Directory moderation")
    expect(page.get_by_role("heading", name="Reported entries")).to_be_visible()
