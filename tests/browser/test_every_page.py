"""Every page, as each kind of user sees it, at 1280 px and at 390 px: axe-core finds
no violation, nothing is wider than the screen, and every file a page loads comes from
the service that serves it. Unknown and forbidden paths are pages for browsers and JSON
for API clients."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from services.directory.demo import DEMO_DIRECTORY
from tests.browser.conftest import (
    DESKTOP,
    PASSWORD,
    PHONE,
    RunningSystem,
    accessibility_violations,
    new_page,
    sign_in,
)
from tests.browser.test_pages import _new_person, _refer_through_the_api

pytestmark = pytest.mark.browser


def _token(system: RunningSystem, username: str) -> dict[str, str]:
    answer = httpx.post(
        timeout=30,
        url=f"{system.referrals}/auth/token",
        data={"username": username, "password": PASSWORD},
    )
    return {"Authorization": f"Bearer {answer.raise_for_status().json()['access_token']}"}


def _a_referral_to_a_group(system: RunningSystem) -> tuple[str, str, str]:
    """(referral id, connection id, organisation id): a referral the link worker has
    referred to a service of an organisation in the demo directory."""
    import json

    directory = json.loads(DEMO_DIRECTORY.read_text())
    organisation = next(o for o in directory["organisations"] if o["services"])
    service = organisation["services"][0]
    referral_id = _refer_through_the_api(system, _new_person())
    answer = httpx.post(
        timeout=30,
        url=f"{system.referrals}/referrals/{referral_id}/connections",
        headers=_token(system, "linkworker"),
        json={
            "service_id": service["id"],
            "service_name": service["name"],
            "mode": "referral",
            "organisation_id": organisation["id"],
        },
    )
    answer.raise_for_status()
    return referral_id, answer.json()["connection_id"], organisation["id"]


def _check(page: Page, url: str, problems: list[str], ready: str = "main h1") -> None:
    """Open ``url`` and note what is wrong with it at this width."""
    origin = url.split("/", 3)[:3]
    foreign: list[str] = []

    def note(request) -> None:
        if request.url.split("/", 3)[:3] != origin:
            foreign.append(request.url)

    page.on("request", note)
    page.goto(url)
    expect(page.locator(ready).first).to_be_visible()
    expect(page.get_by_text("Loading…")).to_have_count(0)
    width = page.viewport_size["width"]
    where = f"{url} at {width} px"
    problems.extend(f"{where}: {v}" for v in accessibility_violations(page))
    scroll = page.evaluate("document.documentElement.scrollWidth")
    if scroll > width:
        problems.append(f"{where}: the page is {scroll} px wide")
    problems.extend(f"{where}: loaded {u} from another origin" for u in foreign)
    page.remove_listener("request", note)


def _check_all(browser: Browser, system: RunningSystem, username: str | None, urls) -> None:
    problems: list[str] = []
    for viewport in (DESKTOP, PHONE):
        page = new_page(browser, viewport)
        if username:
            sign_in(page, system, username)
        for url in urls:
            _check(page, url, problems)
        if viewport is PHONE and not problems:
            page.screenshot(path=system.screenshots / f"phone_{username or 'signed_out'}.png")
        page.context.close()
    assert not problems, "\n".join(problems)


def test_the_pages_anyone_may_see(browser: Browser, running_system: RunningSystem):
    s = running_system
    _check_all(browser, s, None, [f"{s.referrals}/", f"{s.directory}/", f"{s.directory}/reports"])


def test_gp_practice_staff_pages(browser: Browser, running_system: RunningSystem):
    s = running_system
    referral_id = _refer_through_the_api(s, _new_person())
    _check_all(
        browser,
        s,
        "gp",
        [
            f"{s.referrals}/referrals",
            f"{s.referrals}/referrals/new",
            f"{s.referrals}/referrals/{referral_id}",
            f"{s.directory}/",
            f"{s.referrals}/worklist",  # not for their role: a 403 page
            f"{s.referrals}/no-such-page",
            f"{s.directory}/no-such-page",
        ],
    )


def test_link_worker_pages(browser: Browser, running_system: RunningSystem):
    s = running_system
    referral_id, _, _ = _a_referral_to_a_group(s)
    _check_all(
        browser,
        s,
        "linkworker",
        [
            f"{s.referrals}/worklist",
            f"{s.referrals}/referrals/{referral_id}",
            f"{s.directory}/reports",
        ],
    )


def test_group_member_pages(browser: Browser, running_system: RunningSystem):
    s = running_system
    _, connection_id, organisation_id = _a_referral_to_a_group(s)
    username = s.add_user("group_member", organisation_id=organisation_id)
    _check_all(
        browser,
        s,
        username,
        [
            f"{s.directory}/my-services",
            f"{s.referrals}/group",
            f"{s.referrals}/group/connections/{connection_id}",
        ],
    )


def test_commissioner_pages(browser: Browser, running_system: RunningSystem):
    s = running_system
    _check_all(browser, s, "commissioner", [f"{s.directory}/reports", f"{s.directory}/"])


def test_unknown_and_forbidden_paths_are_pages_for_browsers_and_json_for_programs(
    page: Page, running_system: RunningSystem
):
    s = running_system
    for base in (s.referrals, s.directory):
        html = httpx.get(timeout=30, url=f"{base}/no-such-page", headers={"Accept": "text/html"})
        assert html.status_code == 404
        assert html.headers["content-type"].startswith("text/html")
        assert "Page not found" in html.text
        api = httpx.get(timeout=30, url=f"{base}/no-such-page")
        assert api.status_code == 404
        assert api.json() == {"detail": "Not Found"}
        icon = httpx.get(timeout=30, url=f"{base}/favicon.ico")
        assert icon.status_code == 200
        assert icon.headers["content-type"].startswith("image/svg+xml")

    sign_in(page, s, "gp")
    page.goto(f"{s.directory}/my-services")
    expect(page.get_by_role("heading", level=1)).to_have_text("This page is not for your role")
    page.get_by_role("link", name="Go to your start page").click()
    expect(page).to_have_url(f"{s.referrals}/referrals")


def test_one_menu_links_right_on_both_services(page: Page, running_system: RunningSystem):
    s = running_system
    sign_in(page, s, "admin")
    menus = []
    for url in (f"{s.referrals}/worklist", f"{s.directory}/"):
        page.goto(url)
        links = page.get_by_role("navigation", name="Main").get_by_role("link")
        menus.append([(a.inner_text(), a.evaluate("(a) => a.href")) for a in links.all()])
    assert menus[0] == menus[1]
    hrefs = dict(menus[0])
    assert hrefs["Worklist"] == f"{s.referrals}/worklist"
    assert hrefs["Our services"] == f"{s.directory}/my-services"
    expect(page.get_by_role("link", name="Directory")).to_have_attribute("aria-current", "page")


def test_administrator_pages(browser: Browser, running_system: RunningSystem):
    s = running_system
    _check_all(
        browser,
        s,
        "admin",
        [
            f"{s.referrals}/admin/users",
            f"{s.referrals}/admin/audit",
            f"{s.directory}/admin/moderation",
            f"{s.directory}/admin/import",
            f"{s.directory}/my-services",
        ],
    )
