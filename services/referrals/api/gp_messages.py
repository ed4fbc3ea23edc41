"""GET /gp-messages: the practice's closed referrals and whether anyone at the practice
has read the message back yet, so the practice list can highlight the unread ones.

"Read" is what the audit log already records: a practice staff member fetched
``GET /referrals/{id}/gp-message``. No new state, one query.
"""

from __future__ import annotations

from fastapi import APIRouter

from services.referrals import store
from services.referrals.api.deps import Caller, Session
from shared.auth import Role, require
from shared.routes import OneHopRoute

__all__ = ["router"]

router = APIRouter(tags=["referrals"], route_class=OneHopRoute)


@router.get("/gp-messages")
def gp_messages(caller: Caller, session: Session, unread_only: bool = False) -> list[dict]:
    """The caller's practice's messages back (newest first), each ``read`` or not."""
    require(caller, Role.PRACTICE_STAFF)
    practice = caller.practice_ods if caller.role is Role.PRACTICE_STAFF else None
    rows = store.messages_back(session, practice, unread_only=unread_only)
    return [
        {"referral_id": row.id, "ready_at": row.updated_at, "read": bool(row.read)} for row in rows
    ]
