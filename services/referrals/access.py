"""Who may see a referral, the audit trail of reads, and the state machine applied to a
stored referral: the request-side rules every referrals route shares."""

from __future__ import annotations

from sqlalchemy import Row
from sqlalchemy.orm import Session

from services.referrals import audit, store
from services.referrals.domain import Action, IllegalTransition, Status, is_open, transition
from shared.auth import Principal, Role
from shared.bus.outbox import Outbox
from shared.events import ReferralOutcomeRecorded
from shared.web import Conflict, Forbidden, NotFound

__all__ = [
    "Refused",
    "load_referral",
    "move",
    "record_connection_outcome",
    "scope",
    "take_if_unassigned",
    "visible",
]


class Refused(NotFound):
    """404 for a referral the caller may not see, or that does not exist (its existence
    is private). The request's session dependency writes the refusal to the audit log."""

    def __init__(self, message: str, referral_id: str) -> None:
        super().__init__(message)
        self.referral_id = referral_id


def visible(caller: Principal, row) -> bool:
    if caller.role is Role.ADMIN:
        return True
    if caller.role is Role.PRACTICE_STAFF:
        return caller.practice_ods is not None and caller.practice_ods == row.practice_ods
    if caller.role is Role.LINK_WORKER:
        return caller.team is not None and caller.team == row.team
    return False


def scope(caller: Principal) -> store.Scope:
    """The referrals the caller's lists hold: the practice's for practice staff, the
    team's for link workers, all of them for administrators (``visible`` is the same
    rule for one referral). A practice or team the account lacks matches nothing."""
    if caller.role is Role.ADMIN:
        return {}
    if caller.role is Role.PRACTICE_STAFF:
        return {"practice_ods": caller.practice_ods}
    if caller.role is Role.LINK_WORKER:
        return {"team": caller.team}
    raise Forbidden("your role has no list of referrals")


def ensure_open(row) -> None:
    """Refuse work on a closed referral with the same 409 as an illegal transition."""
    if not is_open(row.status):
        raise Conflict(
            f"the referral is {row.status}; allowed: none (the referral is closed)", allowed=[]
        )


def load_referral(
    session: Session, caller: Principal, referral_id: str, *, lock: bool = False
) -> Row:
    """The referral if the caller may see it; 404 otherwise (its existence is private)."""
    row = store.referral(session, referral_id, lock=lock)
    if row is None or not visible(caller, row):
        raise Refused(f"no referral {referral_id!r} that you can see", referral_id)
    return row


def take_if_unassigned(session: Session, caller: Principal, row) -> None:
    """A link worker who acts on a referral nobody has taken takes it, so the worklist and
    the caseloads say who is working on it whichever client did the work."""
    if caller.role is not Role.LINK_WORKER or row.assigned_to is not None:
        return
    store.assign_if_unassigned(session, row.id, caller.user_id)
    audit.record(
        session, caller, row.id, "assign", detail=f"taken by acting on it: {caller.user_id}"
    )


def move(session: Session, caller: Principal, row, action: Action) -> Status:
    """Apply ``action`` to the stored referral, or refuse with 409 naming what is allowed;
    a link worker's action on a referral nobody has taken assigns it to them."""
    try:
        new = transition(Status(row.status), action)
    except IllegalTransition as exc:
        raise Conflict(str(exc), allowed=[a.value for a in exc.allowed]) from exc
    take_if_unassigned(session, caller, row)
    if new != row.status:
        store.set_status(session, row.id, new)
        store.record_transition(session, row.id, row.status, new, action, caller.user_id)
    return new


def record_connection_outcome(
    session: Session,
    outbox: Outbox,
    caller: Principal,
    referral,
    connection_id: str,
    service_id: str,
    outcome: str,
    role: str,
) -> None:
    """What became of one connection, whoever records it (link worker or group): the
    referral moves, the connection keeps who said so, and one outcome event goes out."""
    move(session, caller, referral, Action.RECORD_OUTCOME)
    store.record_outcome(session, connection_id, outcome, caller.user_id, role)
    outbox.add(
        session,
        ReferralOutcomeRecorded(
            referral_id=referral.id,
            connection_id=connection_id,
            service_id=service_id,
            outcome=outcome,
            ward=referral.ward,
            recorded_by=caller.user_id,
            recorded_by_role=role,
        ),
    )
