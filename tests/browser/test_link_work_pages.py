"""A referral's whole journey through the link-work pages, in headless Chromium: a link
worker takes it, fails to reach the person three times (the worklist flags it), reaches
them, measures their wellbeing and refers them to a group; the group accepts; the link
worker records the outcome and the follow-up wellbeing and closes it; the GP reads the
message back."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PASSWORD, RunningSystem, sign_in
from tests.browser.test_pages import MATCHING_TIMEOUT_MS, _new_person, _refer_through_the_api

pytestmark = pytest.mark.browser

ONS4 = {
    "life_satisfaction": "Overall, how satisfied are you with your life nowadays?",
    "worthwhile": "Overall, to what extent do you feel that the things you do in your life "
    "are worthwhile?",
    "happiness": "Overall, how happy did you feel yesterday?",
    "anxiety": "overall, how anxious did you feel yesterday?",
}


def _new_page(browser: Browser, system: RunningSystem, username: str) -> Page:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    sign_in(page, system, username)
    return page


def _log_attempt(page: Page, result: str) -> None:
    form = page.locator("#contact-form")
    form.get_by_label("How").select_option("phone")
    form.get_by_label("Result").select_option(label=result)
    form.get_by_role("button", name="Log attempt").click()
    expect(page.locator("#message")).to_contain_text(f"Contact attempt logged: {result}")


def _record_wellbeing(
    page: Page,
    scores: dict[str, int],
    swemwbs: list[int] | None = None,
    screenshot: Path | None = None,
) -> None:
    form = page.locator("#wellbeing-form")
    for item, score in scores.items():
        form.get_by_role("group", name=ONS4[item]).get_by_label(str(score), exact=True).check()
    if swemwbs:
        form.get_by_text("Add the SWEMWBS (optional)").click()
        for statement, answer in zip(
            form.locator("fieldset.statement").all(), swemwbs, strict=True
        ):
            statement.locator(f'input[value="{answer}"]').check()
    if screenshot:
        form.screenshot(path=screenshot)
    form.get_by_role("button", name="Record wellbeing").click()


def _organisation_of_connection(system: RunningSystem, referral_id: str) -> str:
    with httpx.Client(base_url=system.referrals, timeout=10) as client:
        login = client.post("/auth/token", data={"username": "linkworker", "password": PASSWORD})
        token = login.raise_for_status().json()["access_token"]
        referral = client.get(
            f"/referrals/{referral_id}", headers={"Authorization": f"Bearer {token}"}
        )
    (connection,) = referral.raise_for_status().json()["connections"]
    assert connection["organisation_id"], "the proposal should carry its organisation"
    return connection["organisation_id"]


def test_a_referral_goes_from_first_contact_to_the_message_back_to_the_gp(
    page: Page, browser: Browser, running_system: RunningSystem
):
    system = running_system
    person = _new_person()
    referral_id = _refer_through_the_api(system, person)

    # The link worker takes the referral and cannot reach the person three times.
    sign_in(page, system, "linkworker")
    expect(page.locator("#my-caseload")).to_contain_text("against the guidance of 200\u2013250")
    page.get_by_role("link", name=person.name).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(person.name)
    page.get_by_role("button", name="Take this referral").click()
    expect(page.locator("#assigned-to")).to_contain_text("(you)")
    expect(page.get_by_role("button", name="Take this referral")).to_be_hidden()
    for _ in range(3):
        _log_attempt(page, "No answer")
    expect(page.locator("#attempts tbody tr")).to_have_count(3)
    expect(page.locator("#contact-flag")).to_contain_text("3 contact attempts without reaching")

    page.get_by_role("link", name="Worklist", exact=True).click()
    row = page.locator("#referral-list tbody tr").filter(has_text=person.name)
    expect(row).to_have_class("flagged")
    expect(row).to_contain_text("Flagged 3 contact attempts without reaching the person")
    expect(row).to_contain_text("You")
    page.screenshot(path=system.screenshots / "worklist_flagged.png", full_page=True)

    # Reached at last: the flag goes, wellbeing at first contact, a referral to a group.
    row.get_by_role("link", name=person.name).click()
    _log_attempt(page, "Reached them")
    expect(page.locator("#contact-flag")).to_be_hidden()
    expect(page.locator("#about")).to_contain_text("Link worker contacting them")
    page.get_by_role("button", name="Record wellbeing").click()
    expect(page.locator('[data-field="ons4.life_satisfaction"] .field-error')).to_contain_text(
        "Answer “Overall, how satisfied are you with your life nowadays?”"
    )
    _record_wellbeing(
        page,
        {"life_satisfaction": 4, "worthwhile": 5, "happiness": 3, "anxiety": 8},
        swemwbs=[2, 3, 2, 3, 3, 2, 3],
        screenshot=system.screenshots / "wellbeing_form.png",
    )
    expect(page.locator("#message")).to_contain_text("Wellbeing at first contact recorded")
    scores = page.locator("#wellbeing-scores")
    expect(scores.locator('tr[data-item="life_satisfaction"] .first')).to_have_text("4")
    expect(page.locator("#wellbeing-form-heading")).to_have_text("Record wellbeing at follow-up")

    first = page.locator("#proposals li.card").first
    expect(first).to_be_visible(timeout=MATCHING_TIMEOUT_MS)
    service_name = first.get_by_role("heading").inner_text().strip()
    first.get_by_role("button", name="Confirm as referral").click()
    connection = page.locator("#connections li.card").filter(has_text=service_name)
    expect(connection).to_contain_text("waiting for the group")

    # A member of the service's organisation sees it, with contact details, and accepts.
    organisation_id = _organisation_of_connection(system, referral_id)
    group_page = _new_page(
        browser, system, system.add_user("group_member", organisation_id=organisation_id)
    )
    expect(group_page).to_have_url(f"{system.directory}/my-services")
    group_page.get_by_role("link", name="Referrals to us").click()
    expect(group_page).to_have_url(f"{system.referrals}/group")
    line = group_page.locator("#group-referrals tbody tr").filter(has_text=service_name)
    expect(line).to_contain_text("Waiting for your answer")
    line.get_by_role("link", name=f"Referral for {person.given_name}").click()
    expect(group_page.get_by_role("heading", level=1)).to_have_text(person.name)
    expect(group_page.locator("#details")).to_contain_text("Phone: 020 7946 0018")
    group_page.get_by_role("button", name="Decline").click()
    expect(group_page.locator('[data-field="reason"] .field-error')).to_contain_text("say why")
    group_page.screenshot(path=system.screenshots / "group_referral.png", full_page=True)
    group_page.get_by_role("button", name="Accept this referral").click()
    expect(group_page.locator("#answer-given")).to_contain_text("You accepted this referral")
    # the group says the person came, as the link worker would
    group_page.get_by_role("button", name="They came").click()
    expect(group_page.locator("#message")).to_contain_text("Recorded: they came")
    expect(group_page.locator("#details")).to_contain_text("Outcome")
    expect(group_page.locator("#details")).to_contain_text("attended")
    group_page.context.close()

    # Back with the link worker: the group's answer, the outcome, follow-up, closing.
    page.reload()
    expect(connection.locator(".group-answer")).to_contain_text("Accepted")
    expect(connection.locator(".outcome")).to_have_text("Attended")  # as the group recorded it
    _record_wellbeing(page, {"life_satisfaction": 7, "worthwhile": 6, "happiness": 6, "anxiety": 5})
    expect(page.locator("#message")).to_contain_text("Wellbeing at follow-up recorded")
    satisfaction = scores.locator('tr[data-item="life_satisfaction"]')
    expect(satisfaction.locator(".follow-up")).to_have_text("7")
    expect(satisfaction.locator(".change")).to_have_text("+3 (better)")
    expect(scores.locator('tr[data-item="anxiety"] .change')).to_have_text("\u22123 (better)")
    expect(page.locator("#wellbeing-form")).to_be_hidden()
    page.screenshot(path=system.screenshots / "referral_link_work.png", full_page=True)
    page.get_by_label("Reason for closing").fill("Settled in at the group")
    page.get_by_role("button", name="Close referral").click()
    page.get_by_role("dialog", name="Close this referral?").get_by_role(
        "button", name="Yes, close it"
    ).click()
    expect(page.locator("#about")).to_contain_text("Closed")

    # The GP reads what became of it.
    gp_page = _new_page(browser, system, "gp")
    gp_page.goto(f"{system.referrals}/referrals/{referral_id}")
    message = gp_page.locator("#gp-message-text")
    expect(message).to_contain_text("Social prescribing: Referral to social prescribing service")
    expect(message).to_contain_text(f"{service_name}: attended")
    expect(message).to_contain_text("ONS4 life satisfaction: 4 -> 7 (+3, improved)")
    expect(gp_page.locator("#gp-message-fhir")).to_be_hidden()
    gp_page.get_by_text("FHIR", exact=True).click()
    expect(gp_page.locator("#gp-message-fhir")).to_contain_text('"resourceType": "Composition"')
    gp_page.screenshot(path=system.screenshots / "gp_message.png", full_page=True)
    gp_page.context.close()


def test_the_worklist_page_leaves_the_json_worklist_on_the_same_path(
    running_system: RunningSystem,
):
    with httpx.Client(base_url=running_system.referrals, timeout=10) as client:
        login = client.post("/auth/token", data={"username": "linkworker", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {login.raise_for_status().json()['access_token']}"}
        answer = client.get("/worklist", headers=headers)
        page = client.get("/worklist", headers={**headers, "Accept": "text/html"})
    assert answer.headers["content-type"].startswith("application/json")
    assert isinstance(answer.json(), list)
    assert page.headers["content-type"].startswith("text/html")


def test_acting_on_a_referral_takes_it_and_says_so_beside_the_action(
    page: Page, running_system: RunningSystem
):
    person = _new_person()
    referral_id = _refer_through_the_api(running_system, person)
    sign_in(page, running_system, "linkworker")
    page.goto(f"{running_system.referrals}/referrals/{referral_id}")
    summary = page.locator("#summary")
    expect(summary).to_contain_text(person.name)
    expect(summary).to_contain_text("nobody has taken it yet")
    expect(summary.get_by_role("link", name="Try to reach them")).to_have_attribute(
        "href", "#contact"
    )

    _log_attempt(page, "No answer")
    message = page.locator("#contact-form + #message")
    expect(message).to_contain_text("Contact attempt logged: No answer")
    expect(message).to_be_focused()
    expect(summary).to_contain_text("with you")
    expect(summary).to_contain_text("Link worker contacting them")
    page.screenshot(path=running_system.screenshots / "referral_summary.png")

    page.goto(f"{running_system.referrals}/worklist")
    page.get_by_label("Name or NHS number").fill(person.family_name)
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#referral-list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("lonely since husband died")  # the needs snippet
    expect(rows.first).to_contain_text("G83001")
    expect(rows.first).to_contain_text("You")
    page.get_by_label("Name or NHS number").fill("")
    page.get_by_label("Mine only").check()
    expect(page.locator("#list-status")).not_to_contain_text("Loading")
    for worker in page.locator("#referral-list tbody tr td:last-child").all_inner_texts():
        assert worker == "You"


def test_a_half_filled_wellbeing_form_names_every_missing_answer(
    page: Page, running_system: RunningSystem
):
    referral_id = _refer_through_the_api(running_system, _new_person())
    sign_in(page, running_system, "linkworker")
    page.goto(f"{running_system.referrals}/referrals/{referral_id}")
    form = page.locator("#wellbeing-form")
    form.get_by_role("group", name=ONS4["life_satisfaction"]).get_by_label("5", exact=True).check()
    form.get_by_role("group", name=ONS4["anxiety"]).get_by_label("6", exact=True).check()
    form.get_by_text("Add the SWEMWBS (optional)").click()
    form.locator("fieldset.statement").first.locator('input[value="3"]').check()
    form.get_by_role("button", name="Record wellbeing").click()

    errors = page.locator("#wellbeing-errors li")
    expect(errors).to_have_count(2 + 6)
    expect(errors.nth(0)).to_contain_text(ONS4["worthwhile"])
    expect(errors.nth(1)).to_contain_text(ONS4["happiness"])
    expect(errors.nth(2)).to_contain_text("I've been feeling useful")
    expect(page.locator("#wellbeing-errors")).to_be_focused()
