"""The commissioners' dashboard in headless Chromium: every report with a chart and its
table, a period change, a CSV downloaded and read, suppressed cells shown as such, the
ward map, phone width, and no accessibility violations."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import RunningSystem, accessibility_violations, sign_in
from tests.browser.test_pages import _new_person, _refer_through_the_api

SECTIONS = ("demand", "gaps", "emerging", "funnel", "outcomes", "waits", "responsiveness")


def _dashboard_with_a_referral(page: Page, system: RunningSystem) -> None:
    """One more referral this month: a count of one, which the dashboard must suppress."""
    referral = _refer_through_the_api(system, _new_person())
    with httpx.Client(base_url=system.referrals, timeout=10) as client:
        token = client.post("/auth/token", data={"username": "commissioner", "password": "demo"})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    for _ in range(300):  # the directory hears of it through the event log
        with httpx.Client(base_url=system.directory, timeout=10, headers=headers) as client:
            body = client.get("/reports/demand", params={"preset": "this_month"}).json()
        if body["tables"]["by_category"][0]["people"] != {
            "value": 0,
            "suppressed": False,
            "at_least": False,
        }:
            break
        page.wait_for_timeout(100)
    assert referral
    sign_in(page, system, "commissioner")
    expect(page).to_have_url(f"{system.directory}/reports")
    expect(page.locator("#report-status")).to_be_empty(timeout=30_000)


def test_every_report_has_a_chart_a_table_and_a_csv(page: Page, running_system: RunningSystem):
    _dashboard_with_a_referral(page, running_system)
    for section in SECTIONS:
        expect(page.locator(f"#{section}-chart[data-ready='true']")).to_have_count(1)
        expect(page.locator(f"#{section}-tables table").first).to_be_visible()
    expect(page.locator("#demand-tables")).to_contain_text("social connection")
    expect(page.locator("#ward-map .ward-tile")).to_have_count(17)
    page.screenshot(path=running_system.screenshots / "dashboard.png", full_page=True)
    assert accessibility_violations(page) == []


def test_this_month_shows_a_single_referral_as_suppressed(
    page: Page, running_system: RunningSystem
):
    _dashboard_with_a_referral(page, running_system)
    period = page.locator("#period-text").inner_text()
    page.get_by_label("Period", exact=True).select_option("this_month")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#period-text")).not_to_have_text(period)
    expect(page.locator("#report-status")).to_be_empty()
    expect(page.locator("#demand-tables .suppressed").first).to_be_visible()
    expect(page.locator("#ward-map .suppressed").first).to_be_visible()


def test_a_report_downloads_as_csv_with_the_same_figures(page: Page, running_system: RunningSystem):
    _dashboard_with_a_referral(page, running_system)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the funnel as CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][:2] == ["report", "funnel"]
    header = next(line for line in lines if line[:2] == ["table", "category"])
    any_need = next(line for line in lines if line[:2] == ["by_category", "any need"])
    assert "referred" in header and len(any_need) == len(header)
    shown = page.locator("#funnel-tables table").first.locator("tbody tr").first
    referred = any_need[header.index("referred")]
    expect(shown.locator("td").first).to_have_text(referred)


def test_the_dashboard_fits_a_phone(page: Page, running_system: RunningSystem):
    page.set_viewport_size({"width": 375, "height": 800})
    _dashboard_with_a_referral(page, running_system)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 380, f"the page scrolls sideways at phone width ({width}px)"
    sort = page.locator("#demand-tables").get_by_role("button", name="People", exact=True).first
    sort.click()
    expect(page.locator("#demand-tables th[aria-sort='ascending']").first).to_be_visible()
    assert accessibility_violations(page) == []
