"""The web pages, driven in headless Chromium against the real system: a GP refers, a
link worker connects the person to a group and records the outcome, a commissioner
reads the reports."""

from __future__ import annotations

import json
import random
import re
import string
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Page, expect

from services.directory.demo import DEMO_DIRECTORY
from tests.browser.conftest import PASSWORD, RunningSystem, sign_in

pytestmark = pytest.mark.browser

MATCHING_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class Person:
    """Someone new each test, so that duplicate detection never joins two tests' people."""

    given_name: str
    family_name: str
    nhs_number: str
    birth_date: str

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


def _new_person() -> Person:
    suffix = "".join(random.choices(string.ascii_lowercase, k=6))
    return Person(
        given_name=random.choice(["Margaret", "Winston", "Aisha", "Tomasz", "Grace", "Dev"]),
        family_name=f"Okafor-{suffix}",
        nhs_number=_valid_nhs_number(),
        birth_date=f"{random.randint(1930, 1990)}-{random.randint(1, 12):02d}-"
        f"{random.randint(1, 28):02d}",
    )


def _valid_nhs_number() -> str:
    while True:
        digits = [random.randint(0, 9) for _ in range(9)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        check = 0 if check == 11 else check
        if check != 10:
            return "".join(map(str, [*digits, check]))


def _fill_referral(page: Page, person: Person, nhs_number: str | None = None) -> None:
    page.get_by_label("First name").fill(person.given_name)
    page.get_by_label("Last name").fill(person.family_name)
    page.get_by_label("NHS number").fill(nhs_number or person.nhs_number)
    year, month, day = person.birth_date.split("-")
    birth = page.get_by_role("group", name="Date of birth")
    birth.get_by_label("Day").fill(day.lstrip("0"))
    birth.get_by_label("Month").fill(month.lstrip("0"))
    birth.get_by_label("Year").fill(year)
    page.get_by_label("Female").check()
    page.get_by_label("Postcode").fill("DA5 1GP")
    page.get_by_label("Phone number").fill("020 7946 0018")
    page.get_by_label("Step-free access").check()
    page.get_by_label("Bereavement", exact=True).check()
    page.get_by_label("Their needs, in your words").fill(
        "lonely since her husband died in March, struggling with bereavement, loves gardening"
    )
    page.get_by_label("They agreed to be referred").check()
    page.get_by_label("They agreed their contact details").check()


def test_a_gp_refers_someone_through_the_form_and_sees_it_in_their_list(
    page: Page, running_system: RunningSystem
):
    sign_in(page, running_system, "gp")
    expect(page).to_have_url(f"{running_system.referrals}/referrals")
    page.get_by_role("link", name="Refer someone").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Refer someone")
    person = _new_person()
    _fill_referral(page, person)
    page.screenshot(path=running_system.screenshots / "referral_form.png", full_page=True)
    page.get_by_role("button", name="Send referral").click()

    expect(page.get_by_role("heading", name=f"Referral sent for {person.name}")).to_be_visible()
    expect(page.locator("#submitted")).to_contain_text("will contact")
    expect(page.locator("#submitted")).to_contain_text("within 2 weeks")
    row = page.get_by_role("row").filter(has_text=person.name)
    expect(row).to_be_visible()
    expect(row).to_contain_text("routine")
    page.screenshot(path=running_system.screenshots / "practice_referrals.png", full_page=True)

    row.get_by_role("link", name=person.name).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(person.name)
    expect(page.locator("#about")).to_contain_text(person.nhs_number[:3])
    expect(page.get_by_role("button", name="Close referral")).to_have_count(0)  # read-only

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(f"{running_system.referrals}/referrals")
    expect(page).to_have_url(f"{running_system.referrals}/")


def test_a_bad_nhs_number_is_shown_next_to_its_field(page: Page, running_system: RunningSystem):
    sign_in(page, running_system, "gp")
    page.goto(f"{running_system.referrals}/referrals/new")
    _fill_referral(page, _new_person(), nhs_number="1234567890")
    page.get_by_role("button", name="Send referral").click()

    field_error = page.locator('[data-field="nhs_number"] .field-error')
    expect(field_error).to_be_visible()
    expect(field_error).to_have_text("Error: Enter a valid 10-digit NHS number")
    expect(page.get_by_label("NHS number")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("alert")).to_contain_text("There is a problem")
    page.screenshot(path=running_system.screenshots / "referral_form_error.png", full_page=True)
    expect(page).to_have_url(f"{running_system.referrals}/referrals/new")


def _refer_through_the_api(system: RunningSystem, person: Person) -> str:
    with httpx.Client(base_url=system.referrals, timeout=10) as client:
        login = client.post("/auth/token", data={"username": "gp", "password": PASSWORD})
        token = login.raise_for_status().json()["access_token"]
        answer = client.post(
            "/referrals",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "given_name": person.given_name,
                "family_name": person.family_name,
                "nhs_number": person.nhs_number,
                "birth_date": person.birth_date,
                "gender": "female",
                "postcode": "DA5 1GP",
                "phone": "020 7946 0018",
                "needs": "lonely since husband died, loves gardening, would like to get out more",
                "consent_to_refer": True,
                "consent_to_share": True,
            },
        )
        assert answer.status_code == 201, answer.text  # 200 would be a duplicate
        return answer.json()["id"]


def test_a_link_worker_confirms_a_proposal_and_records_that_they_attended(
    page: Page, running_system: RunningSystem
):
    person = _new_person()
    _refer_through_the_api(running_system, person)

    sign_in(page, running_system, "linkworker")
    expect(page).to_have_url(f"{running_system.referrals}/worklist")
    link = page.get_by_role("link", name=person.name)
    expect(link).to_be_visible()
    page.screenshot(path=running_system.screenshots / "worklist.png", full_page=True)
    link.click()

    expect(page.get_by_role("heading", level=1)).to_have_text(person.name)
    first = page.locator("#proposals li.card").first
    expect(first).to_be_visible(timeout=MATCHING_TIMEOUT_MS)
    expect(page.locator("#matching")).to_be_hidden()
    expect(first).to_contain_text("Score")
    expect(first.locator("details.breakdown summary")).to_have_text("How the score is made")
    service_name = first.get_by_role("heading").inner_text().strip()
    page.screenshot(path=running_system.screenshots / "referral_proposals.png", full_page=True)

    first.get_by_role("button", name="Confirm as referral").click()
    connection = page.locator("#connections li.card").filter(has_text=service_name)
    expect(connection).to_be_visible()
    expect(page.locator("#about")).to_contain_text("Connected to a group")

    connection.get_by_label(f"Outcome for {service_name}").select_option("attended")
    connection.get_by_role("button", name="Record outcome").click()
    expect(page.locator("#message")).to_contain_text("Outcome recorded")
    expect(connection.locator(".outcome")).to_have_text("Attended")
    page.screenshot(path=running_system.screenshots / "referral_connected.png", full_page=True)

    page.get_by_label("Search the directory").fill("garden")
    page.get_by_role("button", name="Search", exact=True).click()
    found = page.locator("#search-results li.card")
    expect(found.first).to_be_visible()
    expect(found.first.get_by_role("button", name="Confirm as signposting")).to_be_visible()
    # places in words, never a number a link worker could subtract from the capacity
    places = re.compile("places available this week|few places this week|full this week")
    expect(found.first.locator(".meta")).to_contain_text(places)
    expect(found.first.locator(".meta")).not_to_contain_text(re.compile(r"\d+ places free"))


def test_anyone_signed_in_can_search_the_directory(page: Page, running_system: RunningSystem):
    page.goto(f"{running_system.referrals}/")
    page.screenshot(path=running_system.screenshots / "sign_in.png")
    sign_in(page, running_system, "gp")
    page.get_by_role("link", name="Directory").click()
    expect(page).to_have_url(f"{running_system.directory}/")
    expect(page.locator("#results li.card").first).to_be_visible()
    page.get_by_label("Words").fill("walk")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#search-status")).to_contain_text("service")
    expect(page.locator("#results li.card").first).to_contain_text(re.compile("walk", re.I))
    page.screenshot(path=running_system.screenshots / "directory.png")


def test_the_directory_asks_people_who_are_not_signed_in_to_sign_in(
    page: Page, running_system: RunningSystem
):
    page.goto(f"{running_system.directory}/")
    sign_in_link = page.get_by_role("link", name="Sign in")
    expect(sign_in_link).to_have_attribute("href", f"{running_system.referrals}/")


def test_pages_leave_the_json_api_on_the_same_paths(running_system: RunningSystem):
    with httpx.Client(base_url=running_system.referrals, timeout=10) as client:
        login = client.post("/auth/token", data={"username": "gp", "password": PASSWORD})
        token = login.raise_for_status().json()["access_token"]
        answer = client.get("/referrals", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert isinstance(answer.json(), list)


def _an_organisation_with_services() -> str:
    directory = json.loads(DEMO_DIRECTORY.read_text())
    return next(o["id"] for o in directory["organisations"] if o["services"])


def test_a_group_member_keeps_their_services_up_to_date(page: Page, running_system: RunningSystem):
    username = running_system.add_user(
        "group_member", organisation_id=_an_organisation_with_services()
    )
    sign_in(page, running_system, username)
    expect(page).to_have_url(f"{running_system.directory}/my-services")
    first = page.locator("#services li.service").first
    expect(first).to_be_visible()

    first.get_by_role("button", name="still accurate").click()
    expect(first.get_by_role("status")).to_contain_text("still accurate")

    first.get_by_text("Change this service").click()
    first.get_by_label("Postcode").fill("12345")
    first.get_by_role("button", name="Save changes").click()
    expect(first.locator('[data-field="location.postcode"] .field-error')).to_contain_text(
        "not a UK postcode"
    )
    page.screenshot(path=running_system.screenshots / "my_services.png")

    first.get_by_label("Postcode").fill("DA14 6BT")
    first.get_by_label("Places a week").fill("12")
    first.get_by_role("button", name="Save changes").click()
    expect(first.get_by_role("status")).to_contain_text("Saved")
    expect(first.locator(".service-facts")).to_contain_text("of 12 places free")

    first.get_by_label("Places each week").fill("8")  # in one step, without the long form
    first.get_by_role("button", name="Save places").click()
    expect(first.get_by_role("status")).to_contain_text("Saved")
    expect(first.get_by_role("status")).to_be_focused()
    expect(first.locator(".service-facts")).to_contain_text("of 8 places free")
