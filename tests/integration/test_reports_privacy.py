"""The subtraction attack: collect every figure published for every period around the
scripted months (each month, every run of months, their previous periods) from every
report, and try to solve for each suppressed cell. It must never be pinned down.

The attacker's model: each figure is a sum of unknown counts ("atoms": one need category,
ward, practice or service, one month). A published figure is exact, or a lower bound
when marked ``at_least``; a suppressed figure is at least 1 (below the threshold, or
more when suppressed to protect another). For each suppressed figure, and each month
left out of an ``at_least`` one, an integer program (HiGHS, through scipy) finds the
least and the greatest value every published figure allows: they must differ.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from datetime import date

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from services.directory.insights import ward_centroids
from tests.integration import reports_scenario as sc

T = 5
MONTHS = ["2026-06", "2026-07", "2026-08", "2026-09"]  # every run of them is queried
WARDS = [*sorted(ward_centroids()), "unknown"]
ANY = "any need"
PRACTICES = sc.PRACTICES


def _months(period: dict) -> list[str]:
    first, last = date.fromisoformat(period["from"]), date.fromisoformat(period["to"])
    out, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        out.append(f"{year}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


class Attacker:
    def __init__(self) -> None:
        self.atoms: dict[tuple, int] = {}
        self.known: list[tuple[list[int], float, float]] = []
        self.hidden: dict[frozenset, tuple] = {}

    def atom(self, key: tuple) -> int:
        return self.atoms.setdefault(key, len(self.atoms))

    def figure(self, count: dict, keys: list[tuple], where: tuple) -> None:
        ids = sorted({self.atom(k) for k in keys})
        if count["suppressed"]:  # 1..T-1, or larger when suppressed to protect another
            self.known.append((ids, 1, 500))
            self.hidden.setdefault(frozenset(ids), where)
        elif count.get("at_least"):
            self.known.append((ids, count["value"] + 1, 500))
        else:
            self.known.append((ids, count["value"], count["value"]))

    def solver(self):
        """Drop atoms a published 0 fixes, split the rest into independent groups, and
        return a function giving the least and greatest value of a suppressed figure."""
        zero = {i for cols, low, high in self.known if high == 0 for i in cols}
        parent = list(range(len(self.atoms)))

        def root(i):
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        rows = []
        for cols, low, high in self.known:
            live = [i for i in cols if i not in zero]
            if not live:
                continue
            rows.append((live, low, high))
            for i in live[1:]:
                parent[root(i)] = root(live[0])
        by_group = defaultdict(list)
        for row in rows:
            by_group[root(row[0][0])].append(row)

        @functools.cache
        def bounds_of_live(live: tuple[int, ...]) -> tuple[float, float]:
            group = by_group[root(live[0])]
            atoms = sorted({i for cols, _, _ in group for i in cols})
            index = {a: k for k, a in enumerate(atoms)}
            a = np.zeros((len(group), len(atoms)))
            lo, hi = np.zeros(len(group)), np.zeros(len(group))
            for r, (cols, low, high) in enumerate(group):
                a[r, [index[i] for i in cols]] = 1
                lo[r], hi[r] = low, high
            c = np.zeros(len(atoms))
            c[[index[i] for i in live]] = 1
            found = []
            for sign in (1, -1):
                result = milp(
                    sign * c,
                    constraints=LinearConstraint(a, lo, hi),
                    integrality=np.ones(len(atoms)),
                    bounds=Bounds(0, 500),
                )
                assert result.success, result.message
                found.append(round(sign * result.fun))
            return found[0], found[1]

        def bounds(ids: frozenset) -> tuple[float, float]:
            live = tuple(sorted(i for i in ids if i not in zero))
            return bounds_of_live(live) if live else (0, 0)

        return bounds


def _collect(get, period: dict, attacker: Attacker, categories: list[str]) -> None:
    months = _months(period)
    previous = _months(get("demand", **period)["previous_period"])

    def cells(measure, category, wards=WARDS, practices=PRACTICES, ms=months):
        return [(measure, category, w, p, m) for w in wards for p in practices for m in ms]

    tag = (period["from"], period["to"])
    demand = get("demand", **period)["tables"]
    for row in demand["by_category"]:
        c = row["category"]
        attacker.figure(row["people"], cells("referred", c), (tag, "demand", c, "people"))
        attacker.figure(row["previous_people"], cells("referred", c, ms=previous), (tag, c, "prev"))
        attacker.figure(row["unmet"], cells("unmet", c), (tag, "demand", c, "unmet"))
        attacker.figure(row["no_available_place"], cells("no_place", c), (tag, c, "no_place"))
        if "no_suitable_service" in row:
            attacker.figure(row["no_suitable_service"], cells("no_service", c), (tag, "none"))
    for row in demand["by_ward"]:
        c = row["category"]
        attacker.figure(row["total"], cells("referred", c), (tag, "ward total", c))
        for ward, count in row["by_ward"].items():
            attacker.figure(count, cells("referred", c, [ward]), (tag, "ward", c, ward))
    for row in demand["by_practice"]:
        keys = cells("referred", ANY, practices=[row["practice"]])
        attacker.figure(row["people"], keys, (tag, "practice", row["practice"]))

    for row in get("gaps", **period)["tables"]["gaps"]:
        c, w = row["category"], row["ward"]
        attacker.figure(row["people"], cells("referred", c, [w]), (tag, "gap", c, w))
        attacker.figure(row["unmet"], cells("unmet", c, [w]), (tag, "gap unmet", c, w))
        full = cells("no_place", c, [w])
        attacker.figure(row["no_available_place"], full, (tag, "gap full", c, w))
        short = cells("unmet", c, [w]) + cells("no_place", c, [w])
        attacker.figure(row["shortfall"], short, (tag, "shortfall", c, w))
        prev = cells("unmet", c, [w], ms=previous) + cells("no_place", c, [w], ms=previous)
        attacker.figure(row["previous_shortfall"], prev, (tag, "prev shortfall", c, w))

    funnel = get("funnel", **period)["tables"]
    stages = (
        "referred",
        "contacted",
        "connected",
        "signposted",
        "referred_on",
        "accepted",
        "attended",
        "completed",
    )
    for row in funnel["by_category"]:
        for stage in stages:
            keys = cells(stage, row["category"])
            attacker.figure(row[stage], keys, (tag, "funnel", row["category"], stage))
    for row in funnel["by_ward"]:
        for stage in stages:
            keys = cells(stage, ANY, [row["ward"]])
            attacker.figure(row[stage], keys, (tag, "funnel ward", row["ward"], stage))

    outcomes = get("outcomes", **period)["tables"]
    for row in outcomes["outcomes"]:
        for stage in ("connected", "attended", "did_not_attend", "completed"):
            keys = cells(stage, row["category"])
            attacker.figure(row[stage], keys, (tag, "outcome", row["category"], stage))
    for row in outcomes["wellbeing_change"]:
        for field, count in row.items():
            if field.endswith("_people"):
                keys = cells(field, row["category"])
                attacker.figure(count, keys, (tag, "wellbeing", row["category"], field))

    for row in get("waiting-times", **period)["tables"]["waiting_times"]:
        wards = WARDS if row["ward"] == "all wards" else [row["ward"]]
        keys = cells(row["wait"], row["category"], wards)
        attacker.figure(row["people"], keys, (tag, "wait", row["wait"], row["category"]))

    for row in get("emerging-needs", **period)["tables"]["emerging_needs"]:
        need = row["need"]
        attacker.figure(row["referrals"], cells("phrase", need), (tag, "need", need))
        keys = cells("phrase", need, ms=previous)
        attacker.figure(row["previous_referrals"], keys, (tag, "need prev", need))
        for ward in row["wards"]:
            keys = cells("phrase", need, [ward["ward"]])
            attacker.figure(ward["referrals"], keys, (tag, "need ward", need))

    responsive = get("responsiveness", **period)["tables"]
    by_org = defaultdict(list)
    for service, org in sc.ORGANISATION.items():
        by_org[org].append(service)
    for row in responsive["services"]:
        for field in ("referrals", "answered"):
            keys = [(field, row["service_id"], m) for m in months]
            attacker.figure(row[field], keys, (tag, "service", row["service_id"], field))
    for row in responsive["organisations"]:
        for field in ("referrals", "answered"):
            keys = [(field, s, m) for s in by_org[row["organisation_id"]] for m in months]
            attacker.figure(row[field], keys, (tag, "organisation", field))


def _periods() -> list[dict]:
    out = []
    for i in range(len(MONTHS)):
        for j in range(i, len(MONTHS)):
            first = date.fromisoformat(MONTHS[i] + "-01")
            y, m = map(int, MONTHS[j].split("-"))
            last = date(y + (m == 12), m % 12 + 1, 1).toordinal() - 1
            out.append({"from": first.isoformat(), "to": date.fromordinal(last).isoformat()})
    return out


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    with sc.open_reports(tmp_path_factory.mktemp("privacy")) as get:
        yield get


def test_no_suppressed_cell_can_be_recovered_from_every_figure_published(reports):
    attacker = Attacker()
    for period in _periods():
        _collect(reports, period, attacker, [])
    assert len(attacker.hidden) > 30, "the scenario must suppress something to attack"
    recovered = []
    bounds_of = attacker.solver()
    for ids, where in attacker.hidden.items():
        low, high = bounds_of(ids)
        if low == high:
            recovered.append((where, low))
    assert not recovered, f"recovered by subtraction: {recovered[:5]}"


def test_the_attack_does_recover_a_cell_from_a_total_and_its_other_part():
    """The attack is real: a period's exact total beside one month's solves the other."""
    attacker = Attacker()
    attacker.figure({"value": 12, "suppressed": False}, [("a", 1), ("a", 2)], ("total",))
    attacker.figure({"value": 9, "suppressed": False}, [("a", 1)], ("one",))
    attacker.figure({"value": None, "suppressed": True}, [("a", 2)], ("hidden",))
    (ids,) = attacker.hidden
    assert attacker.solver()(ids) == (3, 3)
