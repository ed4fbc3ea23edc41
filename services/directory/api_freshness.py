"""Routes that keep entries fresh: a group answers its review in one click, anyone signed
in reports an entry out of date or closed, and the organisation or an administrator
resolves the report.

Every change to a service republishes it (``ServiceUpserted``) in the same transaction;
a new report also emits ``ServiceReported`` for notifiers.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select, update

from services.directory import store
from services.directory.api import assurer, can_edit, editable_service
from services.directory.freshness import due_on, is_review_due
from services.directory.handlers import publish_service
from shared.auth import Caller, Principal, Role
from shared.events import ServiceReported
from shared.validation import line, text
from shared.web import Conflict, Forbidden, NotFound

router = APIRouter(tags=["freshness"])

#: A review answer, in the group's words, and the Open Referral status it sets.
REVIEW_STATUS = {"running": "active", "paused": "temporarily_closed", "closed": "defunct"}


class ReviewIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"answer": "running"}]}
    )
    answer: Literal["running", "paused", "closed"]
    reopens_on: date | None = Field(None, description="For a paused service, if known.")

    @model_validator(mode="after")
    def _reopening(self) -> ReviewIn:
        if self.reopens_on is not None and self.answer != "paused":
            raise ValueError("reopens_on: only a paused service reopens")
        return self


class ReportIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"kind": "closed", "note": "The hall says the group stopped in May."}]
        },
    )
    kind: Literal["out_of_date", "closed"]
    note: text(1000, min_length=3)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resolution: line(300, min_length=3) = "entry checked"


def _report_out(row) -> dict:
    return {
        "id": row.id,
        "service_id": row.service_id,
        "kind": row.kind,
        "note": row.note,
        "reported_at": row.reported_at,
        "reporter_role": row.reporter_role,
        "resolved_at": row.resolved_at,
        "resolution": row.resolution,
    }


def _resolve_open(session, service_id: str, caller: Principal, resolution: str) -> None:
    r = store.service_reports.c
    session.execute(
        update(store.service_reports)
        .where(r.service_id == service_id, r.resolved_at.is_(None))
        .values(resolved_at=store.now(), resolved_by=caller.user_id, resolution=resolution)
    )


@router.post("/services/{service_id}/review")
def answer_review(service_id: str, body: ReviewIn, request: Request, caller: Caller) -> dict:
    """One click from the group: still running, paused (maybe until a date) or closed.

    Re-assures the entry today, sets its Open Referral status and resolves open reports
    (the group has looked at it)."""
    with request.app.state.sessions.begin() as session:
        editable_service(session, caller, service_id)
        session.execute(
            update(store.services)
            .where(store.services.c.id == service_id)
            .values(
                status=REVIEW_STATUS[body.answer],
                reopens_on=body.reopens_on,
                last_confirmed=date.today(),
                assured_by=assurer(caller),
            )
        )
        _resolve_open(session, service_id, caller, f"the group answered: {body.answer}")
        publish_service(session, request.app.state.outbox, service_id, date.today())
        row = store.get_service(session, service_id)
    return {
        "service_id": service_id,
        "status": row.status,
        "reopens_on": row.reopens_on,
        "assured_date": row.last_confirmed,
        "assured_by": row.assured_by,
    }


@router.get("/reviews-due")
def reviews_due(request: Request, caller: Caller, organisation_id: str | None = None) -> list[dict]:
    """The caller's organisation's services whose review is due (administrators: any)."""
    organisation = organisation_id or caller.organisation_id
    member = caller.role is Role.GROUP_MEMBER and organisation == caller.organisation_id
    if caller.role is not Role.ADMIN and not member:
        raise Forbidden("only the organisation's members see its reviews")
    months = request.app.state.settings.review_after_months
    s = store.services.c
    query = select(store.services).where(s.withdrawn.is_(False))
    if organisation:
        query = query.where(s.organisation_id == organisation)
    today = date.today()
    with request.app.state.sessions() as session:
        rows = session.execute(query.order_by(s.name)).all()
    return [
        {
            "service_id": row.id,
            "name": row.name,
            "status": row.status,
            "assured_date": row.last_confirmed,
            "due_on": due_on(row.last_confirmed, months) if row.last_confirmed else today,
        }
        for row in rows
        if is_review_due(row.last_confirmed, row.status, today, months)
    ]


@router.post("/services/{service_id}/reports", status_code=status.HTTP_201_CREATED)
def report_entry(service_id: str, body: ReportIn, request: Request, caller: Caller) -> dict:
    """Anyone signed in tells the organisation and administrators the entry is wrong."""
    r = store.service_reports.c
    with request.app.state.sessions.begin() as session:
        row = store.get_service(session, service_id)
        if row is None or row.withdrawn:
            raise NotFound(f"no service {service_id!r}")
        mine = session.execute(
            select(r.id).where(
                r.service_id == service_id, r.reported_by == caller.user_id, r.resolved_at.is_(None)
            )
        ).first()
        if mine:
            raise Conflict("you already reported this entry; the organisation has been told")
        report_id = session.execute(
            store.service_reports.insert().values(
                service_id=service_id,
                kind=body.kind,
                note=body.note.strip(),
                reported_by=caller.user_id,
                reporter_role=caller.role.value,
                reported_at=store.now(),
            )
        ).inserted_primary_key[0]
        reports = store.open_reports(session, service_id)
        request.app.state.outbox.add(
            session,
            ServiceReported(
                service_id=service_id,
                organisation_id=row.organisation_id,
                report_id=report_id,
                kind=body.kind,
                open_reports=reports,
            ),
        )
        publish_service(session, request.app.state.outbox, service_id, date.today())
        report = session.execute(select(store.service_reports).where(r.id == report_id)).one()
    return _report_out(report)


@router.get("/services/{service_id}/reports")
def entry_reports(service_id: str, request: Request, caller: Caller) -> list[dict]:
    """The open reports on an entry: shown on it until resolved (who reported is not)."""
    r = store.service_reports.c
    with request.app.state.sessions() as session:
        rows = session.execute(
            select(store.service_reports)
            .where(r.service_id == service_id, r.resolved_at.is_(None))
            .order_by(r.reported_at)
        ).all()
    return [_report_out(row) for row in rows]


@router.get("/entry-reports")
def open_entry_reports(request: Request, caller: Caller) -> list[dict]:
    """Open reports for the caller's organisation's entries (administrators: all)."""
    if caller.role not in (Role.ADMIN, Role.GROUP_MEMBER):
        raise Forbidden("only organisations and administrators read reports")
    r, s = store.service_reports.c, store.services.c
    query = (
        select(store.service_reports, s.name.label("service_name"), s.organisation_id)
        .join(store.services, s.id == r.service_id)
        .where(r.resolved_at.is_(None))
        .order_by(r.reported_at)
    )
    if caller.role is Role.GROUP_MEMBER:
        query = query.where(s.organisation_id == caller.organisation_id)
    with request.app.state.sessions() as session:
        rows = session.execute(query).all()
    return [
        {
            **_report_out(row),
            "service_name": row.service_name,
            "organisation_id": row.organisation_id,
        }
        for row in rows
    ]


@router.post("/entry-reports/{report_id}/resolve")
def resolve_report(
    report_id: int, request: Request, caller: Caller, body: ResolveIn | None = None
) -> dict:
    """The organisation or an administrator has dealt with a report."""
    r = store.service_reports.c
    with request.app.state.sessions.begin() as session:
        report = session.execute(select(store.service_reports).where(r.id == report_id)).first()
        service = report and store.get_service(session, report.service_id)
        if report is None or service is None:
            raise NotFound(f"no report {report_id}")
        can_edit(caller, service.organisation_id)
        if report.resolved_at is not None:
            raise Conflict("this report is already resolved")
        session.execute(
            update(store.service_reports)
            .where(r.id == report_id)
            .values(
                resolved_at=store.now(),
                resolved_by=caller.user_id,
                resolution=(body or ResolveIn()).resolution,
            )
        )
        publish_service(session, request.app.state.outbox, service.id, date.today())
        report = session.execute(select(store.service_reports).where(r.id == report_id)).one()
    return _report_out(report)
