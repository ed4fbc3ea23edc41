"""Groups in the pages: places in one click on each service card (and changed again), the
list fitting a phone, and closing the loop on a referral: accept, record what happened and
correct it, decline with a reason, and declining because full leads to the places control."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PASSWORD, PHONE, RunningSystem, new_page, sign_in
from tests.browser.test_pages import _new_person, _refer_through_the_api

pytestmark = pytest.mark.browser

PLACES_ORG = "org-cray-conservation"
PLACES_SERVICE, PLACES_NAME = "svc-cc-work-party", "Marshes work party"
OUTCOMES_ORG = "org-hall-place-volunteers"
OUTCOMES_SERVICE, OUTCOMES_NAME = "svc-hpg-volunteers", "Garden volunteering"


def _token(client: httpx.Client, username: str) -> dict[str, str]:
    login = client.post("/auth/token", data={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {login.raise_for_status().json()['access_token']}"}


def _connect(system: RunningSystem, service_id: str) -> tuple[str, str]:
    """A new person referred, and connected to ``service_id`` by the link worker."""
    referral_id = _refer_through_the_api(system, _new_person())
    with httpx.Client(base_url=system.referrals, timeout=10) as client:
        answer = client.post(
            f"/referrals/{referral_id}/connections",
            headers=_token(client, "linkworker"),
            json={"service_id": service_id, "mode": "referral"},
        )
    assert answer.status_code == 201, answer.text
    return referral_id, answer.json()["connection_id"]


def _connection(system: RunningSystem, referral_id: str) -> dict:
    with httpx.Client(base_url=system.referrals, timeout=10) as client:
        answer = client.get(f"/referrals/{referral_id}", headers=_token(client, "linkworker"))
    (connection,) = answer.raise_for_status().json()["connections"]
    return connection


def _availability(system: RunningSystem, service_id: str) -> str:
    with httpx.Client(base_url=system.referrals, timeout=10) as client:
        headers = _token(client, "linkworker")
    with httpx.Client(base_url=system.directory, timeout=10) as client:
        return client.get(f"/services/{service_id}", headers=headers).json()["availability"]


def _set_places_left(system: RunningSystem, service_id: str, organisation_id: str) -> None:
    with httpx.Client(base_url=system.referrals, timeout=10) as client:
        user = system.add_user("group_member", organisation_id=organisation_id)
        headers = _token(client, user)
    with httpx.Client(base_url=system.directory, timeout=10) as client:
        answer = client.post(
            f"/services/{service_id}/places", headers=headers, json={"taking": "places_left"}
        )
    assert answer.status_code == 200, answer.text


def _fits(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px phone"


def test_a_group_says_full_waiting_list_or_places_left_in_one_click_on_a_phone(
    phone: Page, running_system: RunningSystem
):
    system = running_system
    sign_in(phone, system, system.add_user("group_member", organisation_id=PLACES_ORG))
    expect(phone).to_have_url(f"{system.directory}/my-services")
    card = phone.locator("#services li.service", has_text=PLACES_NAME)
    places_left = card.get_by_role("button", name=f"{PLACES_NAME}: Places left")
    full = card.get_by_role("button", name=f"{PLACES_NAME}: Full")
    waiting = card.get_by_role("button", name=f"{PLACES_NAME}: Waiting list")
    expect(places_left).to_have_attribute("aria-pressed", "true")
    _fits(phone)

    full.click()
    notice = card.get_by_role("status")
    expect(notice).to_contain_text("Saved: full")
    expect(notice).to_be_focused()
    expect(full).to_have_attribute("aria-pressed", "true")
    expect(places_left).to_have_attribute("aria-pressed", "false")
    expect(card.get_by_label("Places each week")).to_be_hidden()
    assert _availability(system, PLACES_SERVICE) == "full"
    phone.screenshot(path=system.screenshots / "group_places_phone.png", full_page=True)
    _fits(phone)

    phone.reload()  # the answer is kept, and can be changed
    expect(full).to_have_attribute("aria-pressed", "true")
    waiting.click()
    expect(notice).to_contain_text("Saved: waiting list only")
    expect(card.locator(".service-facts")).to_contain_text("waiting list only")
    assert _availability(system, PLACES_SERVICE) == "waiting list"

    places_left.click()
    expect(notice).to_contain_text("places free this week")
    card.get_by_label("Places each week").fill("9")
    card.get_by_role("button", name="Save places").click()
    expect(card.locator(".service-facts")).to_contain_text("of 9 places free this week")
    expect(places_left).to_have_attribute("aria-pressed", "true")
    assert _availability(system, PLACES_SERVICE) != "full"

    phone.goto(f"{system.referrals}/group")
    expect(phone.locator("#list-status")).not_to_have_text("Loading…")
    _fits(phone)


def test_a_group_records_what_happened_corrects_it_and_declines_with_a_reason(
    browser: Browser, running_system: RunningSystem
):
    system = running_system
    first_referral, first = _connect(system, OUTCOMES_SERVICE)
    second_referral, second = _connect(system, OUTCOMES_SERVICE)
    page = new_page(browser)
    sign_in(page, system, system.add_user("group_member", organisation_id=OUTCOMES_ORG))
    page.goto(f"{system.referrals}/group")
    expect(page.locator("#group-referrals")).to_contain_text(OUTCOMES_NAME)

    # the first: accepted, then what happened, corrected twice
    page.goto(f"{system.referrals}/group/connections/{first}")
    page.get_by_role("button", name="Accept this referral").click()
    expect(page.locator("#answer-given")).to_contain_text("You accepted this referral")
    message, details = page.locator("#message"), page.locator("#details")
    for button, said, stored in (
        ("They came", "they came", "attended"),
        ("They did not come", "they did not come", "did not attend"),
        ("They completed it", "they completed it", "completed"),
    ):
        page.get_by_role("button", name=button).click()
        expect(message).to_contain_text(f"Recorded: {said}")
        expect(details).to_contain_text(stored)
    connection = _connection(system, first_referral)
    assert connection["outcome"] == "completed" and connection["outcome_by_role"] == "group"

    # the second: declined with a reason, then the group changes its mind
    page.goto(f"{system.referrals}/group/connections/{second}")
    page.get_by_label("Why you cannot take them on").fill("Our Tuesday session is for members")
    page.get_by_role("button", name="Decline").click()
    expect(page.locator("#answer-given")).to_contain_text("Our Tuesday session is for members")
    assert _connection(system, second_referral)["group_response"] == "declined"
    page.get_by_role("button", name="Change your answer").click()
    page.get_by_role("button", name="Accept this referral").click()
    expect(page.locator("#answer-given")).to_contain_text("You accepted this referral")
    assert _connection(system, second_referral)["group_response"] == "accepted"

    # declining because full offers the one-click places control
    page.get_by_role("button", name="Change your answer").click()
    page.get_by_label("Why you cannot take them on").fill("We are full until January")
    page.get_by_label("Because we are full").check()
    page.get_by_role("button", name="Decline").click()
    offer = message.get_by_role("link", name="Mark the service full or waiting list")
    expect(offer).to_be_visible()
    page.screenshot(path=system.screenshots / "group_declined_full.png", full_page=True)
    offer.click()
    expect(page).to_have_url(f"{system.directory}/my-services")
    card = page.locator("#services li.service", has_text=OUTCOMES_NAME)
    card.get_by_role("button", name=f"{OUTCOMES_NAME}: Full").click()
    expect(card.get_by_role("status")).to_contain_text("Saved: full")
    assert _availability(system, OUTCOMES_SERVICE) == "full"
    _set_places_left(system, OUTCOMES_SERVICE, OUTCOMES_ORG)
    page.context.close()
