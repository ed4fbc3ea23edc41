"""Every report is right on a scripted quarter, its CSV says the same as its JSON, and
the figures expected are computed here from the script, not by the report code."""

from __future__ import annotations

import csv
import io
import math
from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest

from tests.integration import reports_scenario as sc

T = 5
QUARTER = {"from": "2026-07-01", "to": "2026-09-30"}


def pub(people) -> dict:
    """The privacy rule as the README states it, written again for the test, for a
    figure that is in no line with a total: each month's small count is left out."""
    months = Counter(j.submitted.strftime("%Y-%m") for j in people)
    small = [n for n in months.values() if 0 < n < T]
    shown = sum(n for n in months.values() if n >= T)
    if small and not shown:
        return {"value": None, "suppressed": True, "at_least": False}
    return {"value": shown, "suppressed": False, "at_least": bool(small)}


def within(figure: dict, people) -> bool:
    """A figure in a line with a total (which secondary suppression may touch) says no
    more than the rule allows and nothing untrue."""
    expected = pub(people)
    if figure == expected:
        return True
    true = len(people)
    if figure["suppressed"]:
        return true > 0
    return figure["at_least"] and figure["value"] <= (expected["value"] or 0)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    with sc.open_reports(tmp_path_factory.mktemp("reports")) as get:
        yield get


def _in(j: sc.Journey, first=date(2026, 7, 1), last=date(2026, 9, 30)) -> bool:
    return first <= j.submitted.date() <= last


def _categories(j: sc.Journey) -> set[str]:
    return {c for concept in j.concepts for c in sc.NEEDS[concept][1]}


def _row(table, key, value):
    return next(r for r in table if r[key] == value)


def test_demand_counts_people_once_and_once_per_category(reports):
    body = reports("demand")
    people = [j for j in reports.journeys if _in(j)]
    table = body["tables"]["by_category"]
    assert within(_row(table, "category", "any need")["people"], people)
    for category in {c for j in people for c in _categories(j)}:
        who = [j for j in people if category in _categories(j)]
        assert within(_row(table, "category", category)["people"], who), category
        unmet = [j for j in people if any(category in sc.NEEDS[c][1] for c in j.unmet)]
        assert _row(table, "category", category)["unmet"] == pub(unmet), category
    nothing = [j for j in people if set(j.unmet) == set(j.concepts)]
    assert _row(table, "category", "any need")["no_suitable_service"] == pub(nothing)
    for row in body["tables"]["by_practice"]:
        assert within(row["people"], [j for j in people if j.practice == row["practice"]])
    previous = reports("demand", **{"from": "2026-06-01", "to": "2026-06-30"})
    assert previous["previous_period"] == {"from": "2026-05-01", "to": "2026-05-31", "months": 1}
    july = [j for j in reports.journeys if j.submitted.month == 7]
    this = reports("demand", **{"from": "2026-07-01", "to": "2026-07-31"})
    assert within(_row(this["tables"]["by_category"], "category", "any need")["people"], july)


def test_a_period_says_what_its_months_say(reports):
    months = [
        reports("demand", **{"from": f"2026-{m:02d}-01", "to": f"2026-{m:02d}-{d}"})
        for m, d in ((7, 31), (8, 31), (9, 30))
    ]
    quarter = reports("demand")
    monthly = zip(*(m["tables"]["by_ward"] for m in months), strict=True)
    for a, b in zip(quarter["tables"]["by_ward"], monthly, strict=True):
        for ward, figure in a["by_ward"].items():
            assert (figure["value"] or 0) == sum(m["by_ward"][ward]["value"] or 0 for m in b)


def test_demand_by_ward_hides_small_months_and_no_line_gives_one_away(reports):
    people = [j for j in reports.journeys if _in(j)]
    for m, d in ((7, 31), (8, 31), (9, 30)):
        body = reports("demand", **{"from": f"2026-{m:02d}-01", "to": f"2026-{m:02d}-{d}"})
        for row in body["tables"]["by_ward"]:
            cells = list(row["by_ward"].values())
            hidden = [c for c in cells if c["suppressed"]]
            assert len(hidden) != 1 or row["total"]["suppressed"], row["category"]
            if row["category"] == "any need":
                month = [j for j in people if j.submitted.month == m]
                for ward, cell in row["by_ward"].items():
                    assert within(cell, [j for j in month if j.ward == ward]), ward


def test_funnel_follows_each_journey(reports):
    people = [j for j in reports.journeys if _in(j)]
    stages = {
        "referred": people,
        "contacted": [j for j in people if j.contact_days is not None],
        "connected": [j for j in people if j.connect_days is not None],
        "signposted": [j for j in people if j.connect_days is not None and j.mode == "signposting"],
        "referred_on": [j for j in people if j.connect_days is not None and j.mode == "referral"],
        "accepted": [j for j in people if j.accepted],
        "attended": [j for j in people if j.outcome in ("attended", "completed")],
        "completed": [j for j in people if j.outcome == "completed"],
    }
    funnel = reports("funnel")["tables"]
    row = _row(funnel["by_category"], "category", "any need")
    for stage, who in stages.items():
        assert within(row[stage], who), stage
    social = _row(funnel["by_category"], "category", "social connection")
    contacted = [j for j in stages["contacted"] if "social connection" in _categories(j)]
    assert social["contacted"] == pub(contacted)


def test_outcomes_and_wellbeing_change_rest_on_the_people_they_name(reports):
    people = [j for j in reports.journeys if _in(j)]
    body = reports("outcomes")
    row = _row(body["tables"]["outcomes"], "category", "any need")
    assert row["did_not_attend"] == pub([j for j in people if j.outcome == "did_not_attend"])
    assert row["completed"] == pub([j for j in people if j.outcome == "completed"])
    changed = [j for j in people if j.wellbeing]
    line = _row(body["tables"]["wellbeing_change"], "category", "any need")
    assert line["life_satisfaction_people"] == pub(changed)
    mean = sum(j.wellbeing["life_satisfaction"] for j in changed) / len(changed)
    assert line["life_satisfaction_mean_change"] == round(mean, 1)
    mean = sum(j.wellbeing["swemwbs_metric"] for j in changed) / len(changed)
    assert line["swemwbs_metric_mean_change"] == pytest.approx(round(mean, 1))


def _pct(values: list[int], share: float) -> int:
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)), 1) - 1]


def test_waiting_times_are_medians_and_90th_percentiles_of_whole_days(reports):
    people = [j for j in reports.journeys if _in(j)]
    rows = reports("waiting-times")["tables"]["waiting_times"]
    for wait, attr in [
        ("referral to first contact", "contact_days"),
        ("referral to connection", "connect_days"),
        ("referral to the group's answer", "answer_days"),
    ]:
        who = [j for j in people if getattr(j, attr) is not None]
        days = [getattr(j, attr) for j in who]
        row = next(
            r
            for r in rows
            if r["wait"] == wait and r["category"] == "any need" and r["ward"] == "all wards"
        )
        assert within(row["people"], who)
        assert (row["median_days"], row["p90_days"]) == (_pct(days, 0.5), _pct(days, 0.9))


def test_responsiveness_is_time_to_answer_and_share_accepted_per_service(reports):
    rows = reports("responsiveness")["tables"]["services"]
    by_service = defaultdict(list)
    for j in reports.journeys:
        if j.connect_days is None or j.mode != "referral":
            continue
        confirmed = j.submitted + timedelta(days=j.connect_days)
        if date(2026, 7, 1) <= confirmed.date() <= date(2026, 9, 30):
            by_service[sc.SERVICE[j.concepts[0]]].append((j, confirmed))
    for service, made in by_service.items():
        row = _row(rows, "service_id", service)
        answered = [j for j, _ in made if j.answer_days is not None]
        total = len(made)
        referred = row["referrals"]
        assert referred["suppressed"] or referred["value"] <= total
        assert referred["suppressed"] or referred["at_least"] or referred["value"] == total
        if len(answered) >= T:
            days = [j.answer_days - j.connect_days for j in answered]
            assert row["median_days_to_answer"] == _pct(days, 0.5)
            share = sum(j.accepted for j in answered) / len(answered)
            assert row["accepted_percent"] == 10 * int(10 * share + 0.5)


def test_unknown_needs_emerge_grouped_counted_and_rising(reports):
    rows = reports("emerging-needs")["tables"]["emerging_needs"]
    people = [j for j in reports.journeys if _in(j)]
    for phrase, shown in [
        ("learning the bagpipes", "learning bagpipes"),
        ("sailing and rowing", "sailing rowing"),
    ]:
        who = [j for j in people if j.unrecognised == phrase]
        row = _row(rows, "need", shown)
        assert within(row["referrals"], who)
        for ward in row["wards"]:
            assert within(ward["referrals"], [j for j in who if j.ward == ward["ward"]])
    for row in rows:
        assert row["referrals"]["value"] >= T and not any(ch.isdigit() for ch in row["need"])


def test_gaps_rank_category_and_ward_cells_by_people_left_without_help(reports):
    rows = reports("gaps")["tables"]["gaps"]
    people = [j for j in reports.journeys if _in(j)]
    for row in rows:
        c, w = row["category"], row["ward"]
        unmet = [j for j in people if j.ward == w and any(c in sc.NEEDS[x][1] for x in j.unmet)]
        full = [j for j in people if j.ward == w and any(c in sc.NEEDS[x][1] for x in j.waiting)]
        assert within(row["unmet"], unmet) and within(row["no_available_place"], full)
    shown = [r["shortfall"]["value"] or 0 for r in rows]
    assert shown == sorted(shown, reverse=True)
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))


@pytest.mark.parametrize(
    "name",
    ["demand", "gaps", "emerging-needs", "outcomes", "funnel", "waiting-times", "responsiveness"],
)
def test_the_csv_says_what_the_json_says(reports, name):
    body = reports(name)
    lines = list(csv.reader(io.StringIO(reports(name, "csv"))))
    assert lines[0][:2] == ["report", name]
    in_csv = Counter(cell for line in lines[1:] for cell in line[1:] if cell)
    counts = Counter()

    def walk(value):
        if isinstance(value, dict) and "suppressed" in value:
            counts["suppressed" if value["suppressed"] else str(value["value"])] += 1
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(body["tables"])
    assert in_csv["suppressed"] == counts["suppressed"]


def test_a_bad_period_is_refused_naming_the_field(reports):
    response = reports.client.get("/reports/demand", params={"from": "2026-07-01"})
    assert response.status_code == 422 and "to" in response.text
    response = reports.client.get("/reports/funnel", params={"preset": "next_year"})
    assert response.status_code == 422 and "preset" in response.text
