"""A scripted history for the report tests: each referral's journey written out, fed to
the directory as the events the other services would send, back-dated.

The tests compute what each report should say from ``SCRIPT`` itself, never by calling
the report code."""

from __future__ import annotations

import contextlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from services.directory import store
from services.directory.app import create_app
from services.directory.handlers import CONSUMERS
from shared.auth import Principal, Role
from shared.events import (
    Envelope,
    GroupAnswered,
    MatchConfirmed,
    MatchesProposed,
    NeedFound,
    ProposedMatch,
    ReferralContacted,
    ReferralOutcomeRecorded,
    ReferralProfile,
    ReferralSubmitted,
    WellbeingChanged,
)

WARDS = ("Erith", "Sidcup", "Crayford")
PRACTICES = ("G82001", "G82002")
NEEDS = {  # concept -> (phrase, categories)
    "loneliness": ("lonely since moving", ("social connection",)),
    "debt": ("behind on rent", ("money and debt", "housing")),
    "low_mood": ("feeling low", ("mental wellbeing",)),
}
SERVICE = {"loneliness": "svc-tea", "debt": "svc-debt", "low_mood": "svc-walk"}
ORGANISATION = {"svc-tea": "org-tea", "svc-debt": "org-debt", "svc-walk": "org-walk"}
NEW_PHRASES = ("learning the bagpipes", "sailing and rowing")


@dataclass
class Journey:
    id: str
    submitted: datetime
    ward: str
    practice: str
    concepts: tuple[str, ...]
    unmet: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()
    unrecognised: str | None = None
    contact_days: int | None = None
    connect_days: int | None = None
    mode: str = "referral"
    answer_days: int | None = None
    accepted: bool = False
    outcome: str | None = None
    wellbeing: dict | None = None
    events: list = field(default_factory=list)


def script(seed: int = 9, months=((2026, 7), (2026, 8), (2026, 9)), per_month=(22, 30, 38)):
    rng = random.Random(seed)
    out = []
    for (year, month), count in zip(months, per_month, strict=True):
        for i in range(count):
            day = 1 + (i * 7) % 27
            j = Journey(
                id=f"r-{year}{month:02d}-{i}",
                submitted=datetime(year, month, day, 9, tzinfo=UTC),
                ward=WARDS[rng.randrange(3)] if i % 5 else "Erith",
                practice=PRACTICES[i % 2],
                concepts=tuple(sorted(rng.sample(list(NEEDS), rng.choice((1, 1, 2))))),
            )
            if rng.random() < 0.2:
                j.unmet = (j.concepts[0],)
            elif rng.random() < 0.2:
                j.waiting = (j.concepts[0],)
            if rng.random() < 0.35 + 0.1 * (month - 7):
                j.unrecognised = NEW_PHRASES[rng.randrange(2)]
            if rng.random() < 0.8:
                j.contact_days = rng.randrange(1, 12)
                if not j.unmet and rng.random() < 0.75:
                    j.connect_days = j.contact_days + rng.randrange(0, 6)
                    j.mode = "referral" if rng.random() < 0.7 else "signposting"
                    if j.mode == "referral" and rng.random() < 0.85:
                        j.answer_days = j.connect_days + rng.randrange(0, 5)
                        j.accepted = rng.random() < 0.8
                    if j.mode == "signposting" or j.accepted:
                        j.outcome = rng.choice(
                            ("attended", "completed", "completed", "did_not_attend")
                        )
                        if j.outcome == "completed":
                            j.wellbeing = {
                                "life_satisfaction": rng.randrange(-1, 4),
                                "worthwhile": rng.randrange(0, 3),
                                "happiness": rng.randrange(-1, 3),
                                "anxiety": -rng.randrange(0, 4),
                                "swemwbs_metric": round(rng.uniform(-1, 4), 2),
                            }
            out.append(j)
    return out


def _envelope(event, at: datetime) -> Envelope:
    return Envelope(
        event_id=uuid.uuid4(),
        type=event.type,
        schema_version=event.version,
        occurred_at=at,
        producer="scenario",
        key="k",
        payload=event,
    )


def events_of(j: Journey) -> list[Envelope]:
    d = j.submitted
    needs = tuple(
        NeedFound(phrase=NEEDS[c][0], concept=c, categories=NEEDS[c][1]) for c in j.concepts
    )
    proposals = tuple(
        ProposedMatch(
            service_id=SERVICE[c],
            service_name=SERVICE[c],
            organisation_id=ORGANISATION[SERVICE[c]],
            score=1.0,
            need=NEEDS[c][0],
            concept=c,
            reasons=("fits",),
            waiting_list=c in j.waiting,
        )
        for c in j.concepts
        if c not in j.unmet
    )
    out = [
        _envelope(
            ReferralSubmitted(
                referral_id=j.id,
                practice_ods=j.practice,
                profile=ReferralProfile(age=60, ward=j.ward, needs_text="scripted"),
            ),
            d,
        ),
        _envelope(
            MatchesProposed(
                referral_id=j.id,
                in_reply_to=uuid.uuid4(),
                proposals=proposals,
                needs=needs,
                unmet_needs=tuple(NEEDS[c][0] for c in j.unmet),
                unrecognised=(j.unrecognised,) if j.unrecognised else (),
                ward=j.ward,
            ),
            d + timedelta(minutes=1),
        ),
    ]
    if j.contact_days is not None:
        out.append(
            _envelope(ReferralContacted(referral_id=j.id), d + timedelta(days=j.contact_days))
        )
    if j.connect_days is not None:
        service = SERVICE[j.concepts[0]]
        at = d + timedelta(days=j.connect_days)
        out.append(
            _envelope(
                MatchConfirmed(
                    referral_id=j.id,
                    connection_id=f"c-{j.id}",
                    service_id=service,
                    mode=j.mode,
                    was_proposed=True,
                    ward=j.ward,
                ),
                at,
            )
        )
        if j.answer_days is not None:
            out.append(
                _envelope(
                    GroupAnswered(
                        referral_id=j.id,
                        connection_id=f"c-{j.id}",
                        service_id=service,
                        organisation_id=ORGANISATION[service],
                        accepted=j.accepted,
                    ),
                    d + timedelta(days=j.answer_days),
                )
            )
        if j.outcome:
            out.append(
                _envelope(
                    ReferralOutcomeRecorded(
                        referral_id=j.id,
                        connection_id=f"c-{j.id}",
                        service_id=service,
                        outcome=j.outcome,
                    ),
                    at + timedelta(days=14),
                )
            )
        if j.wellbeing:
            out.append(
                _envelope(
                    WellbeingChanged(referral_id=j.id, **j.wellbeing), at + timedelta(days=40)
                )
            )
    return out


def feed(runtime, journeys) -> None:
    """Deliver every journey's events through the directory consumer's own handlers."""
    handlers = CONSUMERS["directory"].bind(outbox=runtime.outbox).handlers
    envelopes = sorted((e for j in journeys for e in events_of(j)), key=lambda e: e.occurred_at)
    for envelope in envelopes:
        handler = handlers.get(type(envelope.payload))
        if handler is not None:
            with runtime.sessions.begin() as session:
                handler(session, envelope.payload, envelope)


def _services(session) -> None:
    now = store.now()
    categories = {"svc-tea": ["social connection"], "svc-debt": ["money and debt", "housing"]}
    for service_id, org_id in ORGANISATION.items():
        session.execute(
            store.organisations.insert().values(id=org_id, name=org_id.title(), updated_at=now)
        )
        session.execute(
            store.services.insert().values(
                id=service_id,
                organisation_id=org_id,
                name=service_id,
                categories=categories.get(service_id, ["mental wellbeing"]),
                keywords=[],
                ward="Erith",
                lat=51.4805,
                lon=0.1775,
                delivery=["in_person"],
                regular_schedule=[],
                capacity_per_week=2,
                languages=["English"],
                accessibility=[],
                revision=1,
                updated_at=now,
            )
        )


@contextlib.contextmanager
def open_reports(tmp):
    """A directory holding the scripted history; yields ``get(report, fmt, **period)``."""
    from tests.conftest import make_settings

    settings = make_settings(f"sqlite:///{tmp / 'd.db'}", tmp, run_workers=False)
    app = create_app(settings)
    runtime = app.state.runtime
    with runtime.sessions.begin() as session:
        _services(session)
    journeys = script()
    feed(runtime, journeys)
    token = runtime.tokens.issue(Principal(user_id="c", role=Role.COMMISSIONER, name="C"))
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {token}"

    def get(name: str, fmt: str = "json", **period):
        period = period or {"from": "2026-07-01", "to": "2026-09-30"}
        response = client.get(f"/reports/{name}", params={**period, "format": fmt})
        assert response.status_code == 200, response.text
        return response.json() if fmt == "json" else response.text

    get.client = client
    get.journeys = journeys
    try:
        yield get
    finally:
        runtime.close()
