"""GP practice staff on a busy day: consent first, the date of birth in three fields,
every problem named at once in the NHS design system's words, a confirmation that
names the person and says when they will be contacted, and the practice list marking
messages back that nobody has read."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, RunningSystem, sign_in
from tests.browser.test_pages import _fill_referral, _new_person, _refer_through_the_api

pytestmark = pytest.mark.browser


def test_an_empty_form_names_every_problem_at_once_in_plain_english(
    page: Page, running_system: RunningSystem
):
    sign_in(page, running_system, "gp")
    page.goto(f"{running_system.referrals}/referrals/new")
    first_group = page.locator("#referral-form fieldset").first
    expect(first_group).to_contain_text("Have they agreed to be referred?")
    page.get_by_role("button", name="Send referral").click()

    summary = page.get_by_role("alert")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("listitem")).to_have_text(
        [
            "Confirm they agreed to be referred",
            "Enter their first name",
            "Enter their last name",
            "Enter their NHS number",
            "Enter their date of birth",
            "Enter their postcode",
            "Enter a phone number, or choose another way to contact them",
            "Describe their needs in a few words",
        ]
    )
    expect(page.locator('[data-field="given_name"] .field-error')).to_have_text(
        "Error: Enter their first name"
    )
    expect(page.get_by_label("First name")).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=running_system.screenshots / "referral_form_errors.png", full_page=True)


def test_the_apis_refusals_are_shown_in_the_pages_words(page: Page, running_system: RunningSystem):
    sign_in(page, running_system, "gp")
    page.goto(f"{running_system.referrals}/referrals/new")
    _fill_referral(page, _new_person())
    page.get_by_label("Postcode").fill("12345")
    page.get_by_label("Email address").fill("margaret@")
    page.get_by_role("button", name="Send referral").click()
    items = page.get_by_role("alert").get_by_role("listitem")
    expect(items).to_have_text(
        [
            "Enter a real postcode, like DA5 1GP",
            "Enter an email address in the correct format, like name@example.com",
        ]
    )
    expect(page.get_by_role("alert")).not_to_contain_text("String should")


def test_phone_is_not_optional_when_they_want_a_phone_call(
    page: Page, running_system: RunningSystem
):
    sign_in(page, running_system, "gp")
    page.goto(f"{running_system.referrals}/referrals/new")
    phone = page.locator('label[for="phone"]')
    email = page.locator('label[for="email"]')
    expect(phone).to_have_text("Phone number")
    expect(email).to_have_text("Email address (optional)")
    page.get_by_label("Email", exact=True).check()
    expect(phone).to_have_text("Phone number (optional)")
    expect(email).to_have_text("Email address")
    page.get_by_role("button", name="Send referral").click()
    expect(page.get_by_role("alert")).to_contain_text("Enter an email address, or choose another")


def test_the_practice_list_marks_messages_back_nobody_has_read(
    page: Page, running_system: RunningSystem
):
    s = running_system
    person = _new_person()
    referral_id = _refer_through_the_api(s, person)
    token = httpx.post(
        timeout=30,
        url=f"{s.referrals}/auth/token",
        data={"username": "linkworker", "password": PASSWORD},
    ).json()["access_token"]
    closed = httpx.post(
        timeout=30,
        url=f"{s.referrals}/referrals/{referral_id}/close",
        headers={"Authorization": f"Bearer {token}"},
        json={"reason": "They moved away"},
    )
    assert closed.status_code == 200, closed.text

    sign_in(page, s, "gp")
    row = page.locator("#referral-list tbody tr").filter(has_text=person.name)
    expect(row).to_have_class("unread")
    expect(row).to_contain_text("New message back")
    page.screenshot(path=s.screenshots / "practice_referrals_unread.png", full_page=True)
    row.get_by_role("link", name=person.name).click()
    expect(page.locator("#gp-message-text")).to_contain_text("Overall: no outcome recorded")
    page.get_by_role("link", name="Our referrals", exact=True).click()
    expect(row).not_to_contain_text("New message back")
