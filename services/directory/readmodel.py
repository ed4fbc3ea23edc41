"""The reports' read model: monthly counts of people, kept up to date by the events.

Reports are sums over a few months of ``insight_cells`` rows, so they cost the same over
a year of demo data as over a million referrals. Each referral counts in the month it was
submitted (a cohort), once per need category and once under ``*`` (any need): a person
needing three kinds of help is one person in the ``*`` row.

How it stays right: ``insight_referrals`` keeps each referral's journey (when it was
contacted, connected, answered, attended...) and ``insight_referral_categories`` its need
categories. Every event changes that state; the handler computes the referral's
contributions to the cells before and after, and adds the difference. Replays and
re-matching therefore never double count. Waiting times are kept as histograms by whole
days (``bucket``), from which medians and 90th percentiles are read exactly.
"""

from __future__ import annotations

import re
import time
import weakref
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

from rapidfuzz import fuzz, process
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    bindparam,
    func,
    select,
)
from sqlalchemy.orm import Session

from services.directory import store
from services.directory.deferred import Replace, deferred, upsert
from shared.events import (
    Envelope,
    GroupAnswered,
    MatchConfirmed,
    MatchesProposed,
    ReferralClosed,
    ReferralContacted,
    ReferralOutcomeRecorded,
    ReferralSubmitted,
    WellbeingChanged,
)

__all__ = [
    "ALL",
    "ANY",
    "STAGES",
    "InsightProjector",
    "cells",
    "contributions",
    "month_of",
    "normalise_phrase",
]

ANY = "*"  # any need category: each person once
ALL = "*"  # all wards or all practices (a row not broken down that way)
UNKNOWN_WARD = "unknown"
#: Stages of the journey, in funnel order; each is a flag on ``insight_referrals``.
STAGES = (
    "referred",
    "contacted",
    "connected",
    "signposted",
    "referred_on",
    "accepted",
    "attended",
    "did_not_attend",
    "completed",
)
WELLBEING_ITEMS = ("life_satisfaction", "worthwhile", "happiness", "anxiety", "swemwbs_metric")
WAITS = {"wait_contact": "contacted_at", "wait_connection": "connected_at"}
WAITS_ANSWER = "wait_answer"

md = store.metadata

referrals = Table(
    "insight_referrals",
    md,
    Column("referral_id", String(64), primary_key=True),
    Column("practice", String(10), nullable=False),
    Column("ward", String(100), nullable=False),
    Column("month", String(7), nullable=False, index=True),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("gp_categories", JSON, nullable=False),
    Column("matched", Boolean, nullable=False, default=False),
    Column("no_service", Boolean, nullable=False, default=False),
    Column("contacted_at", DateTime(timezone=True)),
    Column("connected_at", DateTime(timezone=True)),
    Column("answered_at", DateTime(timezone=True)),
    Column("signposted", Boolean, nullable=False, default=False),
    Column("referred_on", Boolean, nullable=False, default=False),
    Column("accepted", Boolean, nullable=False, default=False),
    Column("attended", Boolean, nullable=False, default=False),
    Column("did_not_attend", Boolean, nullable=False, default=False),
    Column("completed", Boolean, nullable=False, default=False),
    Column("closed_at", DateTime(timezone=True)),
    Column("wellbeing", JSON(none_as_null=True)),  # None is NULL, not JSON null
)

referral_categories = Table(
    "insight_referral_categories",
    md,
    Column("referral_id", String(64), primary_key=True),
    Column("category", String(100), primary_key=True),
    Column("unmet", Boolean, nullable=False),
    Column("no_place", Boolean, nullable=False),
)

cells_table = Table(
    "insight_cells",
    md,
    Column("month", String(7), primary_key=True),
    Column("measure", String(40), primary_key=True),
    Column("category", String(100), primary_key=True),
    Column("ward", String(100), primary_key=True),
    Column("practice", String(10), primary_key=True),
    Column("bucket", Integer, primary_key=True),
    Column("n", Integer, nullable=False),
    Column("total", Float, nullable=False),
)

phrases = Table(
    "insight_phrases",
    md,
    Column("referral_id", String(64), primary_key=True),
    Column("phrase", String(200), primary_key=True),
    Column("group_label", String(200), nullable=False, index=True),
    Column("ward", String(100), nullable=False),
    Column("month", String(7), nullable=False, index=True),
)

phrase_groups = Table(
    "insight_phrase_groups",
    md,
    Column("phrase", String(200), primary_key=True),
    Column("group_label", String(200), nullable=False),
)

cells = cells_table

#: The capacity ledger as the reports need it: each connection's state here, and per
#: service and month (of the connection) the referrals made, answered and accepted, the
#: places still held, and the days to the group's answer as a histogram (``bucket``).
ledger = Table(
    "insight_connections",
    md,
    Column("connection_id", String(64), primary_key=True),
    Column("service_id", String(100), nullable=False),
    Column("mode", String(20), nullable=False),
    Column("month", String(7), nullable=False),
    Column("confirmed_at", DateTime(timezone=True), nullable=False),
    Column("organisation_id", String(100)),
    Column("answered_at", DateTime(timezone=True)),
    Column("accepted", Boolean),
    Column("outcome", String(30)),
)

service_months = Table(
    "insight_service_months",
    md,
    Column("month", String(7), primary_key=True),
    Column("service_id", String(100), primary_key=True),
    Column("measure", String(20), primary_key=True),
    Column("bucket", Integer, primary_key=True),
    Column("organisation_id", String(100)),
    Column("n", Integer, nullable=False),
)
FREES_A_PLACE = ("no_capacity", "declined_by_patient")

Key = tuple[str, str, str, str, str, int]  # month, measure, category, ward, practice, bucket


def month_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


def _days(start: datetime, end: datetime | None) -> int | None:
    if end is None:
        return None
    return max(int((_aware(end) - _aware(start)).total_seconds() // 86400), 0)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def contributions(referral, categories: Iterable) -> Counter:
    """What one referral adds to the cells: {key: (count, total)} as a Counter of pairs.

    ``referral`` is an ``insight_referrals`` row (or anything with its attributes);
    ``categories`` are its ``insight_referral_categories`` rows."""
    out: Counter = Counter()
    totals: Counter = Counter()
    cats = list(categories)
    names = [c.category for c in cats] or ["uncategorised"]
    base = (referral.month,)
    place = (referral.ward, ALL)
    flags = {
        "referred": True,
        "contacted": referral.contacted_at is not None,
        "connected": referral.connected_at is not None,
        "signposted": referral.signposted,
        "referred_on": referral.referred_on,
        "accepted": referral.accepted,
        "attended": referral.attended,
        "did_not_attend": referral.did_not_attend,
        "completed": referral.completed,
    }
    waits = {
        "wait_contact": _days(referral.submitted_at, referral.contacted_at),
        "wait_connection": _days(referral.submitted_at, referral.connected_at),
        WAITS_ANSWER: _days(referral.submitted_at, referral.answered_at),
    }
    for category in [ANY, *names]:
        for stage, on in flags.items():
            if on:
                out[(*base, stage, category, *place, 0)] += 1
        for measure, days in waits.items():
            if days is not None:  # by category over all wards, and by ward below
                out[(*base, measure, category, ALL, ALL, days)] += 1
                if category == ANY:
                    out[(*base, measure, ANY, referral.ward, ALL, days)] += 1
        if referral.wellbeing:
            for item in WELLBEING_ITEMS:
                value = referral.wellbeing.get(item)
                if value is not None:
                    key = (*base, f"wb_{item}", category, *place, 0)
                    out[key] += 1
                    totals[key] += value
    out[(*base, "referred", ANY, referral.ward, referral.practice, 0)] += 1
    if referral.no_service:
        out[(*base, "no_service", ANY, *place, 0)] += 1
    if any(c.unmet for c in cats):
        out[(*base, "unmet", ANY, *place, 0)] += 1
    if any(c.no_place for c in cats):
        out[(*base, "no_place", ANY, *place, 0)] += 1
    for c in cats:
        if c.unmet:
            out[(*base, "unmet", c.category, *place, 0)] += 1
        if c.no_place:
            out[(*base, "no_place", c.category, *place, 0)] += 1
    return Counter({k: (n, totals.get(k, 0.0)) for k, n in out.items()})


def ledger_contributions(connection) -> Counter:
    """What one connection adds to ``insight_service_months``: {(month, service, measure,
    bucket): n}. A connection holds a place unless its outcome gave it back."""
    if connection is None:
        return Counter()
    base = (connection.month, connection.service_id)
    out: Counter = Counter()
    if connection.outcome not in FREES_A_PLACE:
        out[(*base, "taken", 0)] += 1
    if connection.mode == "referral":
        out[(*base, "referred", 0)] += 1
        if connection.answered_at is not None:
            out[(*base, "answered", 0)] += 1
            out[(*base, "accepted", 0)] += bool(connection.accepted)
            waited = _aware(connection.answered_at) - _aware(connection.confirmed_at)
            out[(*base, "answer_days", int(waited.total_seconds() // 86400))] += 1
    return out


def _difference(before: Counter, after: Counter) -> dict[Key, tuple[int, float]]:
    keys = set(before) | set(after)
    out = {}
    for key in keys:
        n0, t0 = before.get(key, (0, 0.0))
        n1, t1 = after.get(key, (0, 0.0))

        if n0 != n1 or t0 != t1:
            out[key] = (n1 - n0, t1 - t0)
    return out


CELL_KEYS = ("month", "measure", "category", "ward", "practice", "bucket")
SERVICE_MONTH_KEYS = ("month", "service_id", "measure", "bucket")


def _add_n_total(table: Table, excluded) -> dict:
    return {"n": table.c.n + excluded.n, "total": table.c.total + excluded.total}


def _add_n_keep_organisation(table: Table, excluded) -> dict:
    return {
        "n": table.c.n + excluded.n,
        "organisation_id": func.coalesce(excluded.organisation_id, table.c.organisation_id),
    }


def _whole_row(table: Table, excluded) -> dict:
    return {c.name: excluded[c.name] for c in table.c if not c.primary_key}


class _Cells:
    """The transaction's changes to ``insight_cells``, summed per cell: one upsert.

    Counts add up in any order. A total (wellbeing) is a float, whose sum depends on the
    order of the additions, so each change to a cell's total is kept and added in the
    order the events came: a cell with a second change of its total in the same
    transaction (rare: two wellbeing changes in one month, ward and category) takes a
    second upsert, and so on, so no statement names a cell twice."""

    def __init__(self) -> None:
        self.n: dict[Key, int] = {}
        self.totals: dict[Key, list[float]] = {}

    def add(self, delta: dict[Key, tuple[int, float]]) -> None:
        n_of, totals = self.n, self.totals
        for key, (n, total) in delta.items():
            n_of[key] = n_of.get(key, 0) + n
            if total:
                totals.setdefault(key, []).append(total)

    def flush(self, session: Session) -> None:
        if not self.n:
            return
        stmt = upsert(session, cells_table, CELL_KEYS, _add_n_total)
        rows = []
        for key, n in self.n.items():
            totals = self.totals.get(key)
            rows.append(
                {
                    **dict(zip(CELL_KEYS, key, strict=True)),
                    "n": n,
                    "total": totals[0] if totals else 0.0,
                }
            )
        session.execute(stmt, rows)
        later = 1
        while True:
            rows = [
                {**dict(zip(CELL_KEYS, key, strict=True)), "n": 0, "total": totals[later]}
                for key, totals in self.totals.items()
                if len(totals) > later
            ]
            if not rows:
                return
            session.execute(stmt, rows)
            later += 1


class _ServiceMonths:
    """The transaction's changes to ``insight_service_months``: one upsert. A row takes
    the last organisation named by a change to it (as one upsert per event would, each
    keeping the stored organisation when it names none)."""

    def __init__(self) -> None:
        self.n: dict[tuple, int] = {}
        self.organisation: dict[tuple, str | None] = {}

    def add(self, delta: dict, organisation_id: str | None) -> None:
        for key, n in delta.items():
            if not n:
                continue
            self.n[key] = self.n.get(key, 0) + n
            if organisation_id is not None or key not in self.organisation:
                self.organisation[key] = organisation_id

    def flush(self, session: Session) -> None:
        if not self.n:
            return
        stmt = upsert(session, service_months, SERVICE_MONTH_KEYS, _add_n_keep_organisation)
        session.execute(
            stmt,
            [
                {
                    **dict(zip(SERVICE_MONTH_KEYS, key, strict=True)),
                    "organisation_id": self.organisation[key],
                    "n": n,
                }
                for key, n in self.n.items()
            ],
        )


_WORD = re.compile(r"[a-z]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "the",
        "of",
        "to",
        "for",
        "with",
        "in",
        "on",
        "at",
        "by",
        "from",
        "or",
        "but",
        "is",
        "are",
        "was",
        "be",
        "been",
        "she",
        "he",
        "her",
        "his",
        "him",
        "they",
        "them",
        "their",
        "it",
        "its",
        "this",
        "that",
        "who",
        "would",
        "like",
        "wants",
        "want",
        "needs",
        "need",
        "help",
        "mrs",
        "mr",
        "ms",
        "miss",
        "dr",
    ]
)


def _letters(label: str) -> str:
    return " ".join(re.findall(r"[a-z]+", label.lower()))


def normalise_phrase(text: str, max_words: int = 5) -> str:
    """Lower-case words only: no digits, no punctuation, no titles or filler words."""
    words = [w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2]
    return " ".join(words[:max_words])


class _Row:
    """A row as stored (attribute access), kept in memory for the transaction."""

    def __init__(self, values: dict) -> None:
        self.__dict__.update(values)


_REFERRAL_COLUMNS = tuple(c.name for c in referrals.c)
_CONNECTION_COLUMNS = tuple(c.name for c in ledger.c)
_rc = referral_categories.c
#: A referral's row and its categories in one read (one row per category).
_SELECT_STATE = (
    select(referrals, _rc.category, _rc.unmet, _rc.no_place)
    .outerjoin(referral_categories, _rc.referral_id == referrals.c.referral_id)
    .where(referrals.c.referral_id.in_(bindparam("ids", expanding=True)))
)
_SELECT_CONNECTIONS = select(ledger).where(
    ledger.c.connection_id.in_(bindparam("ids", expanding=True))
)
_SELECT_GROUPS = select(phrase_groups.c.phrase, phrase_groups.c.group_label).where(
    phrase_groups.c.phrase.in_(bindparam("phrases", expanding=True))
)
_SELECT_LABELS = select(phrase_groups.c.group_label).distinct()


class _Pending:
    """What the read model's handlers of one transaction have read and will write: each
    referral's and connection's row as the transaction leaves it (read once, then kept
    here), and the changes to the cells. Written at commit, one statement per table
    (see deferred.py); later events of the transaction read their predecessors' effects
    from here, as they would have read them from the database."""

    def __init__(self) -> None:
        self.referrals: dict[str, _Row | None] = {}  # None: not in the read model
        self.categories: dict[str, list[_Row]] = {}
        self.referrals_written: dict[str, None] = {}  # ordered set
        self.categories_written: dict[str, None] = {}
        self.cells = _Cells()
        self.phrases = Replace(phrases, "referral_id")
        self.new_groups: dict[str, str] = {}  # phrase -> group label, new this transaction
        self.known_labels: list[str] | None = None  # the group labels, read once if needed
        self.connections: dict[str, _Row | None] = {}
        self.connections_written: dict[str, None] = {}
        self.service_months = _ServiceMonths()

    def flush(self, session: Session) -> None:
        if self.referrals_written:
            session.execute(
                upsert(session, referrals, ("referral_id",), _whole_row),
                [vars(self.referrals[i]) for i in self.referrals_written],
            )
        if self.categories_written:
            ids = list(self.categories_written)
            session.execute(_DELETE_CATEGORIES, {"ids": ids})
            rows = [vars(c) for i in ids for c in self.categories[i]]
            if rows:
                session.execute(referral_categories.insert(), rows)
        self.cells.flush(session)
        if self.new_groups:
            session.execute(
                phrase_groups.insert(),
                [{"phrase": p, "group_label": g} for p, g in self.new_groups.items()],
            )
        self.phrases.flush(session)
        if self.connections_written:
            session.execute(
                upsert(session, ledger, ("connection_id",), _whole_row),
                [vars(self.connections[i]) for i in self.connections_written],
            )
        self.service_months.flush(session)


_DELETE_CATEGORIES = referral_categories.delete().where(
    _rc.referral_id.in_(bindparam("ids", expanding=True))
)


class InsightProjector:
    """Keeps the reports' read model; its handlers run in the consumer's transaction and
    write at its commit (``_Pending``)."""

    similarity = 85  # rapidfuzz token_sort_ratio at or above which two phrases group
    labels_refresh_s = 60.0  # how long a category spelling nobody uses stays unknown
    groups_kept = 50_000  # phrases whose group is remembered between transactions

    def __init__(self) -> None:
        self._labels: dict[str, str] = {}  # a category's letters -> the directory's label
        self._labels_read_at: dict[str, float] = {}  # letters not found -> when looked for
        #: per database, phrase -> its group as committed (a phrase's group never changes
        #: once stored); per database because tests run several in one process
        self._groups: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.handlers = {
            ReferralSubmitted: self.referral_submitted,
            MatchesProposed: self.matches_proposed,
            ReferralContacted: self.contacted,
            MatchConfirmed: self.match_confirmed,
            GroupAnswered: self.group_answered,
            ReferralOutcomeRecorded: self.outcome_recorded,
            WellbeingChanged: self.wellbeing_changed,
            ReferralClosed: self.closed,
        }

    # --- the referral's state, and the cells it moves --------------------------------

    def _pending(self, session: Session) -> _Pending:
        writes = deferred(session)
        pending = writes.parts.get("insight")
        if pending is None:
            pending = writes.part("insight", _Pending)
            groups = self._groups_known(session)
            writes.after_commit.append(lambda: self._remember(groups, pending.new_groups))
        return pending

    def _load(self, session: Session, pending: _Pending, referral_ids) -> None:
        """Read the referrals this transaction has not read yet, in one statement."""
        missing = [i for i in dict.fromkeys(referral_ids) if i not in pending.referrals]
        if not missing:
            return
        for i in missing:
            pending.referrals[i] = None
            pending.categories[i] = []
        for r in session.execute(_SELECT_STATE, {"ids": missing}):
            m = r._mapping
            referral_id = m["referral_id"]
            if pending.referrals[referral_id] is None:
                pending.referrals[referral_id] = _Row({c: m[c] for c in _REFERRAL_COLUMNS})
            if m["category"] is not None:
                pending.categories[referral_id].append(
                    _Row(
                        {
                            "referral_id": referral_id,
                            "category": m["category"],
                            "unmet": m["unmet"],
                            "no_place": m["no_place"],
                        }
                    )
                )

    def _state(self, session: Session, referral_id: str) -> tuple[_Pending, _Row | None]:
        pending = self._pending(session)
        self._load(session, pending, (referral_id,))
        return pending, pending.referrals[referral_id]

    def _change(
        self,
        session: Session,
        referral_id: str,
        values: dict | None = None,
        categories: list[dict] | None = None,
    ) -> None:
        pending, row = self._state(session, referral_id)
        if row is None:
            return  # an event for a referral submitted before reports began
        before = contributions(row, pending.categories[referral_id])
        if values:
            vars(row).update(values)
            pending.referrals_written[referral_id] = None
        if categories is not None:
            pending.categories[referral_id] = [
                _Row({"referral_id": referral_id, **c}) for c in categories
            ]
            pending.categories_written[referral_id] = None
        after = contributions(row, pending.categories[referral_id])
        pending.cells.add(_difference(before, after))

    # --- handlers ----------------------------------------------------------------------

    def referral_submitted(self, session: Session, event: ReferralSubmitted, env: Envelope) -> None:
        pending, exists = self._state(session, event.referral_id)
        if exists is not None:
            return
        at = _aware(env.occurred_at)
        row = _Row(
            {
                "referral_id": event.referral_id,
                "practice": event.practice_ods,
                "ward": event.profile.ward or UNKNOWN_WARD,
                "month": month_of(at),
                "submitted_at": at,
                "gp_categories": list(event.profile.need_categories),
                "matched": False,
                "no_service": False,
                "contacted_at": None,
                "connected_at": None,
                "answered_at": None,
                "signposted": False,
                "referred_on": False,
                "accepted": False,
                "attended": False,
                "did_not_attend": False,
                "completed": False,
                "closed_at": None,
                "wellbeing": None,
            }
        )
        cats = [
            _Row(
                {"referral_id": event.referral_id, "category": c, "unmet": False, "no_place": False}
            )
            for c in event.profile.need_categories
        ]
        pending.referrals[event.referral_id] = row
        pending.categories[event.referral_id] = cats
        pending.referrals_written[event.referral_id] = None
        if cats:
            pending.categories_written[event.referral_id] = None
        pending.cells.add(_difference(Counter(), contributions(row, cats)))

    def matches_proposed(self, session: Session, event: MatchesProposed, env: Envelope) -> None:
        pending, row = self._state(session, event.referral_id)
        if row is None:
            return
        unmet_phrases = set(event.unmet_needs)
        by_concept = {
            n.concept: tuple(self._label(session, c, row.gp_categories) for c in n.categories)
            for n in event.needs
        }
        categories: dict[str, dict] = {}
        for need in event.needs:
            for category in by_concept[need.concept]:
                entry = categories.setdefault(
                    category, {"category": category, "unmet": False, "no_place": False}
                )
                entry["unmet"] |= need.phrase in unmet_phrases
        offered: dict[str, bool] = {}  # category -> some proposal for it has a place
        for proposal in event.proposals:
            for category in by_concept.get(proposal.concept, ()):
                offered[category] = offered.get(category, False) or not proposal.waiting_list
        for category, has_place in offered.items():
            if category in categories and not categories[category]["unmet"]:
                categories[category]["no_place"] = not has_place  # never both: they add up
        if not categories:
            categories = {
                c: {"category": c, "unmet": True, "no_place": False} for c in row.gp_categories
            }
        self._change(
            session,
            event.referral_id,
            {"matched": True, "no_service": not event.proposals},
            list(categories.values()),
        )
        self._record_phrases(session, pending, row, [*event.unrecognised, *event.unmet_needs])

    def _label(self, session: Session, category: str, gp_categories) -> str:
        """The directory's and the pick-list's spelling of a category the matcher wrote
        its own way ("long term conditions" for "long-term conditions"), so one need is
        one row in the reports and meets its services' capacity.

        A spelling nobody uses is looked up again only after ``labels_refresh_s``: it
        used to re-read every service's categories for each event that named one."""
        key = _letters(category)
        for c in gp_categories:
            self._labels.setdefault(_letters(c), c)
        if key in self._labels:
            return self._labels[key]
        if time.monotonic() - self._labels_read_at.get(key, float("-inf")) >= (
            self.labels_refresh_s
        ):
            known = {
                c
                for (cats,) in session.execute(select(store.services.c.categories))
                for c in cats or ()
            }
            self._labels.update({_letters(c): c for c in known})
            self._labels_read_at[key] = time.monotonic()
        return self._labels.get(key, category)

    def _record_phrases(self, session: Session, pending: _Pending, row, texts: list[str]) -> None:
        found = {p for p in (normalise_phrase(t) for t in texts) if p}
        labels = self._groups_of(session, pending, found) if found else {}
        pending.phrases.set(
            row.referral_id,
            [
                {
                    "referral_id": row.referral_id,
                    "phrase": p,
                    "group_label": labels[p],
                    "ward": row.ward,
                    "month": row.month,
                }
                for p in sorted(found)
            ],
        )

    def _groups_of(self, session: Session, pending: _Pending, found: set[str]) -> dict[str, str]:
        """Each phrase's group: as stored (a phrase's group never changes), else the
        closest known group's label (``similarity``), else a group of its own."""
        labels = {}
        unread = []
        remembered = self._groups_known(session)
        for phrase in found:
            label = pending.new_groups.get(phrase) or remembered.get(phrase)
            if label is None:
                unread.append(phrase)
            else:
                labels[phrase] = label
        if unread:
            stored = dict(session.execute(_SELECT_GROUPS, {"phrases": unread}).all())
            self._remember(remembered, stored)  # read, so committed: safe to keep
            labels.update(stored)
        new = sorted(p for p in found if p not in labels)
        if new:
            if pending.known_labels is None:
                pending.known_labels = list(session.execute(_SELECT_LABELS).scalars())
            known = pending.known_labels  # with the groups this transaction made
            for phrase in new:
                match = process.extractOne(
                    phrase, known, scorer=fuzz.token_sort_ratio, score_cutoff=self.similarity
                )
                label = match[0] if match else phrase
                if match is None:
                    known.append(phrase)
                labels[phrase] = pending.new_groups[phrase] = label
        return labels

    def _groups_known(self, session: Session) -> dict[str, str]:
        engine = session.get_bind().engine
        known = self._groups.get(engine)
        if known is None:
            known = self._groups[engine] = {}
        return known

    def _remember(self, known: dict[str, str], groups: dict[str, str]) -> None:
        if len(known) + len(groups) > self.groups_kept:
            known.clear()
        known.update(groups)

    def contacted(self, session: Session, event: ReferralContacted, env: Envelope) -> None:
        _, row = self._state(session, event.referral_id)
        if row is not None and row.contacted_at is None:
            self._change(session, event.referral_id, {"contacted_at": _aware(env.occurred_at)})

    def match_confirmed(self, session: Session, event: MatchConfirmed, env: Envelope) -> None:
        self._ledger_add(session, event, env)
        at = _aware(env.occurred_at)
        _, row = self._state(session, event.referral_id)
        if row is None:
            return
        values: dict = {"signposted" if event.mode == "signposting" else "referred_on": True}
        if row.connected_at is None:
            values["connected_at"] = at
        self._change(session, event.referral_id, values)

    def group_answered(self, session: Session, event: GroupAnswered, env: Envelope) -> None:
        at = _aware(env.occurred_at)
        self._ledger_change(
            session,
            event.connection_id,
            answered_at=at,
            accepted=event.accepted,
            organisation_id=event.organisation_id,
        )
        _, row = self._state(session, event.referral_id)
        if row is None:
            return
        values: dict = {}
        if row.answered_at is None:
            values["answered_at"] = at
        if event.accepted:
            values["accepted"] = True
        self._change(session, event.referral_id, values)

    def outcome_recorded(
        self, session: Session, event: ReferralOutcomeRecorded, env: Envelope
    ) -> None:
        self._ledger_change(session, event.connection_id, outcome=event.outcome)
        flags = {
            "attended": {"attended": True},
            "completed": {"attended": True, "completed": True},
            "did_not_attend": {"did_not_attend": True},
        }.get(event.outcome)
        if flags:
            self._change(session, event.referral_id, flags)

    def wellbeing_changed(self, session: Session, event: WellbeingChanged, env: Envelope) -> None:
        change = {item: getattr(event, item) for item in WELLBEING_ITEMS}
        self._change(session, event.referral_id, {"wellbeing": change})

    def closed(self, session: Session, event: ReferralClosed, env: Envelope) -> None:
        pending, row = self._state(session, event.referral_id)
        if row is not None:
            row.closed_at = _aware(env.occurred_at)
            pending.referrals_written[event.referral_id] = None

    # --- the capacity ledger, per service and month ----------------------------------

    def _connection(self, session: Session, connection_id: str) -> tuple[_Pending, _Row | None]:
        pending = self._pending(session)
        if connection_id not in pending.connections:
            found = session.execute(_SELECT_CONNECTIONS, {"ids": [connection_id]}).first()
            pending.connections[connection_id] = _Row(dict(found._mapping)) if found else None
        return pending, pending.connections[connection_id]

    def _ledger_change(self, session: Session, connection_id: str, **values) -> None:
        pending, row = self._connection(session, connection_id)
        if row is None:
            return  # a connection made before reports began
        before = ledger_contributions(row)
        vars(row).update(values)
        pending.connections_written[connection_id] = None
        delta = ledger_contributions(row)
        delta.subtract(before)
        pending.service_months.add(delta, row.organisation_id)

    def _ledger_add(self, session: Session, event: MatchConfirmed, env: Envelope) -> None:
        pending, row = self._connection(session, event.connection_id)
        if row is not None:
            return
        at = _aware(env.occurred_at)
        row = _Row(
            {
                "connection_id": event.connection_id,
                "service_id": event.service_id,
                "mode": event.mode,
                "month": month_of(at),
                "confirmed_at": at,
                "organisation_id": None,
                "answered_at": None,
                "accepted": None,
                "outcome": None,
            }
        )
        pending.connections[event.connection_id] = row
        pending.connections_written[event.connection_id] = None
        pending.service_months.add(ledger_contributions(row), None)
