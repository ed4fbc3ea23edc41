"""Demand, capacity and gaps as Prometheus gauges, for the Grafana dashboard.

Read at scrape time from the reports' own code (``insights.run_report``), so a metric
is exactly a figure the reports publish, under the same privacy rule: a suppressed
figure is left out (no sample), never exported as a small number. Labels are need
categories, wards and the period, nothing about a person.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date

from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

from services.directory import insights

__all__ = ["METRICS", "InsightCollector", "expose"]

log = logging.getLogger(__name__)
PERIODS = ("this_month", "last_12_months")
METRICS = {
    "referred_people": "People referred needing each category (any need: each person once).",
    "unmet_need_people": "People whose need found no good match in the directory.",
    "no_place_people": "People whose every proposal for the need was full or closed.",
    "weekly_places": "Places a week offered by active services, per need category.",
    "capacity_gap_people": "People left without help (unmet or no place), per need and ward.",
}


class InsightCollector(Collector):
    def __init__(self, sessions, threshold: int) -> None:
        self.sessions = sessions
        self.threshold = threshold

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = {
            "referred_people": GaugeMetricFamily(
                "referred_people", METRICS["referred_people"], labels=["category", "period"]
            ),
            "unmet_need_people": GaugeMetricFamily(
                "unmet_need_people", METRICS["unmet_need_people"], labels=["category", "period"]
            ),
            "no_place_people": GaugeMetricFamily(
                "no_place_people", METRICS["no_place_people"], labels=["category", "period"]
            ),
            "weekly_places": GaugeMetricFamily(
                "weekly_places", METRICS["weekly_places"], labels=["category"]
            ),
            "capacity_gap_people": GaugeMetricFamily(
                "capacity_gap_people",
                METRICS["capacity_gap_people"],
                labels=["category", "ward", "period"],
            ),
        }
        try:
            self._fill(families)
        except Exception:  # a scrape must not fail because the database is busy or away
            log.exception("insight metrics: could not read the reports")
        yield from families.values()

    def _fill(self, families: dict[str, GaugeMetricFamily]) -> None:
        today = date.today()
        weekly: dict[str, int] = {}
        for preset in PERIODS:
            period = insights.period_for(today, preset)
            with self.sessions() as session:
                demand = insights.run_report("demand", session, period, self.threshold)
                gaps = insights.run_report("gaps", session, period, self.threshold)
                if not weekly:
                    weekly = _weekly_places(session)
            for row in demand["tables"]["by_category"]:
                for name, field in (
                    ("referred_people", "people"),
                    ("unmet_need_people", "unmet"),
                    ("no_place_people", "no_available_place"),
                ):
                    value = _published(row[field])
                    if value is not None:
                        families[name].add_metric([row["category"], preset], value)
            for row in gaps["tables"]["gaps"]:
                value = _published(row["shortfall"])
                if value is not None:
                    labels = [row["category"], row["ward"], preset]
                    families["capacity_gap_people"].add_metric(labels, value)
        for category, places in sorted(weekly.items()):
            families["weekly_places"].add_metric([category], places)


def _published(figure: dict) -> int | None:
    """The figure as the reports publish it; None (no sample) when suppressed."""
    return None if figure["suppressed"] else figure["value"]


def _weekly_places(session) -> dict[str, int]:
    out: dict[str, int] = {}
    for service in insights.active_services(session):
        for category in service.categories:
            out[category] = out.get(category, 0) + (service.capacity_per_week or 0)
    return out


_exposed: list[InsightCollector] = []


def expose(sessions, threshold: int) -> InsightCollector:
    """Serve the gauges from the process's registry (``/metrics``); a later directory app
    in the same process (tests) takes the place of the earlier one."""
    for earlier in _exposed:
        REGISTRY.unregister(earlier)
    _exposed.clear()
    collector = InsightCollector(sessions, threshold)
    REGISTRY.register(collector)
    _exposed.append(collector)
    return collector
