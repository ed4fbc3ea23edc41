"""Nothing irreversible happens by accident: no outcome is preselected, closing and
declining ask first and say what is unfinished, and the message to the GP claims no
outcome that nobody recorded. The practice's list is newest first, as it says."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import RunningSystem, new_page, sign_in
from tests.browser.test_pages import MATCHING_TIMEOUT_MS, _new_person, _refer_through_the_api

pytestmark = pytest.mark.browser


def _open_as_link_worker(page: Page, system: RunningSystem, referral_id: str) -> None:
    sign_in(page, system, "linkworker")
    page.goto(f"{system.referrals}/referrals/{referral_id}")
    expect(page.locator("#proposals li.card").first).to_be_visible(timeout=MATCHING_TIMEOUT_MS)


def test_an_outcome_is_recorded_only_when_someone_chooses_one(
    page: Page, running_system: RunningSystem
):
    referral_id = _refer_through_the_api(running_system, _new_person())
    _open_as_link_worker(page, running_system, referral_id)
    first = page.locator("#proposals li.card").first
    service_name = first.get_by_role("heading").inner_text().strip()
    first.get_by_role("button", name="Confirm as signposting").click()
    connection = page.locator("#connections li.card").filter(has_text=service_name)

    outcome = connection.get_by_label(f"Outcome for {service_name}")
    record = connection.get_by_role("button", name="Record outcome")
    expect(outcome).to_have_value("")
    expect(record).to_be_disabled()
    outcome.select_option("did_not_attend")
    expect(record).to_be_enabled()
    outcome.select_option("")
    expect(record).to_be_disabled()
    expect(connection.locator(".outcome")).to_have_text("not recorded yet")


def test_closing_an_unfinished_referral_asks_and_says_what_is_missing(
    page: Page, browser: Browser, running_system: RunningSystem
):
    system = running_system
    referral_id = _refer_through_the_api(system, _new_person())
    _open_as_link_worker(page, system, referral_id)
    first = page.locator("#proposals li.card").first
    service_name = first.get_by_role("heading").inner_text().strip()
    first.get_by_role("button", name="Confirm as referral").click()
    expect(page.locator("#connections li.card").filter(has_text=service_name)).to_be_visible()

    page.get_by_label("Reason for closing").fill("Moved out of the area")
    page.get_by_role("button", name="Close referral").click()
    dialog = page.get_by_role("dialog", name="This referral is not finished")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"{service_name} has not answered the referral")
    expect(dialog).to_contain_text(f"No outcome is recorded for {service_name}")
    page.screenshot(path=system.screenshots / "close_confirmation.png")
    dialog.get_by_role("button", name="Go back").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Close referral")).to_be_focused()
    expect(page.locator("#about")).not_to_contain_text("Closed")

    page.get_by_role("button", name="Close referral").click()
    page.get_by_role("dialog").get_by_role("button", name="Close anyway").click()
    expect(page.locator("#about")).to_contain_text("Closed")

    gp = new_page(browser)
    sign_in(gp, system, "gp")
    gp.goto(f"{system.referrals}/referrals/{referral_id}")
    message = gp.locator("#gp-message-text")
    expect(message).to_contain_text(f"{service_name}: not recorded")
    expect(message).to_contain_text("Overall: no outcome recorded")
    gp.context.close()


def test_declining_proposals_asks_first(page: Page, running_system: RunningSystem):
    referral_id = _refer_through_the_api(running_system, _new_person())
    _open_as_link_worker(page, running_system, referral_id)
    cards = page.locator("#proposals li.card")
    name = cards.first.get_by_role("heading").inner_text().strip()
    cards.first.get_by_label(f"Select {name} to decline").check()
    page.get_by_label("Reason", exact=True).fill("Too far for them to travel")
    page.get_by_role("button", name="Decline", exact=True).click()
    dialog = page.get_by_role("dialog", name="Decline this proposal?")
    expect(dialog).to_contain_text(name)
    dialog.get_by_role("button", name="Go back").click()
    expect(cards.first).not_to_contain_text("Declined")

    page.get_by_role("button", name="Decline", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Yes, decline").click()
    expect(cards.first).to_contain_text("Declined: Too far for them to travel")


def test_the_practice_list_is_newest_first(page: Page, running_system: RunningSystem):
    older, newer = _new_person(), _new_person()
    _refer_through_the_api(running_system, older)
    _refer_through_the_api(running_system, newer)
    sign_in(page, running_system, "gp")
    names = page.locator("#referral-list tbody tr td:first-child")
    expect(names.first).to_be_visible()
    listed = names.all_inner_texts()
    assert listed.index(newer.name) < listed.index(older.name)
