"""The directory exports demand, capacity and gaps as Prometheus gauges: the Grafana
dashboard queries only metrics a service really exports, the gauges carry no label about
a person, and a figure the reports suppress is missing from the metrics too."""

from __future__ import annotations

from datetime import date

import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.directory import insights
from services.directory.metrics import METRICS, InsightCollector
from tests.integration import reports_scenario as sc
from tests.unit.test_deploy import HISTOGRAMS, dashboard_queries, metric_names

LABELS = {"category", "ward", "period"}
PEOPLE = {"referred_people", "unmet_need_people", "no_place_people", "capacity_gap_people"}


@pytest.fixture(scope="module")
def scraped(tmp_path_factory):
    with sc.open_reports(tmp_path_factory.mktemp("metrics")) as get:
        text = get.client.get("/metrics").text
        reports = {name: get(name, preset="last_12_months") for name in ("demand", "gaps")}
        app = get.client.app
        lower = {f.name: f for f in InsightCollector(app.state.sessions, 2).collect()}
        with app.state.sessions() as session:
            period = insights.period_for(date.today(), "last_12_months")
            lower_gaps = insights.run_report("gaps", session, period, 2)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    yield families, reports, app.state.settings.small_number_threshold, (lower, lower_gaps)


def _exported(families) -> set[str]:
    names = set()
    for family in families.values():  # listed (HELP, TYPE) even before a first sample
        names.add(family.name)
        names |= {sample.name for sample in family.samples}
        if family.type == "counter":
            names.add(f"{family.name}_total")
    return names


def test_the_dashboard_queries_only_metrics_the_directory_process_exports(scraped):
    families, *_ = scraped
    queried = set().union(*(metric_names(expr) for expr in dashboard_queries()))
    exported = _exported(families) | HISTOGRAMS

    assert set(METRICS) <= queried, "every insight gauge has a panel"
    assert queried - exported == set()
    for name in METRICS.keys() - {"capacity_gap_people"}:  # every gap cell is small here
        assert families[name].samples, f"{name} has figures for the scripted history"


def test_the_gauges_name_needs_wards_and_periods_only_and_hide_small_numbers(scraped):
    families, _, threshold, _ = scraped
    for name in METRICS:
        for sample in families[name].samples:
            assert set(sample.labels) <= LABELS, sample
            if name in PEOPLE:
                assert sample.value == 0 or sample.value >= threshold, sample


def test_a_figure_the_reports_suppress_is_not_exported(scraped):
    families, reports, *_ = scraped
    exported = {
        (s.labels["category"], s.labels["period"]): s.value
        for s in families["referred_people"].samples
    }
    rows = reports["demand"]["tables"]["by_category"]
    hidden = [r["category"] for r in rows if r["people"]["suppressed"]]
    shown = {r["category"]: r["people"]["value"] for r in rows if not r["people"]["suppressed"]}

    for category in hidden:
        assert (category, "last_12_months") not in exported
    for category, value in shown.items():
        assert exported[(category, "last_12_months")] == value
    gaps = {
        (s.labels["category"], s.labels["ward"])
        for s in families["capacity_gap_people"].samples
        if s.labels["period"] == "last_12_months"
    }
    for row in reports["gaps"]["tables"]["gaps"]:
        assert ((row["category"], row["ward"]) in gaps) == (not row["shortfall"]["suppressed"])


def test_gap_cells_are_exported_as_the_gaps_report_publishes_them(scraped):
    """With a threshold of 2, some gap cells of the scripted history are published."""
    *_, (lower, report) = scraped
    exported = {
        (s.labels["category"], s.labels["ward"]): s.value
        for s in lower["capacity_gap_people"].samples
        if s.labels["period"] == "last_12_months"
    }
    published = {
        (r["category"], r["ward"]): r["shortfall"]["value"]
        for r in report["tables"]["gaps"]
        if not r["shortfall"]["suppressed"]
    }
    assert published, "the scenario has gaps to show at this threshold"
    assert exported == published
