"""Link workers' routes: the worklist, caseloads and assignment, contact attempts,
wellbeing measures, and the closing message back to the GP.

Assignment, contact attempts and wellbeing are this service's own state: they emit no
event. A reached contact moves the referral through ``domain.transition``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from services.referrals import store, wellbeing
from services.referrals.access import (
    Caller,
    audit,
    connections_of,
    load_referral,
    move,
    user_names,
)
from services.referrals.domain import (
    ANNUAL_CASELOAD_GUIDANCE,
    REACHED_CONTACT_RESULTS,
    Action,
    IllegalTransition,
    Status,
    contact_flag,
    is_open,
    transition,
    waiting_days,
    worklist_key,
)
from services.referrals.gp_message import ConnectionSummary, GpMessageInput, compose
from shared.auth import Principal, Role, require
from shared.web import Conflict, Unprocessable

router = APIRouter(tags=["link workers"])


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}]})
    link_worker_id: str | None = Field(None, description="Omit to take the referral yourself")


class ContactAttemptIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"date": "2026-11-20", "method": "phone", "result": "no_answer"}]
        },
    )
    date: date
    method: Literal["phone", "email", "letter", "text", "in_person"]
    result: Literal["reached", "no_answer", "left_message", "wrong_number", "declined"]

    @field_validator("date")
    @classmethod
    def _not_future(cls, value: date) -> date:
        if value > date.today():
            raise ValueError("is in the future")
        return value


class WellbeingIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "stage": "first_contact",
                    "ons4": {"life_satisfaction": 3, "worthwhile": 4, "happiness": 3, "anxiety": 8},
                    "swemwbs": [2, 2, 1, 2, 3, 2, 3],
                }
            ]
        },
    )
    stage: Literal["first_contact", "follow_up"]
    ons4: dict[str, Any] = Field(
        description="life_satisfaction, worthwhile, happiness, anxiety: 0-10 each"
    )
    swemwbs: list[Any] | None = Field(None, description="The 7 SWEMWBS items, 1-5 each")


def _ensure_open(row) -> None:
    """Refuse work on a closed referral with the same 409 as an illegal transition."""
    if not is_open(row.status):
        raise Conflict(
            f"the referral is {row.status}; allowed: none (the referral is closed)", allowed=[]
        )


# --- worklist and caseload --------------------------------------------------------------


@router.get("/worklist")
def worklist(
    request: Request,
    caller: Caller,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    ward: str | None = None,
) -> list[dict]:
    """The team's open referrals, most urgent first, then longest waiting."""
    require(caller, Role.LINK_WORKER)
    r = store.referrals.c
    query = select(store.referrals)
    if caller.role is Role.LINK_WORKER:
        query = query.where(r.team == caller.team)
    query = query.where(r.status == status_) if status_ else query.where(r.status != "closed")
    if ward:
        query = query.where(r.ward == ward)
    now = store.now()
    with request.app.state.sessions() as session:
        rows = session.execute(query).all()
        connections = connections_of(session, [row.id for row in rows])
        names = user_names(session, [row.assigned_to for row in rows])
    rows = sorted(rows, key=lambda row: worklist_key(row.urgency, store.aware(row.created_at)))
    return [
        {
            "id": row.id,
            "status": row.status,
            "urgency": row.urgency,
            "ward": row.ward,
            "patient": f"{row.given_name} {row.family_name}",
            "waiting_days": waiting_days(store.aware(row.created_at), now),
            "flagged": row.flagged,
            "flag_reason": row.flag_reason,
            "assigned_to": row.assigned_to,
            "assigned_to_name": names.get(row.assigned_to),
            "connected_to": [c.service_name for c in connections[row.id]],
            "created_at": row.created_at,
        }
        for row in rows
    ]


@router.get("/caseload")
def caseload(request: Request, caller: Caller) -> dict:
    """Each link worker's active caseload, against the NHS guidance of 200-250 people a
    year per full-time link worker."""
    require(caller, Role.LINK_WORKER)
    u, r, c = store.users.c, store.referrals.c, store.connections.c
    year_start = datetime(store.now().year, 1, 1, tzinfo=store.now().tzinfo)
    workers_query = select(u.id, u.name, u.team).where(u.role == Role.LINK_WORKER, u.active)
    if caller.role is Role.LINK_WORKER:
        workers_query = workers_query.where(u.team == caller.team)
    with request.app.state.sessions() as session:
        workers = session.execute(workers_query.order_by(u.name)).all()
        active = _count_by_worker(
            session, select(r.assigned_to, func.count()).where(r.status != "closed")
        )
        this_year = _count_by_worker(
            session,
            select(r.assigned_to, func.count(func.distinct(r.nhs_number))).where(
                r.assigned_at >= year_start
            ),
        )
        open_connections = _count_by_worker(
            session,
            select(r.assigned_to, func.count())
            .select_from(store.connections.join(store.referrals, c.referral_id == r.id))
            .where(r.status != "closed", c.outcome.is_(None)),
        )
    low, high = ANNUAL_CASELOAD_GUIDANCE
    return {
        "annual_guidance": [low, high],
        "link_workers": [
            {
                "id": w.id,
                "name": w.name,
                "team": w.team,
                "active_referrals": active.get(w.id, 0),
                "open_connections": open_connections.get(w.id, 0),
                "people_this_year": this_year.get(w.id, 0),
                "over_guidance": this_year.get(w.id, 0) > high,
            }
            for w in workers
        ],
    }


def _count_by_worker(session: Session, query) -> dict[str, int]:
    r = store.referrals.c
    rows = session.execute(query.where(r.assigned_to.is_not(None)).group_by(r.assigned_to))
    return {worker: count for worker, count in rows.all()}


@router.post("/referrals/{referral_id}/assign")
def assign(
    referral_id: str, request: Request, caller: Caller, body: AssignIn | None = None
) -> dict:
    """A link worker takes a referral (or gives it to a colleague in the team)."""
    require(caller, Role.LINK_WORKER)
    worker_id = (body.link_worker_id if body else None) or caller.user_id
    with request.app.state.sessions.begin() as session:
        row = load_referral(session, caller, referral_id, lock=True)
        _ensure_open(row)
        if worker_id != caller.user_id:
            _check_colleague(session, caller, row, worker_id)
        session.execute(
            update(store.referrals)
            .where(store.referrals.c.id == referral_id)
            .values(assigned_to=worker_id, assigned_at=store.now(), updated_at=store.now())
        )
        audit(session, caller, referral_id, "assign", f"assigned to {worker_id}")
    return {"id": referral_id, "assigned_to": worker_id}


def _check_colleague(session: Session, caller: Principal, row, worker_id: str) -> None:
    u = store.users.c
    worker = session.execute(select(u.role, u.team, u.active).where(u.id == worker_id)).first()
    if worker is None or worker.role != Role.LINK_WORKER or not worker.active:
        raise Unprocessable("link_worker_id: not an active link worker", field="link_worker_id")
    if worker.team != row.team:
        raise Unprocessable(
            "link_worker_id: that link worker is not in this referral's team",
            field="link_worker_id",
        )


# --- contact attempts -------------------------------------------------------------------


@router.post("/referrals/{referral_id}/contact-attempts", status_code=201)
def record_contact_attempt(
    referral_id: str, body: ContactAttemptIn, request: Request, caller: Caller
) -> dict:
    """Record an attempt to reach the person. Reaching them moves the referral to
    contacted; repeated failures flag it on the worklist."""
    require(caller, Role.LINK_WORKER)
    a = store.contact_attempts.c
    with request.app.state.sessions.begin() as session:
        row = load_referral(session, caller, referral_id, lock=True)
        try:
            transition(Status(row.status), Action.CONTACT)  # refuse attempts once closed
        except IllegalTransition as exc:
            raise Conflict(str(exc), allowed=[x.value for x in exc.allowed]) from exc
        session.execute(
            store.contact_attempts.insert().values(
                referral_id=referral_id,
                attempted_on=body.date,
                method=body.method,
                result=body.result,
                by=caller.user_id,
                at=store.now(),
            )
        )
        new_status = Status(row.status)
        if body.result in REACHED_CONTACT_RESULTS:
            new_status = move(session, caller, row, Action.CONTACT)
        results = session.execute(
            select(a.result).where(a.referral_id == referral_id).order_by(a.attempted_on, a.id)
        ).scalars()
        flag = contact_flag(list(results))
        session.execute(
            update(store.referrals)
            .where(store.referrals.c.id == referral_id)
            .values(flagged=flag is not None, flag_reason=flag, updated_at=store.now())
        )
        attempts = session.execute(
            select(func.count()).where(a.referral_id == referral_id)
        ).scalar_one()
        audit(session, caller, referral_id, "contact", f"contact attempt: {body.result}")
    return {
        "id": referral_id,
        "status": new_status,
        "attempts": attempts,
        "flagged": flag is not None,
        "flag_reason": flag,
    }


# --- wellbeing --------------------------------------------------------------------------


@router.post("/referrals/{referral_id}/wellbeing", status_code=201)
def record_wellbeing(referral_id: str, body: WellbeingIn, request: Request, caller: Caller) -> dict:
    """Record ONS4 (and optionally SWEMWBS) at first contact or at follow-up."""
    require(caller, Role.LINK_WORKER)
    try:
        ons4 = wellbeing.validate_ons4(body.ons4)
        items = None if body.swemwbs is None else wellbeing.validate_swemwbs(body.swemwbs)
    except wellbeing.InvalidMeasure as exc:
        raise Unprocessable(
            str(exc), field=exc.field, errors=[{"field": exc.field, "reason": exc.reason}]
        ) from exc
    w = store.wellbeing.c
    with request.app.state.sessions.begin() as session:
        row = load_referral(session, caller, referral_id, lock=True)
        _ensure_open(row)
        stages = set(session.execute(select(w.stage).where(w.referral_id == referral_id)).scalars())
        if body.stage in stages:
            raise Conflict(f"wellbeing at {body.stage} is already recorded for this referral")
        if body.stage == "follow_up" and "first_contact" not in stages:
            raise Conflict("record wellbeing at first_contact before the follow_up")
        session.execute(
            store.wellbeing.insert().values(
                referral_id=referral_id,
                stage=body.stage,
                ons4=ons4,
                swemwbs=list(items) if items else None,
                swemwbs_metric=wellbeing.swemwbs_metric(items) if items else None,
                recorded_by=caller.user_id,
                recorded_at=store.now(),
            )
        )
        audit(session, caller, referral_id, "wellbeing", f"record {body.stage}")
        return _wellbeing_view(session, referral_id)


@router.get("/referrals/{referral_id}/wellbeing")
def get_wellbeing(referral_id: str, request: Request, caller: Caller) -> dict:
    require(caller, Role.LINK_WORKER, Role.PRACTICE_STAFF)
    with request.app.state.sessions.begin() as session:
        load_referral(session, caller, referral_id)
        audit(session, caller, referral_id, "read", "wellbeing")
        return _wellbeing_view(session, referral_id)


def _wellbeing_records(session: Session, referral_id: str) -> dict[str, wellbeing.WellbeingRecord]:
    w = store.wellbeing.c
    rows = session.execute(select(store.wellbeing).where(w.referral_id == referral_id)).all()
    return {
        row.stage: wellbeing.WellbeingRecord(
            row.stage, row.ons4, tuple(row.swemwbs) if row.swemwbs else None
        )
        for row in rows
    }


def _wellbeing_change(records: dict[str, wellbeing.WellbeingRecord]) -> dict | None:
    if "first_contact" in records and "follow_up" in records:
        return wellbeing.change(records["first_contact"], records["follow_up"])
    return None


def _wellbeing_view(session: Session, referral_id: str) -> dict:
    records = _wellbeing_records(session, referral_id)
    out: dict[str, Any] = {}
    for stage in wellbeing.STAGES:
        record = records.get(stage)
        out[stage] = (
            None
            if record is None
            else {
                "ons4": dict(record.ons4),
                "swemwbs": list(record.swemwbs) if record.swemwbs else None,
                "swemwbs_metric": record.swemwbs_metric,
            }
        )
    out["change"] = _wellbeing_change(records)
    return out


# --- the message back to the GP ---------------------------------------------------------


@router.get("/referrals/{referral_id}/gp-message", tags=["referrals"])
def gp_message(referral_id: str, request: Request, caller: Caller) -> dict:
    """What became of a closed referral, for the referring practice: a FHIR Composition
    and the same as plain text (codes only without consent to share)."""
    require(caller, Role.PRACTICE_STAFF, Role.LINK_WORKER)
    with request.app.state.sessions.begin() as session:
        row = load_referral(session, caller, referral_id)
        if row.status != Status.CLOSED:
            raise Conflict(
                f"the message to the GP is written when the referral is closed; it is {row.status}"
            )
        connections = connections_of(session, [referral_id])[referral_id]
        a = store.contact_attempts.c
        results = session.execute(
            select(a.result).where(a.referral_id == referral_id).order_by(a.attempted_on, a.id)
        ).scalars()
        message = GpMessageInput(
            referral_id=row.id,
            nhs_number=row.nhs_number,
            practice_ods=row.practice_ods,
            referred_on=store.aware(row.created_at).date(),
            closed_on=store.aware(row.updated_at),
            consent_to_share=row.consent_to_share,
            needs_text=row.needs_text,
            need_categories=tuple(row.need_categories),
            connections=tuple(
                ConnectionSummary(c.service_name, c.mode, c.outcome) for c in connections
            ),
            contact_results=tuple(results),
            closed_reason=row.closed_reason,
            wellbeing_change=_wellbeing_change(_wellbeing_records(session, referral_id)),
            link_worker_team=row.team,
        )
        audit(session, caller, referral_id, "read", "message to the GP")
    return {"referral_id": referral_id, **compose(message)}
