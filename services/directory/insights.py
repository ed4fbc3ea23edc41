"""Commissioners' reports: SQL sums over the read model, made safe to publish.

Every report covers whole calendar months (a period) and compares them with the months
just before (the previous period of the same length). Its figures are grouped by need
category and by ward (and practice where it helps).

The privacy rule for every count of people (``publish_figures``):

1. **Month by month, small numbers are suppressed**: in each calendar month a count from
   1 to ``threshold - 1`` is suppressed. Zero is published: it points at nobody.
2. **Secondary suppression, month by month**: where a table publishes a total (a need
   category over all wards, all practices, an organisation over its services), each line
   holding a suppressed cell gets at least two suppressed cells whose sum is more than
   their number, so subtracting the published cells from the total leaves a sum that
   can be split more than one way.
3. **A period's figure is the sum of its months' published figures.** A month suppressed
   adds nothing and marks the figure ``at_least``; a figure whose every month is
   suppressed is suppressed. So every figure for any run of months, the previous period
   included, is a function of the monthly figures: subtracting one period from another,
   or a total from its parts, tells nothing the months do not already hide.
4. **Derived figures come only from published ones**: changes against the previous
   period, drop-offs between funnel stages, places free and "demand over capacity" are
   computed from published figures, and are unknown where one is suppressed or a lower
   bound.
5. Means, medians and shares are shown only when they rest on at least ``threshold``
   people; shares are rounded to the nearest 10%.
6. Need phrases are normalised words (no digits, no titles, no punctuation), shown only
   when at least ``threshold`` distinct referrals share them, and only words that at
   least ``threshold`` of those referrals used. A need is counted across the wards;
   its wards are listed only where ``threshold`` of its referrals came from, the rest
   not at all, so its total needs no secondary suppression.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import String, func, select
from sqlalchemy.orm import Session

from services.directory import readmodel as rm
from services.directory import store

__all__ = [
    "PRESETS",
    "REPORTS",
    "Period",
    "PeriodError",
    "active_services",
    "period_for",
    "publish_figures",
    "run_report",
]

REACH_KM = 3.0  # an in-person service serves wards whose centre is this close
PLACES_FILE = Path(__file__).parents[1] / "referrals" / "data" / "places.json"
PRESETS = ("this_month", "last_quarter", "last_12_months")


# --- periods --------------------------------------------------------------------------


class PeriodError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class Period:
    """Whole calendar months, ``first`` (a 1st) to ``last`` (a month's last day)."""

    first: date
    months: int

    @property
    def last(self) -> date:
        return _add_months(self.first, self.months) - timedelta(days=1)

    @property
    def month_keys(self) -> list[str]:
        return [_add_months(self.first, i).strftime("%Y-%m") for i in range(self.months)]

    @property
    def weeks(self) -> float:
        return ((self.last - self.first).days + 1) / 7

    def previous(self) -> Period:
        return Period(_add_months(self.first, -self.months), self.months)

    def as_json(self) -> dict:
        return {"from": self.first.isoformat(), "to": self.last.isoformat(), "months": self.months}


def period_for(
    today: date, preset: str | None = None, start: date | None = None, end: date | None = None
) -> Period:
    """The period a request asks for; dates snap outwards to whole months."""
    if start is not None or end is not None:
        if start is None or end is None:
            field = "from" if start is None else "to"
            raise PeriodError(field, "give both from and to, or a preset")
        if end < start:
            raise PeriodError("to", "must not be before from")
        first = _month_start(start)
        months = (end.year - first.year) * 12 + end.month - first.month + 1
        if months > 60:
            raise PeriodError("to", "a period spans at most 60 months")
        return Period(first, months)
    preset = preset or "last_12_months"
    this_month = _month_start(today)
    if preset == "this_month":
        return Period(this_month, 1)
    if preset == "last_quarter":
        quarter_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        return Period(_add_months(quarter_start, -3), 3)
    if preset == "last_12_months":
        return Period(_add_months(this_month, -11), 12)
    raise PeriodError("preset", f"one of {', '.join(PRESETS)}")


# --- publishing -----------------------------------------------------------------------

Key = Hashable
Monthly = dict[Key, dict[str, int]]  # figure -> month -> people
Line = tuple[list[Key], Key]  # cells whose sum is the total


def protect_month(n: dict[Key, int], lines: list[Line], threshold: int) -> set[Key]:
    """The figures one month must not show: small ones, then enough others that no
    line's total gives any suppressed cell away."""
    hidden = {k for k, v in n.items() if 0 < v < threshold}
    changed = True
    while changed:
        changed = False
        for cells, total in lines:
            if total in hidden:
                continue
            inside = [c for c in cells if c in hidden]
            if not inside:
                continue
            if len(inside) >= 2 and sum(n.get(c, 0) for c in inside) > len(inside):
                continue
            shown = [c for c in cells if c not in hidden and n.get(c, 0) > 0]
            hidden.add(min(shown, key=lambda c: (n[c], str(c))) if shown else total)
            changed = True
    return hidden


def publish_figures(
    monthly: Monthly, lines: list[Line], months: list[str], threshold: int
) -> dict[Key, dict]:
    """Every figure of ``monthly`` for the period ``months``, as it may be published."""
    keys = set(monthly) | {k for cells, total in lines for k in (*cells, total)}
    hidden_in: dict[Key, set[str]] = defaultdict(set)
    for month in months:
        n = {k: v for k in keys if (v := monthly.get(k, {}).get(month, 0))}
        for k in protect_month(n, lines, threshold):
            hidden_in[k].add(month)
    period = set(months)
    out = {}
    for k in keys:
        gone = hidden_in.get(k, ())
        shown = sum(v for m, v in monthly.get(k, {}).items() if m in period and m not in gone)
        some_hidden = bool(gone)
        if some_hidden and shown == 0:
            out[k] = {"value": None, "suppressed": True, "at_least": False}
        else:
            out[k] = {"value": shown, "suppressed": False, "at_least": some_hidden}
    return out


class Figures:
    """Published figures for a period and for the previous period, from one protection."""

    def __init__(self, monthly: Monthly, lines: list[Line], period: Period, threshold: int):
        self.now = publish_figures(monthly, lines, period.month_keys, threshold)
        self.before = publish_figures(monthly, lines, period.previous().month_keys, threshold)

    def __call__(self, key: Key, previous: bool = False) -> dict:
        table = self.before if previous else self.now
        return table.get(key, ZERO)


ZERO = {"value": 0, "suppressed": False, "at_least": False}


def _value(count: dict | None) -> int | None:
    """A figure's exact value, or None when suppressed or only a lower bound."""
    if count is None or count["suppressed"] or count.get("at_least"):
        return None
    return count["value"]


def _change(now: dict, before: dict) -> int | None:
    a, b = _value(now), _value(before)
    return None if a is None or b is None else a - b


def _mean(total: float, n: int, threshold: int) -> float | None:
    return round(total / n, 1) if n >= threshold else None


def _share(part: int, whole: int, threshold: int) -> int | None:
    if whole < threshold:
        return None
    return int(math.floor(100 * part / whole / 10 + 0.5) * 10)


# --- reading the cells ----------------------------------------------------------------


def _both_periods(period: Period) -> list[str]:
    return period.previous().month_keys + period.month_keys


def _monthly(
    session: Session, period: Period, measures: Iterable[str], by_ward: Iterable[str] = ()
):
    """{(measure, category, ward): {month: (n, total)}} over both periods (bucket 0).

    Ward by ward for "any need" and for the ``by_ward`` measures (whose ward cells are
    published or protect a line); the other measures' categories come summed over the
    wards by the database, under ward ``*``: the same totals, a fraction of the rows."""
    c = rm.cells.c
    measures, by_ward = tuple(measures), tuple(by_ward)
    where = (
        c.month.in_(_both_periods(period)),
        c.measure.in_(measures),
        c.bucket == 0,
        c.practice == rm.ALL,
    )
    wards = (
        select(c.measure, c.category, c.ward, c.month, func.sum(c.n), func.sum(c.total))
        .where(*where, (c.category == rm.ANY) | c.measure.in_(by_ward))
        .group_by(c.measure, c.category, c.ward, c.month)
    )
    totals = (
        select(c.measure, c.category, c.month, func.sum(c.n), func.sum(c.total))
        .where(*where, c.category != rm.ANY, c.measure.not_in(by_ward))
        .group_by(c.measure, c.category, c.month)
    )
    out: dict = defaultdict(dict)
    for m, cat, ward, month, n, total in session.execute(wards):
        out[(m, cat, ward)][month] = (int(n), float(total))
    for m, cat, month, n, total in session.execute(totals):
        out[(m, cat, rm.ALL)][month] = (int(n), float(total))
    return out


def _counts(raw: dict, with_totals: bool = True) -> Monthly:
    """People per figure and month, adding each (measure, category)'s all-wards total
    where the rows are ward by ward (rows under ward ``*`` are totals already)."""
    out: Monthly = defaultdict(lambda: defaultdict(int))
    for (m, cat, ward), months in raw.items():
        for month, (n, _t) in months.items():
            out[(m, cat, ward)][month] += n
            if with_totals and ward != rm.ALL:
                out[(m, cat, rm.ALL)][month] += n
    return out


def _ward_lines(measure: str, categories: Iterable[str], wards: list[str]) -> list[Line]:
    every = [*wards, rm.UNKNOWN_WARD]
    return [([(measure, c, w) for w in every], (measure, c, rm.ALL)) for c in categories]


def _histograms(session: Session, months: list[str], measures: tuple[str, ...]):
    """{(measure, category, ward): [(days, n), ...]} waiting-time histograms."""
    c = rm.cells.c
    query = (
        select(c.measure, c.category, c.ward, c.bucket, func.sum(c.n))
        .where(c.month.in_(months), c.measure.in_(measures))
        .group_by(c.measure, c.category, c.ward, c.bucket)
        .order_by(c.bucket)
    )
    out: dict[tuple[str, str, str], list[tuple[int, int]]] = defaultdict(list)
    for measure, cat, ward, bucket, n in session.execute(query):
        out[(measure, cat, ward)].append((int(bucket), int(n)))
    return out


def _percentile(histogram: list[tuple[int, int]], share: float) -> int:
    total = sum(n for _, n in histogram)
    rank = max(math.ceil(share * total), 1)
    seen = 0
    for days, n in histogram:
        seen += n
        if seen >= rank:
            return days
    return histogram[-1][0]


# --- capacity: services and the wards they reach ---------------------------------------


def ward_centroids(path: Path = PLACES_FILE) -> dict[str, tuple[float, float]]:
    data = json.loads(path.read_text())
    return {w["name"]: (w["lat"], w["lon"]) for w in data["wards"]}


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    dlat = (a[0] - b[0]) * 111.2
    dlon = (a[1] - b[1]) * 111.2 * math.cos(math.radians((a[0] + b[0]) / 2))
    return math.hypot(dlat, dlon)


def reaches(service, ward: str, centroids: dict[str, tuple[float, float]]) -> bool:
    """Whether people in ``ward`` can use the service: it is there, near enough, or comes
    to them (phone, online, home visits). A service with no place serves everyone."""
    if set(service.delivery) & {"phone", "online", "home"}:
        return True
    if service.ward == ward:
        return True
    if service.lat is None or service.lon is None:
        return service.ward is None
    centre = centroids.get(ward)
    return centre is not None and _km((service.lat, service.lon), centre) <= REACH_KM


def _services(session: Session):
    s = store.services.c
    return session.execute(
        select(
            s.id,
            s.name,
            s.organisation_id,
            s.categories,
            s.ward,
            s.lat,
            s.lon,
            s.delivery,
            s.capacity_per_week,
            s.status,
        ).where(s.withdrawn.is_(False))
    ).all()


def active_services(session: Session) -> list:
    """The services that can take people now (not withdrawn, status active)."""
    return [s for s in _services(session) if s.status == "active"]


def _within(day_column, months: list[str]):
    """The dates of ``months`` as a range the column's index can answer."""
    first = date.fromisoformat(f"{min(months)}-01")
    last = _add_months(date.fromisoformat(f"{max(months)}-01"), 1)
    return (day_column >= first) & (day_column < last)


def _month_of_date(column):
    return func.substr(func.cast(column, String), 1, 7)


def _taken_by_month(session: Session, months: list[str]) -> dict[str, dict[str, int]]:
    """Per service and month, connections confirmed that still hold a place."""
    m = rm.service_months.c
    query = (
        select(m.service_id, m.month, func.sum(m.n))
        .where(m.month.in_(months), m.measure == "taken")
        .group_by(m.service_id, m.month)
    )
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for service_id, month, n in session.execute(query):
        out[service_id][month] = int(n)
    return out


# --- the reports ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    session: Session
    period: Period
    threshold: int
    wards: list[str]
    centroids: dict[str, tuple[float, float]]


def _label(category: str) -> str:
    return "any need" if category == rm.ANY else category


def _categories_in(raw: dict) -> list[str]:
    return sorted({cat for (_m, cat, _w) in raw if cat not in (rm.ANY, rm.ALL)})


def _people(ctx: Context, measures: tuple[str, ...], ward_lines_for: tuple[str, ...] = ()):
    """Figures for ``measures`` by category and ward; ``ward_lines_for`` names the
    measures whose category-by-ward cells are published beside their totals."""
    raw = _monthly(ctx.session, ctx.period, measures, ward_lines_for)
    monthly = _counts(raw)
    categories = _categories_in(raw)
    lines: list[Line] = []
    for measure in measures:
        cats = [rm.ANY, *categories] if measure in ward_lines_for else [rm.ANY]
        lines += _ward_lines(measure, cats, ctx.wards)
    return raw, Figures(monthly, lines, ctx.period, ctx.threshold), categories


def _practices(ctx: Context) -> tuple[list[str], Figures]:
    c = rm.cells.c
    query = (
        select(c.practice, c.month, func.sum(c.n))
        .where(
            c.month.in_(_both_periods(ctx.period)),
            c.measure == "referred",
            c.practice != rm.ALL,
            c.bucket == 0,
        )
        .group_by(c.practice, c.month)
    )
    monthly: Monthly = defaultdict(lambda: defaultdict(int))
    for practice, month, n in ctx.session.execute(query):
        monthly[("practice", practice)][month] += int(n)
        monthly[("referred", rm.ANY, rm.ALL)][month] += int(n)
    practices = sorted(k[1] for k in monthly if k[0] == "practice")
    line = ([("practice", p) for p in practices], ("referred", rm.ANY, rm.ALL))
    return practices, Figures(monthly, [line], ctx.period, ctx.threshold)


def _taken_by_category(ctx: Context, services) -> dict[str, dict]:
    """Places taken per category, month by month: a month counts only when every
    service of the category has 0 or at least ``threshold`` that month, so no difference
    between two categories (sharing some services) gives a small number away."""
    months = _both_periods(ctx.period)
    taken = _taken_by_month(ctx.session, months)
    monthly: Monthly = defaultdict(dict)
    hidden: dict[str, set[str]] = defaultdict(set)
    for s in services:
        for category in s.categories:
            for month in months:
                n = taken.get(s.id, {}).get(month, 0)
                monthly[category][month] = monthly[category].get(month, 0) + n
                if 0 < n < ctx.threshold:
                    hidden[category].add(month)

    def figure(category: str, period: Period) -> dict:
        ms = period.month_keys
        gone = hidden[category] & set(ms)
        shown = sum(v for m, v in monthly[category].items() if m in ms and m not in gone)
        if gone and shown == 0:
            return {"value": None, "suppressed": True, "at_least": False}
        return {"value": shown, "suppressed": False, "at_least": bool(gone)}

    return {c: figure(c, ctx.period) for c in monthly}


def demand(ctx: Context) -> dict:
    """People referred needing each category; places offered and taken; people with no
    available place or no suitable service; by category, ward and practice."""
    measures = ("referred", "unmet", "no_place", "no_service")
    _raw, fig, categories = _people(ctx, measures, ward_lines_for=("referred",))
    services = _services(ctx.session)
    offered: dict[str, int] = defaultdict(int)
    service_count: dict[str, int] = defaultdict(int)
    for s in services:
        for category in s.categories:
            service_count[category] += 1
            offered[category] += round((s.capacity_per_week or 0) * ctx.period.weeks)
    taken = _taken_by_category(ctx, services)
    categories = sorted(set(categories) | set(service_count))
    rows = []
    for category in [rm.ANY, *categories]:
        people = fig(("referred", category, rm.ALL))
        previous = fig(("referred", category, rm.ALL), previous=True)
        row = {
            "category": _label(category),
            "people": people,
            "previous_people": previous,
            "change": _change(people, previous),
            "unmet": fig(("unmet", category, rm.ALL)),
            "no_available_place": fig(("no_place", category, rm.ALL)),
        }
        if category == rm.ANY:
            row["no_suitable_service"] = fig(("no_service", rm.ANY, rm.ALL))
        else:
            places_taken = taken.get(category, ZERO)
            known = _value(places_taken)
            row.update(
                services=service_count.get(category, 0),
                places_offered=offered.get(category, 0),
                places_taken=places_taken,
                places_free=None if known is None else max(offered[category] - known, 0),
            )
        rows.append(row)
    practices, by_practice_fig = _practices(ctx)
    by_practice = [{"practice": p, "people": by_practice_fig(("practice", p))} for p in practices]
    by_ward = [
        {
            "category": _label(category),
            "total": fig(("referred", category, rm.ALL)),
            "by_ward": {w: fig(("referred", category, w)) for w in ctx.wards},
        }
        for category in [rm.ANY, *categories]
    ]
    return {"tables": {"by_category": rows, "by_ward": by_ward, "by_practice": by_practice}}


def capacity_by_ward(ctx: Context, services=None) -> dict[tuple[str, str], int]:
    """Weekly places of the services that reach each ward, per category."""
    services = services if services is not None else _services(ctx.session)
    out: dict[tuple[str, str], int] = defaultdict(int)
    for s in services:
        if s.status != "active":
            continue
        for ward in ctx.wards:
            if reaches(s, ward, ctx.centroids):
                for category in s.categories:
                    out[(category, ward)] += s.capacity_per_week or 0
    return out


def _sum(*counts: dict) -> dict:
    if all(c["suppressed"] for c in counts if c["value"] != 0) and any(
        c["suppressed"] for c in counts
    ):
        return {"value": None, "suppressed": True, "at_least": False}
    return {
        "value": sum(c["value"] or 0 for c in counts),
        "suppressed": False,
        "at_least": any(c["suppressed"] or c["at_least"] for c in counts),
    }


def gaps(ctx: Context) -> dict:
    """Category x ward cells where people's needs outran what reaches them: people whose
    need found no good match or no free place, most first, against the previous period."""
    measures = ("referred", "unmet", "no_place")
    _raw, fig, categories = _people(ctx, measures, ward_lines_for=measures)
    weekly = capacity_by_ward(ctx)
    rows = []
    for category in categories:
        for ward in ctx.wards:
            people = fig(("referred", category, ward))
            unmet, full = fig(("unmet", category, ward)), fig(("no_place", category, ward))
            shortfall = _sum(unmet, full)
            previous = _sum(
                fig(("unmet", category, ward), True), fig(("no_place", category, ward), True)
            )
            places = round(weekly.get((category, ward), 0) * ctx.period.weeks)
            lower = people["value"] if not people["suppressed"] else None
            over = (
                None
                if lower is None
                else (lower > places or (None if people["at_least"] else False))
            )
            if shortfall["value"] == 0 and not over:
                continue
            rows.append(
                {
                    "category": category,
                    "ward": ward,
                    "people": people,
                    "unmet": unmet,
                    "no_available_place": full,
                    "shortfall": shortfall,
                    "previous_shortfall": previous,
                    "change": _change(shortfall, previous),
                    "weekly_capacity_reaching_ward": weekly.get((category, ward), 0),
                    "places_offered": places,
                    "demand_over_capacity": over,
                }
            )
    rows.sort(key=lambda r: (-(r["shortfall"]["value"] or 0), r["category"], r["ward"]))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return {"tables": {"gaps": rows}}


def emerging_needs(ctx: Context) -> dict:
    """Needs nothing in the directory met, or no concept recognised, grouped by likeness,
    counted in distinct referrals, rising groups first, with the wards they come from."""
    t = ctx.threshold
    p = rm.phrases.c
    months = _both_periods(ctx.period)
    monthly: Monthly = defaultdict(lambda: defaultdict(int))
    for label, ward, month, n in ctx.session.execute(
        select(p.group_label, p.ward, p.month, func.count(func.distinct(p.referral_id)))
        .where(p.month.in_(months))
        .group_by(p.group_label, p.ward, p.month)
    ):
        monthly[("need", label, ward)][month] += int(n)
        monthly[("need", label, rm.ALL)][month] += int(n)
    labels = sorted({k[1] for k in monthly})
    # Counted across the wards first: a need's wards are listed only where at least the
    # threshold of its referrals came from, and the others are not published at all
    # (neither as zero nor as suppressed), so the total gives no ward's count away and
    # needs no secondary suppression. A need spread thinly over many wards emerges.
    fig = Figures(monthly, [], ctx.period, t)
    words: dict[str, dict[str, int]] = defaultdict(dict)
    for label, phrase, n in ctx.session.execute(
        select(p.group_label, p.phrase, func.count(func.distinct(p.referral_id)))
        .where(p.month.in_(ctx.period.month_keys))
        .group_by(p.group_label, p.phrase)
    ):
        words[label][phrase] = int(n)
    out = []
    for label in labels:
        referrals = fig(("need", label, rm.ALL))
        if (referrals["value"] or 0) < t or label not in words:
            continue
        need = _shared_words(words[label], t)
        if not need:
            continue
        previous = fig(("need", label, rm.ALL), previous=True)
        wards = [
            {"ward": w, "referrals": fig(("need", label, w))}
            for w in ctx.wards
            if (fig(("need", label, w))["value"] or 0) >= t
        ]
        wards.sort(key=lambda w: -w["referrals"]["value"])
        change = _change(referrals, previous)
        out.append(
            {
                "need": need,
                "referrals": referrals,
                "previous_referrals": previous,
                "change": change,
                "rising": previous["value"] == 0 or (change or 0) > 0,
                "wards": wards,
            }
        )
    out.sort(key=lambda r: (-(r["change"] or 0), -r["referrals"]["value"], r["need"]))
    return {"tables": {"emerging_needs": out}}


def _shared_words(phrases: dict[str, int], threshold: int) -> str:
    """The words of the group's commonest phrase that at least ``threshold`` referrals
    used: never a word only one or two people wrote."""
    top = max(phrases, key=lambda ph: (phrases[ph], ph))
    kept = []
    for word in top.split():
        used = sum(n for ph, n in phrases.items() if word in ph.split())
        if used >= threshold:
            kept.append(word)
    return " ".join(kept)


OUTCOME_STAGES = ("connected", "attended", "did_not_attend", "completed")


def outcomes(ctx: Context) -> dict:
    """Connections made, attendance, did-not-attend and completion; wellbeing change at
    follow-up per category with the number of people it rests on."""
    wb = tuple(f"wb_{i}" for i in rm.WELLBEING_ITEMS)
    raw, fig, categories = _people(ctx, (*OUTCOME_STAGES, *wb))
    t = ctx.threshold
    period = set(ctx.period.month_keys)
    sums: dict[tuple[str, str], list] = defaultdict(lambda: [0, 0.0])  # people, total change
    for (m, cat, _w), months in raw.items():
        if m in wb:
            for month, (k, v) in months.items():
                if month in period:
                    sums[(m, cat)][0] += k
                    sums[(m, cat)][1] += v
    rows, wellbeing = [], []
    for category in [rm.ANY, *categories]:
        rows.append(
            {"category": _label(category)}
            | {stage: fig((stage, category, rm.ALL)) for stage in OUTCOME_STAGES}
        )
        line: dict = {"category": _label(category)}
        for item in rm.WELLBEING_ITEMS:
            n, total = sums.get((f"wb_{item}", category), (0, 0.0))
            line[f"{item}_people"] = fig((f"wb_{item}", category, rm.ALL))
            line[f"{item}_mean_change"] = _mean(total, n, t) if n else None
        wellbeing.append(line)
    return {"tables": {"outcomes": rows, "wellbeing_change": wellbeing}}


FUNNEL = (
    "referred",
    "contacted",
    "connected",
    "signposted",
    "referred_on",
    "accepted",
    "attended",
    "completed",
)


def funnel(ctx: Context) -> dict:
    """Referred -> contacted -> signposted / referred on -> accepted -> attended ->
    completed, by category and by ward, with the drop between stages."""
    _raw, fig, categories = _people(ctx, FUNNEL, ward_lines_for=("referred",))

    def line(kind: str, key: str) -> dict:
        category, ward = (key, rm.ALL) if kind == "category" else (rm.ANY, key)
        row: dict = {kind: _label(key) if kind == "category" else key}
        for stage in FUNNEL:
            row[stage] = fig((stage, category, ward))
        row["lost_before_contact"] = _change(row["referred"], row["contacted"])
        row["lost_before_connection"] = _change(row["contacted"], row["connected"])
        row["lost_before_attending"] = _change(row["connected"], row["attended"])
        return row

    by_category = [line("category", c) for c in [rm.ANY, *categories]]
    by_ward = [line("ward", w) for w in ctx.wards]
    return {"tables": {"by_category": by_category, "by_ward": by_ward}}


WAITS = {
    "wait_contact": "referral to first contact",
    "wait_connection": "referral to connection",
    "wait_answer": "referral to the group's answer",
}


def waiting_times(ctx: Context) -> dict:
    """Days from referral to first contact, to connection, to the group's answer:
    median and 90th percentile, overall, by category and by ward."""
    t = ctx.threshold
    months = _both_periods(ctx.period)
    hist_now = _histograms(ctx.session, ctx.period.month_keys, tuple(WAITS))
    hist_before = _histograms(ctx.session, ctx.period.previous().month_keys, tuple(WAITS))
    c = rm.cells.c
    monthly: Monthly = defaultdict(lambda: defaultdict(int))
    for measure, cat, ward, month, n in ctx.session.execute(
        select(c.measure, c.category, c.ward, c.month, func.sum(c.n))
        .where(c.month.in_(months), c.measure.in_(tuple(WAITS)))
        .group_by(c.measure, c.category, c.ward, c.month)
    ):
        monthly[(measure, cat, ward)][month] += int(n)
    every = [*ctx.wards, rm.UNKNOWN_WARD]
    lines = [([(m, rm.ANY, w) for w in every], (m, rm.ANY, rm.ALL)) for m in WAITS]
    fig = Figures(monthly, lines, ctx.period, t)

    def stats(h) -> tuple[int | None, int | None]:
        n = sum(k for _, k in h) if h else 0
        if n < t:
            return None, None
        return _percentile(h, 0.5), _percentile(h, 0.9)

    rows = []
    for key in sorted(k for k in monthly if k[0] in WAITS):
        measure, cat, ward = key
        if cat != rm.ANY and ward != rm.ALL:
            continue
        people = fig(key)
        if people["value"] == 0 and not people["suppressed"]:
            continue
        median, p90 = stats(hist_now.get(key))
        before, _ = stats(hist_before.get(key))
        rows.append(
            {
                "wait": WAITS[measure],
                "category": _label(cat),
                "ward": "all wards" if ward == rm.ALL else ward,
                "people": people,
                "median_days": median,
                "p90_days": p90,
                "previous_median_days": before,
            }
        )
    return {"tables": {"waiting_times": rows}}


def responsiveness(ctx: Context) -> dict:
    """Per service and organisation: referrals made to it, how many it answered, the
    median days to answer and the share accepted (where at least ``threshold`` answered)."""
    t = ctx.threshold
    months = _both_periods(ctx.period)
    rows = _responsiveness_rows(ctx.session, months)
    names = {s.id: (s.name, s.organisation_id) for s in _services(ctx.session)}
    orgs = dict(
        ctx.session.execute(select(store.organisations.c.id, store.organisations.c.name)).all()
    )
    monthly: Monthly = defaultdict(lambda: defaultdict(int))
    members: dict[str, list[str]] = defaultdict(list)
    stats: dict[Key, dict] = {}
    for (service_id, month), r in rows.items():
        org = names.get(service_id, (service_id, r["organisation_id"]))[1] or ""
        if service_id not in members[org]:
            members[org].append(service_id)
        for field in ("referred", "answered"):
            monthly[(field, "service", service_id)][month] += r[field]
            monthly[(field, "organisation", org)][month] += r[field]
        if month in ctx.period.month_keys:
            for key in (("service", service_id), ("organisation", org)):
                s = stats.setdefault(key, {"answered": 0, "accepted": 0, "days": defaultdict(int)})
                s["answered"] += r["answered"]
                s["accepted"] += r["accepted"]
                for d, n in r["days"].items():
                    s["days"][d] += n
    lines = [
        ([(f, "service", s) for s in services], (f, "organisation", org))
        for org, services in members.items()
        for f in ("referred", "answered")
    ]
    fig = Figures(monthly, lines, ctx.period, t)

    def line(kind: str, key: str) -> dict:
        s = stats.get((kind, key), {"answered": 0, "accepted": 0, "days": {}})
        ok = s["answered"] >= t
        hist = sorted(s["days"].items())
        return {
            "referrals": fig(("referred", kind, key)),
            "answered": fig(("answered", kind, key)),
            "median_days_to_answer": _percentile(hist, 0.5) if ok and hist else None,
            "accepted_percent": _share(s["accepted"], s["answered"], t),
        }

    services = [
        {
            "service_id": sid,
            "service": names.get(sid, (sid, None))[0],
            "organisation": orgs.get(org, org),
        }
        | line("service", sid)
        for org, sids in sorted(members.items())
        for sid in sorted(sids)
    ]
    organisations = [
        {"organisation_id": org, "organisation": orgs.get(org, org)} | line("organisation", org)
        for org in sorted(members)
    ]
    return {"tables": {"services": services, "organisations": organisations}}


def _responsiveness_rows(session: Session, months: list[str], service_ids=None) -> dict:
    """{(service, month confirmed): referred, answered, accepted, days histogram}."""
    m = rm.service_months.c
    query = select(m.service_id, m.month, m.measure, m.bucket, m.n, m.organisation_id).where(
        m.month.in_(months), m.measure.in_(("referred", "answered", "accepted", "answer_days"))
    )
    if service_ids is not None:
        query = query.where(m.service_id.in_(service_ids))
    out: dict[tuple[str, str], dict] = {}
    for service_id, month, measure, bucket, n, org in session.execute(query):
        r = out.setdefault(
            (service_id, month),
            {"organisation_id": None, "referred": 0, "answered": 0, "accepted": 0, "days": {}},
        )
        r["organisation_id"] = r["organisation_id"] or org
        if measure == "answer_days":
            if n:
                r["days"][int(bucket)] = r["days"].get(int(bucket), 0) + int(n)
        else:
            r[measure] += int(n)
    return out


def service_responsiveness(session: Session, today: date, threshold: int, ids: list[str]) -> dict:
    """What link workers see beside a proposal, over the last 12 months: shown only
    where at least ``threshold`` referrals were answered."""
    period = period_for(today, "last_12_months")
    rows = _responsiveness_rows(session, period.month_keys, ids)
    out: dict[str, dict] = {}
    for (service_id, _m), r in rows.items():
        s = out.setdefault(service_id, {"answered": 0, "accepted": 0, "days": defaultdict(int)})
        s["answered"] += r["answered"]
        s["accepted"] += r["accepted"]
        for d, n in r["days"].items():
            s["days"][d] += n
    return {
        sid: {
            "median_days_to_answer": _percentile(sorted(s["days"].items()), 0.5),
            "accepted_percent": _share(s["accepted"], s["answered"], threshold),
        }
        for sid, s in out.items()
        if s["answered"] >= threshold and s["days"]
    }


REPORTS = {
    "demand": demand,
    "gaps": gaps,
    "emerging-needs": emerging_needs,
    "outcomes": outcomes,
    "funnel": funnel,
    "waiting-times": waiting_times,
    "responsiveness": responsiveness,
}


def run_report(name: str, session: Session, period: Period, threshold: int) -> dict:
    centroids = ward_centroids()
    ctx = Context(session, period, threshold, sorted(centroids), centroids)
    body = REPORTS[name](ctx)
    return {
        "report": name,
        "period": period.as_json(),
        "previous_period": period.previous().as_json(),
        "suppression_threshold": threshold,
        **body,
    }
