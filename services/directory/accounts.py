"""Revoked sessions end here too.

The referrals service keeps the accounts and signs the tokens; the directory only
verifies them. When an account is deactivated or its password changes, the referrals
service emits ``AccountSessionsEnded``; the directory keeps the latest per account
(``store.accounts``) and asks it on every request, so an ended session stops working
on both services within the event's delivery time, not when the token expires.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from services.directory import store
from shared.auth import ACCOUNT_INACTIVE, SESSION_ENDED, Principal
from shared.events import AccountSessionsEnded, Envelope

__all__ = ["EndedSessions", "on_account_sessions_ended"]


def on_account_sessions_ended(session: Session, event: AccountSessionsEnded, env: Envelope) -> None:
    """Keep the newest word on the account (a redelivered or older event changes nothing)."""
    a = store.accounts.c
    known = session.execute(
        select(a.token_version).where(a.user_id == event.user_id)
    ).scalar_one_or_none()
    if known is None:
        session.execute(
            store.accounts.insert().values(
                user_id=event.user_id, active=event.active, token_version=event.token_version
            )
        )
    elif event.token_version >= known:
        session.execute(
            update(store.accounts)
            .where(a.user_id == event.user_id)
            .values(active=event.active, token_version=event.token_version)
        )


class EndedSessions:
    """The directory's ``user_check`` (see shared/auth.py): one indexed read per request."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def __call__(self, principal: Principal) -> str | None:
        a = store.accounts.c
        with self._sessions() as session:
            account = session.execute(
                select(a.active, a.token_version).where(a.user_id == principal.user_id)
            ).first()
        if account is None:
            return None  # never changed since it was created: the signature is enough
        if not account.active:
            return ACCOUNT_INACTIVE
        if principal.token_version < account.token_version:
            return SESSION_ENDED
        return None
