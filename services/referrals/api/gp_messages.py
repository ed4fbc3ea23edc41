"""GET /gp-messages: the practice's closed referrals and whether anyone at the practice
has read the message back yet, so the practice list can highlight the unread ones.

"Read" is what the audit log already records: a practice staff member fetched
``GET /referrals/{id}/gp-message``. No new state, one query.
"""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import and_, exists, select

from services.referrals import store
from services.referrals.api.deps import Caller, Session
from services.referrals.domain import Status
from shared.auth import Role, require

__all__ = ["router"]

router = APIRouter(tags=["referrals"])


@router.get("/gp-messages")
def gp_messages(caller: Caller, session: Session, unread_only: bool = False) -> list[dict]:
    """The caller's practice's messages back (newest first), each ``read`` or not."""
    require(caller, Role.PRACTICE_STAFF)
    r, a = store.referrals.c, store.audit_log.c
    read = exists().where(
        and_(
            a.referral_id == r.id,
            a.action == "read",
            a.purpose == "message to the GP",
            a.role == Role.PRACTICE_STAFF,
        )
    )
    query = select(r.id, r.updated_at, read.label("read")).where(r.status == Status.CLOSED)
    if caller.role is Role.PRACTICE_STAFF:
        query = query.where(r.practice_ods == caller.practice_ods)
    if unread_only:
        query = query.where(~read)
    rows = session.execute(query.order_by(r.updated_at.desc()).limit(1000)).all()
    return [
        {"referral_id": row.id, "ready_at": row.updated_at, "read": bool(row.read)} for row in rows
    ]
