"""An administrator imports a directory file from the page and watches real progress: the
upload's bytes, then services imported of the total, then the report with every rejected
row and its reason."""

from __future__ import annotations

import json

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import RunningSystem, accessibility_violations, sign_in

pytestmark = pytest.mark.browser

# Every change of the progress bar, as assistive technology is told of it.
RECORD_PROGRESS = """() => {
  window.progressSeen = [];
  const bar = document.getElementById("import-bar");
  new MutationObserver(() => window.progressSeen.push(
    [bar.getAttribute("aria-valuetext"), Number(bar.value), Number(bar.max)]
  )).observe(bar, { attributes: true, attributeFilter: ["aria-valuetext"] });
}"""


def test_an_administrator_imports_a_file_with_a_progress_bar_and_reads_the_report(
    page: Page, running_system: RunningSystem, tmp_path
):
    system = running_system
    feed = httpx.get(f"{system.directory}/exports/openreferral.json", timeout=30).json()
    feed["services"].append({"id": "no-organisation", "name": "A row with no organisation"})
    upload = tmp_path / "our-own-feed.json"
    upload.write_text(json.dumps(feed), encoding="utf-8")
    total = len(feed["services"])

    sign_in(page, system, "admin")
    page.goto(f"{system.directory}/admin/moderation")
    page.get_by_role("link", name="Import another directory").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Import a directory")
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator('[data-field="file"] .field-error')).to_contain_text("Choose a .json")

    page.evaluate(RECORD_PROGRESS)
    page.get_by_label("File to import").set_input_files(upload)
    page.get_by_role("button", name="Import", exact=True).click()
    message = page.locator("#import-message")
    expect(message).to_contain_text("Done:", timeout=60_000)
    expect(message).to_contain_text("1 rejected")
    expect(message).to_be_focused()
    bar = page.get_by_role("progressbar", name="Imported")
    expect(bar).to_have_attribute("aria-valuetext", f"Imported {total} of {total} services")

    seen = page.evaluate("window.progressSeen")
    words = [w for w, _, _ in seen]
    uploading = [i for i, w in enumerate(words) if w.startswith("Uploading")]
    importing = [i for i, w in enumerate(words) if w.startswith("Imported ") and " of " in w]
    assert uploading and importing and max(uploading) < min(importing), words
    counts = [value for w, value, _ in seen if w.startswith("Imported ")]
    assert counts == sorted(counts), "progress only moves forward"
    assert seen[-1][1] == seen[-1][2] == total

    rejected = page.locator("#import-rejected")
    expect(rejected).to_contain_text("no-organisation")
    counts_shown = page.locator("#import-counts")
    expect(counts_shown).to_contain_text("Rejected")
    page.screenshot(path=system.screenshots / "directory_import.png", full_page=True)
    assert accessibility_violations(page) == []
