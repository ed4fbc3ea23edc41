"""Proposals and connections: a link worker confirms a connection to a directory service
(proposed or not), declines proposals, and records each connection's outcome.

A connection's service name and organisation come from the directory (its events, kept
in ``referrals_services``), never from the client: the organisation decides which
group's members see the person's details.
"""

from __future__ import annotations

from fastapi import APIRouter, status

from services.referrals import audit, store
from services.referrals.access import load_referral, move, record_connection_outcome
from services.referrals.api.deps import Caller, ConnectionId, Outbox, ReferralId, Session
from services.referrals.domain import Action, Status
from services.referrals.redaction import person_of, redact
from services.referrals.schemas import ConnectionIn, DeclineIn, OutcomeIn
from shared.auth import Role, require
from shared.events import MatchConfirmed, MatchDeclined
from shared.routes import OneHopRoute
from shared.web import Conflict, NotFound, Unprocessable

router = APIRouter(tags=["link workers"], route_class=OneHopRoute)


@router.post("/referrals/{referral_id}/connections", status_code=status.HTTP_201_CREATED)
def connect(
    referral_id: ReferralId, body: ConnectionIn, caller: Caller, session: Session, outbox: Outbox
) -> dict:
    """Confirm a connection to a group: a proposed one, or another from the directory."""
    require(caller, Role.LINK_WORKER)
    with session.begin():
        row = load_referral(session, caller, referral_id, lock=True)
        service = _directory_service(session, body)
        proposal = store.proposal(session, referral_id, body.service_id)
        already = store.connection_to_service(session, referral_id, body.service_id)
        if already:
            raise Conflict(f"already connected to {body.service_id}", connection_id=already.id)
        move(session, caller, row, Action.CONNECT)
        connection_id = store.add_connection(
            session,
            referral_id,
            service,
            mode=body.mode,
            waiting_list=body.waiting_list,
            summary_for_group=body.summary_for_group,
            was_proposed=proposal is not None,
            created_by=caller.user_id,
        )
        if proposal is not None:
            store.confirm_proposal(session, referral_id, body.service_id)
        outbox.add(
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
        audit.record(session, caller, referral_id, "connect", detail=body.service_id)
    return {
        "connection_id": connection_id,
        "status": Status.CONNECTED,
        "service_name": service.name,
        "organisation_id": service.organisation_id,
        "waiting_list": body.waiting_list,
    }


def _directory_service(session, body: ConnectionIn):
    """The service as the directory last described it; refused when the directory does
    not know it, when the client names another organisation, or when it has no room and
    the link worker did not choose its waiting list."""
    service = store.service(session, body.service_id)
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
        "inactive": "inactive",
        "defunct": "closed for good",
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


@router.post("/referrals/{referral_id}/decline")
def decline(
    referral_id: ReferralId, body: DeclineIn, caller: Caller, session: Session, outbox: Outbox
) -> dict:
    """Decline some or all undecided proposals, with the reason."""
    require(caller, Role.LINK_WORKER)
    with session.begin():
        row = load_referral(session, caller, referral_id, lock=True)
        open_ids = store.undecided_proposal_ids(session, referral_id)
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
        store.decline_proposals(session, referral_id, chosen, body.reason)
        outbox.add(
            session,
            MatchDeclined(
                referral_id=referral_id,
                service_ids=tuple(sorted(chosen)),
                reason=redact(body.reason, person_of(row)),
            ),
        )
        audit.record(session, caller, referral_id, "decline")
    return {"declined": sorted(chosen), "status": new_status}


@router.post("/referrals/{referral_id}/connections/{connection_id}/outcome")
def record_outcome(
    referral_id: ReferralId,
    connection_id: ConnectionId,
    body: OutcomeIn,
    caller: Caller,
    session: Session,
    outbox: Outbox,
) -> dict:
    require(caller, Role.LINK_WORKER)
    with session.begin():
        row = load_referral(session, caller, referral_id, lock=True)
        connection = store.connection(session, referral_id, connection_id)
        if connection is None:
            raise NotFound(f"no connection {connection_id!r} on this referral")
        record_connection_outcome(
            session,
            outbox,
            caller,
            row,
            connection_id,
            connection.service_id,
            body.outcome,
            "link_worker",
        )
        audit.record(session, caller, referral_id, "outcome", detail=body.outcome)
    return {"connection_id": connection_id, "outcome": body.outcome}
