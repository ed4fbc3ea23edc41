"""Fresh entries in the pages: a group answers a review that fell due in one click (still
running, paused, closed), and someone who finds an entry wrong reports it, which the group
and the administrators then see and deal with."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from services.directory import store
from tests.browser.conftest import PASSWORD, RunningSystem, sign_in

pytestmark = pytest.mark.browser

ORGANISATION = "org-sidcup-larder"
SERVICE = "svc-larder-cookalong"
NAME = "Cook-along Thursdays"


def _assured(running_system: RunningSystem, service_id: str, on: date) -> None:
    with running_system.directory_sessions.begin() as session:
        session.execute(
            update(store.services)
            .where(store.services.c.id == service_id)
            .values(last_confirmed=on, status="active", reopens_on=None)
        )


def test_a_group_sees_a_review_due_and_answers_paused_then_still_running(
    page: Page, running_system: RunningSystem
):
    _assured(running_system, SERVICE, date.today() - timedelta(days=400))
    username = running_system.add_user("group_member", organisation_id=ORGANISATION)
    sign_in(page, running_system, username)
    expect(page).to_have_url(f"{running_system.directory}/my-services")
    item = page.locator("#services li.service", has_text=NAME)
    review = item.locator(".review")
    expect(review).to_be_visible()
    expect(review).to_contain_text(f"Is {NAME} still running?")
    page.screenshot(path=running_system.screenshots / "review_due.png")

    item.get_by_role("button", name=f"{NAME}: Paused").click()
    expect(item.get_by_role("status")).to_contain_text("Marked as paused")
    expect(review).to_be_hidden()
    facts = item.locator(".service-facts")
    expect(facts).to_contain_text(f"last confirmed {date.today().day}")

    _assured(running_system, SERVICE, date.today() - timedelta(days=400))
    page.reload()
    item.get_by_role("button", name=f"{NAME}: Still running").click()
    expect(item.get_by_role("status")).to_contain_text("still running")
    expect(item.locator(".review")).to_be_hidden()


def test_a_link_worker_reports_an_entry_and_the_group_deals_with_it(
    browser, running_system: RunningSystem
):
    from tests.browser.conftest import new_page

    worker = new_page(browser)
    sign_in(worker, running_system, "linkworker")
    worker.goto(f"{running_system.directory}/")
    worker.get_by_label("Words").fill("cook-along")
    worker.get_by_role("button", name="Search").click()
    card = worker.locator("#results li.card", has_text=NAME)
    expect(card).to_be_visible()
    card.get_by_text(f"Report {NAME} as out of date or closed").click()
    card.get_by_label("What is wrong").select_option("closed")
    card.get_by_label("What you know").fill("The hall says the cook-along stopped in October.")
    card.get_by_role("button", name="Send report").click()
    card = worker.locator("#results li.card", has_text=NAME)
    expect(card.get_by_role("status")).to_contain_text("the organisation")
    expect(card.locator(".entry-reports")).to_contain_text("stopped in October")
    worker.screenshot(path=running_system.screenshots / "report_entry.png")

    group = new_page(browser)
    sign_in(
        group, running_system, running_system.add_user("group_member", organisation_id=ORGANISATION)
    )
    item = group.locator("#services li.service", has_text=NAME)
    reports = item.locator(".entry-reports")
    expect(reports).to_contain_text("Says it has closed")
    expect(reports).to_contain_text("stopped in October")
    reports.get_by_role("button", name="Dealt with").click()
    expect(item.get_by_role("status")).to_contain_text("resolved")
    expect(reports).to_be_hidden()

    worker.reload()
    worker.get_by_label("Words").fill("cook-along")
    worker.get_by_role("button", name="Search").click()
    card = worker.locator("#results li.card", has_text=NAME)
    expect(card).to_be_visible()
    expect(card.locator(".entry-reports")).to_have_count(0)
    worker.context.close()
    group.context.close()


CLOSING_ORG = "org-nheath-allotments"
CLOSING_SERVICE, CLOSING_NAME = "svc-allot-grow-together", "Grow Together shared plot"


def _as(running_system: RunningSystem, username: str) -> dict[str, str]:
    login = httpx.post(
        f"{running_system.referrals}/auth/token",
        data={"username": username, "password": PASSWORD},
        timeout=10,
    )
    return {"Authorization": f"Bearer {login.raise_for_status().json()['access_token']}"}


def test_a_group_answers_closed_and_the_entry_is_no_longer_offered(
    page: Page, running_system: RunningSystem
):
    system = running_system
    _assured(system, CLOSING_SERVICE, date.today() - timedelta(days=400))
    username = system.add_user("group_member", organisation_id=CLOSING_ORG)
    sign_in(page, system, username)
    item = page.locator("#services li.service", has_text=CLOSING_NAME)
    item.get_by_role("button", name=f"{CLOSING_NAME}: Closed").click()
    expect(item.get_by_role("status")).to_contain_text("Marked as closed: it is no longer offered")
    expect(item.locator(".review")).to_be_hidden()
    service = f"{system.directory}/services/{CLOSING_SERVICE}"
    entry = httpx.get(service, headers=_as(system, "linkworker"), timeout=10).json()
    assert entry["status"] == "defunct"
    # it ran again after all: the group says so, and it is offered again
    again = httpx.post(
        f"{service}/review", json={"answer": "running"}, headers=_as(system, username), timeout=10
    )
    assert again.status_code == 200 and again.json()["status"] == "active"


def test_an_administrator_sees_reported_entries_on_moderation_and_resolves_one(
    page: Page, running_system: RunningSystem
):
    system = running_system
    reporter = system.add_user("link_worker", team="community-connect")
    report = httpx.post(
        f"{system.directory}/services/{CLOSING_SERVICE}/reports",
        json={"kind": "out_of_date", "note": "The plot moved to the north field in spring."},
        headers=_as(system, reporter),
        timeout=10,
    )
    assert report.status_code == 201, report.text
    sign_in(page, system, "admin")
    page.goto(f"{system.directory}/admin/moderation")
    row = page.locator("#reports tbody tr", has_text=CLOSING_NAME)
    expect(row).to_contain_text("moved to the north field")
    row.get_by_role("button", name=f"Resolve the report on {CLOSING_NAME}").click()
    expect(page.locator("#message")).to_contain_text(f"The report on {CLOSING_NAME} is resolved")
    expect(page.locator("#message")).to_be_focused()
    expect(page.locator("#reports tbody tr", has_text=CLOSING_NAME)).to_have_count(0)
