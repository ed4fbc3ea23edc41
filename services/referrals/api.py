"""The referrals HTTP API: GP practices refer, link workers connect people to groups.

Every route: parse, authorise, apply the domain rule, then commit the state change and
its event together. Every read of a referral by a person is written to the audit log.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.referrals import store
from services.referrals.access import (
    Caller,
    audit,
    connections_of,
    load_referral,
    move,
    user_names,
)
from services.referrals.domain import (
    Action,
    DuplicatePolicy,
    KnownReferral,
    Status,
    age_on,
    best_outcome,
    coarse,
    find_duplicate,
    postcode_district,
)
from services.referrals.places import Places
from services.referrals.schemas import (
    CloseIn,
    ConnectionIn,
    DeclineIn,
    NeedsEdit,
    OutcomeIn,
    ReferralIn,
)
from services.referrals.users import user_principal
from shared.auth import Principal, Role, require, verify_password
from shared.events import (
    MatchConfirmed,
    MatchDeclined,
    ReferralClosed,
    ReferralOutcomeRecorded,
    ReferralProfile,
    ReferralSubmitted,
    ReferralUpdated,
)
from shared.web import Conflict, DomainError, NotFound, Unprocessable

router = APIRouter()
DEFAULT_TEAM = "community-connect"


# --- helpers ---------------------------------------------------------------------------


def _profile(row) -> ReferralProfile:
    return ReferralProfile(
        age=age_on(row.birth_date, date.today()),
        gender=row.gender,
        ward=row.ward,
        postcode_district=postcode_district(row.postcode),
        lat=coarse(row.lat),
        lon=coarse(row.lon),
        languages=tuple(row.languages),
        accessibility_needs=tuple(row.accessibility_needs),
        delivery_modes=tuple(row.delivery_modes),
        needs_text=row.needs_text,
        need_categories=tuple(row.need_categories),
        urgency=row.urgency,
    )


def _summary(row, connections: list | None = None, caller: Principal | None = None) -> dict:
    """One line of a list; ``connected_to`` and ``outcome`` tell the GP what became of it.
    Practice staff see service names only with the person's consent to share, as in the
    message back to the GP; otherwise ``connected_to`` is None and the count is shown."""
    connections = connections or []
    withhold = (
        caller is not None and caller.role is Role.PRACTICE_STAFF and not row.consent_to_share
    )
    return {
        "id": row.id,
        "status": row.status,
        "urgency": row.urgency,
        "practice_ods": row.practice_ods,
        "ward": row.ward,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "patient": f"{row.given_name} {row.family_name}",
        "assigned_to": row.assigned_to,
        "flagged": row.flagged,
        "flag_reason": row.flag_reason,
        "connected_to": None if withhold else [c.service_name for c in connections],
        "connections_made": len(connections),
        "outcome": best_outcome(c.outcome for c in connections),
        "closed_reason": None if withhold else row.closed_reason,
    }


def _detail(session: Session, row) -> dict:
    proposals = session.execute(
        select(store.proposals)
        .where(store.proposals.c.referral_id == row.id)
        .order_by(store.proposals.c.rank)
    ).all()
    connections = session.execute(
        select(store.connections)
        .where(store.connections.c.referral_id == row.id)
        .order_by(store.connections.c.created_at)
    ).all()
    out = {c: getattr(row, c) for c in row._fields}
    out["age"] = age_on(row.birth_date, date.today())
    attempts = session.execute(
        select(store.contact_attempts)
        .where(store.contact_attempts.c.referral_id == row.id)
        .order_by(store.contact_attempts.c.id)
    ).all()
    out["proposals"] = [dict(p._mapping) for p in proposals]
    out["connections"] = [dict(c._mapping) for c in connections]
    out["contact_attempts"] = [dict(a._mapping) for a in attempts]
    names = user_names(session, [row.assigned_to, *(a.by for a in attempts)])
    out["assigned_to_name"] = names.get(row.assigned_to)
    for attempt in out["contact_attempts"]:
        attempt["by_name"] = names.get(attempt["by"])
    return out


# --- routes ----------------------------------------------------------------------------


@router.post("/auth/token", tags=["auth"])
def login(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict:
    """Exchange a username and password for a bearer token."""
    with request.app.state.sessions() as session:
        user = session.execute(
            select(store.users).where(store.users.c.username == form.username)
        ).first()
    if user is None or not user.active or not verify_password(form.password, user.password_hash):
        raise DomainError("wrong username or password")
    token = request.app.state.tokens.issue(user_principal(user))
    return {"access_token": token, "token_type": "bearer", "role": user.role}


@router.post("/referrals", status_code=status.HTTP_201_CREATED, tags=["referrals"])
def submit_referral(
    body: ReferralIn,
    request: Request,
    response: Response,
    caller: Caller,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict:
    """Refer a person to social prescribing (GP practice staff).

    A repeat (the same Idempotency-Key, or the same person from the same practice with
    similar needs while an earlier referral is open) creates nothing: 200 with
    ``duplicate: true`` and the existing referral's id."""
    created, out = create_referral(request, caller, body, idempotency_key)
    if not created:
        response.status_code = status.HTTP_200_OK
    return out


def create_referral(
    request: Request, caller: Principal, body: ReferralIn, idempotency_key: str | None
) -> tuple[bool, dict]:
    """(created, answer) for a referral from either intake, JSON or FHIR."""
    require(caller, Role.PRACTICE_STAFF)
    if not caller.practice_ods:
        raise Unprocessable("your account has no practice (ODS code) to refer from")
    places: Places = request.app.state.places
    place = places.locate(body.postcode)
    referral_id = str(uuid.uuid4())
    with request.app.state.sessions.begin() as session:
        now = store.now()
        if idempotency_key:
            repeat = _repeat_of(session, caller, idempotency_key, body)
            if repeat is not None:
                return False, repeat
        duplicate = _duplicate_of(session, request.app.state.duplicate_policy, caller, body, now)
        if duplicate is not None:
            return False, duplicate
        values = {
            "id": referral_id,
            "practice_ods": caller.practice_ods,
            "team": DEFAULT_TEAM,
            "referred_by": caller.user_id,
            "referrer_name": caller.name,
            "status": Status.SUBMITTED,
            "urgency": body.urgency,
            "given_name": body.given_name,
            "family_name": body.family_name,
            "nhs_number": body.nhs_number,
            "birth_date": body.birth_date,
            "gender": body.gender,
            "postcode": body.postcode,
            "phone": body.phone,
            "email": body.email,
            "preferred_contact": body.preferred_contact,
            "ward": place.ward if place else None,
            "lat": place.lat if place else None,
            "lon": place.lon if place else None,
            "languages": body.languages,
            "accessibility_needs": body.accessibility_needs,
            "delivery_modes": body.delivery_modes,
            "needs_text": body.needs,
            "need_categories": body.need_categories,
            "needs_found": [],
            "unmet_needs": [],
            "consent_to_refer": body.consent_to_refer,
            "consent_to_share": body.consent_to_share,
            "consent_recorded_by": caller.name,
            "flagged": False,
            "created_at": now,
            "updated_at": now,
        }
        session.execute(store.referrals.insert().values(**values))
        session.execute(
            store.status_history.insert().values(
                referral_id=referral_id,
                from_status=None,
                to_status=Status.SUBMITTED,
                action="submit",
                by=caller.user_id,
                at=now,
            )
        )
        if idempotency_key:
            session.execute(
                store.idempotency_keys.insert().values(
                    practice_ods=caller.practice_ods,
                    key=idempotency_key,
                    request_hash=_request_hash(body),
                    referral_id=referral_id,
                    created_at=now,
                )
            )
        row = session.execute(
            select(store.referrals).where(store.referrals.c.id == referral_id)
        ).one()
        request.app.state.outbox.add(
            session,
            ReferralSubmitted(
                referral_id=referral_id, practice_ods=caller.practice_ods, profile=_profile(row)
            ),
        )
    return True, {"id": referral_id, "status": Status.SUBMITTED, "ward": values["ward"]}


def _duplicate_of(
    session: Session,
    policy: DuplicatePolicy,
    caller: Principal,
    body: ReferralIn,
    now,
) -> dict | None:
    r = store.referrals.c
    rows = session.execute(
        select(store.referrals).where(
            r.practice_ods == caller.practice_ods,
            r.status != Status.CLOSED,
            r.created_at >= now - timedelta(days=policy.window_days),
            (r.nhs_number == body.nhs_number) | (r.birth_date == body.birth_date),
        )
    ).all()
    new = KnownReferral(
        id="",
        practice_ods=caller.practice_ods or "",
        nhs_number=body.nhs_number,
        given_name=body.given_name,
        family_name=body.family_name,
        birth_date=body.birth_date,
        needs_text=body.needs,
        created_at=now,
        status=Status.SUBMITTED,
    )
    found = find_duplicate(new, [_known(row) for row in rows], policy)
    if found is None:
        return None
    existing_status = next(row.status for row in rows if row.id == found.id)
    return {"id": found.id, "status": existing_status, "duplicate": True, "reason": found.reason}


def _request_hash(body: ReferralIn) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _repeat_of(session: Session, caller: Principal, key: str, body: ReferralIn) -> dict | None:
    """The referral this practice already sent with ``key``; a 422 if the key came with
    another body (keys are the practice's own: another practice's same key is unrelated)."""
    k, r = store.idempotency_keys.c, store.referrals.c
    earlier = session.execute(
        select(k.request_hash, r.id, r.status)
        .join(store.referrals, r.id == k.referral_id)
        .where(k.practice_ods == caller.practice_ods, k.key == key)
    ).first()
    if earlier is None:
        return None
    if earlier.request_hash and earlier.request_hash != _request_hash(body):
        raise Unprocessable(
            "Idempotency-Key: this key was used before with a different referral; "
            "send a new key for a new referral",
            field="Idempotency-Key",
        )
    return {
        "id": earlier.id,
        "status": earlier.status,
        "duplicate": True,
        "reason": "the same Idempotency-Key was sent before",
    }


def _known(row) -> KnownReferral:
    return KnownReferral(
        id=row.id,
        practice_ods=row.practice_ods,
        nhs_number=row.nhs_number,
        given_name=row.given_name,
        family_name=row.family_name,
        birth_date=row.birth_date,
        needs_text=row.needs_text,
        created_at=store.aware(row.created_at),
        status=row.status,
    )


@router.get("/referrals", tags=["referrals"])
def list_referrals(
    request: Request,
    caller: Caller,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    ward: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> list[dict]:
    """The caller's practice's referrals (newest first), or the link worker's team's."""
    require(caller, Role.PRACTICE_STAFF, Role.LINK_WORKER)
    r = store.referrals.c
    query = select(store.referrals)
    if caller.role is Role.PRACTICE_STAFF:
        query = query.where(r.practice_ods == caller.practice_ods)
    elif caller.role is Role.LINK_WORKER:
        query = query.where(r.team == caller.team)
    if status_:
        query = query.where(r.status == status_)
    if ward:
        query = query.where(r.ward == ward)
    with request.app.state.sessions() as session:
        rows = session.execute(query.order_by(r.created_at.desc()).limit(limit)).all()
        connections = connections_of(session, [row.id for row in rows])
    return [_summary(row, connections[row.id], caller) for row in rows]


@router.get("/referrals/{referral_id}", tags=["referrals"])
def get_referral(
    referral_id: str,
    request: Request,
    caller: Caller,
    purpose: str = Query("care", max_length=200, description="Why you are reading it (audit)"),
) -> dict:
    with request.app.state.sessions.begin() as session:
        row = load_referral(session, caller, referral_id)
        audit(session, caller, referral_id, "read", purpose)
        return _detail(session, row)


@router.patch("/referrals/{referral_id}", tags=["referrals"])
def edit_referral(referral_id: str, body: NeedsEdit, request: Request, caller: Caller) -> dict:
    """Change the needs or circumstances; matching runs again."""
    require(caller, Role.LINK_WORKER, Role.PRACTICE_STAFF)
    changes = body.model_dump(exclude_none=True)
    if "needs" in changes:
        changes["needs_text"] = changes.pop("needs")
    if not changes:
        raise Unprocessable("nothing to change")
    with request.app.state.sessions.begin() as session:
        row = load_referral(session, caller, referral_id, lock=True)
        move(session, caller, row, Action.EDIT)
        session.execute(
            update(store.referrals)
            .where(store.referrals.c.id == referral_id)
            .values(**changes, updated_at=store.now())
        )
        row = load_referral(session, caller, referral_id)
        request.app.state.outbox.add(
            session,
            ReferralUpdated(
                referral_id=referral_id, practice_ods=row.practice_ods, profile=_profile(row)
            ),
        )
        audit(session, caller, referral_id, "edit", "update needs")
        return _detail(session, row)


@router.post(
    "/referrals/{referral_id}/connections",
    status_code=status.HTTP_201_CREATED,
    tags=["link workers"],
)
def connect(referral_id: str, body: ConnectionIn, request: Request, caller: Caller) -> dict:
    """Confirm a connection to a group: a proposed one, or another from the directory."""
    require(caller, Role.LINK_WORKER)
    with request.app.state.sessions.begin() as session:
        row = load_referral(session, caller, referral_id, lock=True)
        service = _directory_service(session, body)
        proposal = session.execute(
            select(store.proposals).where(
                store.proposals.c.referral_id == referral_id,
                store.proposals.c.service_id == body.service_id,
            )
        ).first()
        already = session.execute(
            select(store.connections.c.id).where(
                store.connections.c.referral_id == referral_id,
                store.connections.c.service_id == body.service_id,
            )
        ).first()
        if already:
            raise Conflict(f"already connected to {body.service_id}", connection_id=already.id)
        move(session, caller, row, Action.CONNECT)
        connection_id = str(uuid.uuid4())
        session.execute(
            store.connections.insert().values(
                id=connection_id,
                referral_id=referral_id,
                service_id=body.service_id,
                service_name=service.name,
                mode=body.mode,
                organisation_id=service.organisation_id,
                waiting_list=body.waiting_list,
                was_proposed=proposal is not None,
                created_by=caller.user_id,
                created_at=store.now(),
            )
        )
        if proposal is not None:
            session.execute(
                update(store.proposals)
                .where(
                    store.proposals.c.referral_id == referral_id,
                    store.proposals.c.service_id == body.service_id,
                )
                .values(decision="confirmed")
            )
        request.app.state.outbox.add(
            session,
            MatchConfirmed(
                referral_id=referral_id,
                connection_id=connection_id,
                service_id=body.service_id,
                mode=body.mode,
                was_proposed=proposal is not None,
                ward=row.ward,
            ),
        )
    return {
        "connection_id": connection_id,
        "status": Status.CONNECTED,
        "service_name": service.name,
        "organisation_id": service.organisation_id,
        "waiting_list": body.waiting_list,
    }


def _directory_service(session: Session, body: ConnectionIn):
    """The service as the directory last described it; refused when the directory does
    not know it, when the client names another organisation, or when it has no room and
    the link worker did not choose its waiting list."""
    service = session.execute(
        select(store.services).where(store.services.c.id == body.service_id)
    ).first()
    if service is None:
        raise Unprocessable(
            f"service_id: no service {body.service_id!r} in the directory", field="service_id"
        )
    if body.organisation_id is not None and body.organisation_id != service.organisation_id:
        raise Unprocessable(
            "organisation_id: that is not the organisation that runs this service "
            "(leave it out: it comes from the directory)",
            field="organisation_id",
        )
    unavailable = {
        "withdrawn": "withdrawn from the directory",
        "temporarily_closed": "temporarily closed",
    }.get(service.status)
    if unavailable is None and service.places_free is not None and service.places_free <= 0:
        unavailable = "full this week"
    if unavailable and not body.waiting_list:
        raise Unprocessable(
            f"waiting_list: {service.name} is {unavailable}; send waiting_list: true "
            "to add the person to its waiting list",
            field="waiting_list",
        )
    return service


@router.post("/referrals/{referral_id}/decline", tags=["link workers"])
def decline(referral_id: str, body: DeclineIn, request: Request, caller: Caller) -> dict:
    """Decline some or all undecided proposals, with the reason."""
    require(caller, Role.LINK_WORKER)
    p = store.proposals.c
    with request.app.state.sessions.begin() as session:
        row = load_referral(session, caller, referral_id, lock=True)
        open_ids = set(
            session.execute(
                select(p.service_id).where(p.referral_id == referral_id, p.decision.is_(None))
            ).scalars()
        )
        chosen = set(body.service_ids) if body.service_ids is not None else open_ids
        unknown = chosen - open_ids
        if unknown:
            raise Unprocessable(
                f"service_ids: not undecided proposals of this referral: {sorted(unknown)}",
                field="service_ids",
            )
        if not chosen:
            raise Conflict("there are no undecided proposals to decline")
        new_status = move(session, caller, row, Action.DECLINE)
        session.execute(
            update(store.proposals)
            .where(p.referral_id == referral_id, p.service_id.in_(chosen))
            .values(decision="declined", decline_reason=body.reason)
        )
        request.app.state.outbox.add(
            session,
            MatchDeclined(
                referral_id=referral_id, service_ids=tuple(sorted(chosen)), reason=body.reason
            ),
        )
    return {"declined": sorted(chosen), "status": new_status}


@router.post("/referrals/{referral_id}/connections/{connection_id}/outcome", tags=["link workers"])
def record_outcome(
    referral_id: str, connection_id: str, body: OutcomeIn, request: Request, caller: Caller
) -> dict:
    require(caller, Role.LINK_WORKER)
    with request.app.state.sessions.begin() as session:
        row = load_referral(session, caller, referral_id, lock=True)
        connection = session.execute(
            select(store.connections).where(
                store.connections.c.id == connection_id,
                store.connections.c.referral_id == referral_id,
            )
        ).first()
        if connection is None:
            raise NotFound(f"no connection {connection_id!r} on this referral")
        move(session, caller, row, Action.RECORD_OUTCOME)
        session.execute(
            update(store.connections)
            .where(store.connections.c.id == connection_id)
            .values(outcome=body.outcome, outcome_at=store.now())
        )
        request.app.state.outbox.add(
            session,
            ReferralOutcomeRecorded(
                referral_id=referral_id,
                connection_id=connection_id,
                service_id=connection.service_id,
                outcome=body.outcome,
                ward=row.ward,
            ),
        )
    return {"connection_id": connection_id, "outcome": body.outcome}


@router.post("/referrals/{referral_id}/close", tags=["link workers"])
def close(referral_id: str, body: CloseIn, request: Request, caller: Caller) -> dict:
    require(caller, Role.LINK_WORKER)
    with request.app.state.sessions.begin() as session:
        row = load_referral(session, caller, referral_id, lock=True)
        new_status = move(session, caller, row, Action.CLOSE)
        session.execute(
            update(store.referrals)
            .where(store.referrals.c.id == referral_id)
            .values(closed_reason=body.reason)
        )
        request.app.state.outbox.add(
            session, ReferralClosed(referral_id=referral_id, reason=body.reason)
        )
    return {"id": referral_id, "status": new_status}


@router.get("/referrals/{referral_id}/audit", tags=["referrals"])
def audit_trail(referral_id: str, request: Request, caller: Caller) -> list[dict]:
    """Who read or changed this referral, and why (administrators)."""
    require(caller, Role.ADMIN)
    with request.app.state.sessions() as session:
        rows = session.execute(
            select(store.audit_log)
            .where(store.audit_log.c.referral_id == referral_id)
            .order_by(store.audit_log.c.id)
        ).all()
    return [dict(r._mapping) for r in rows]
