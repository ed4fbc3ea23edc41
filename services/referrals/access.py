"""Who may see a referral, the audit trail of reads, and the state machine applied to a
stored referral: the request-side rules every referrals route shares."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.referrals import store
from services.referrals.domain import Action, IllegalTransition, Status, transition
from shared.auth import Caller, Principal, Role
from shared.web import Conflict, NotFound

__all__ = [
    "Caller",
    "audit",
    "connections_of",
    "load_referral",
    "move",
    "user_names",
    "visible",
]


def visible(caller: Principal, row) -> bool:
    if caller.role is Role.ADMIN:
        return True
    if caller.role is Role.PRACTICE_STAFF:
        return caller.practice_ods is not None and caller.practice_ods == row.practice_ods
    if caller.role is Role.LINK_WORKER:
        return caller.team is not None and caller.team == row.team
    return False


def load_referral(session: Session, caller: Principal, referral_id: str, *, lock: bool = False):
    """The referral if the caller may see it; 404 otherwise (its existence is private)."""
    query = select(store.referrals).where(store.referrals.c.id == referral_id)
    row = session.execute(query.with_for_update() if lock else query).first()
    if row is None or not visible(caller, row):
        raise NotFound(f"no referral {referral_id!r} that you can see")
    return row


def audit(session: Session, caller: Principal, referral_id: str, action: str, purpose: str):
    session.execute(
        store.audit_log.insert().values(
            at=store.now(),
            user_id=caller.user_id,
            role=caller.role,
            referral_id=referral_id,
            action=action,
            purpose=purpose,
        )
    )


def move(session: Session, caller: Principal, row, action: Action) -> Status:
    try:
        new = transition(Status(row.status), action)
    except IllegalTransition as exc:
        raise Conflict(str(exc), allowed=[a.value for a in exc.allowed]) from exc
    if new != row.status:
        session.execute(
            update(store.referrals)
            .where(store.referrals.c.id == row.id)
            .values(status=new, updated_at=store.now())
        )
        session.execute(
            store.status_history.insert().values(
                referral_id=row.id,
                from_status=row.status,
                to_status=new,
                action=action,
                by=caller.user_id,
                at=store.now(),
            )
        )
    return new


def connections_of(session: Session, referral_ids: list[str]) -> dict[str, list]:
    c = store.connections.c
    by_referral: dict[str, list] = {i: [] for i in referral_ids}
    if referral_ids:
        rows = session.execute(
            select(store.connections).where(c.referral_id.in_(referral_ids)).order_by(c.created_at)
        ).all()
        for row in rows:
            by_referral[row.referral_id].append(row)
    return by_referral


def user_names(session: Session, user_ids) -> dict[str, str]:
    """User id -> display name, for the ids given (unknown ids are left out)."""
    ids = {i for i in user_ids if i}
    if not ids:
        return {}
    rows = session.execute(
        select(store.users.c.id, store.users.c.name).where(store.users.c.id.in_(ids))
    )
    return {user_id: name for user_id, name in rows}
