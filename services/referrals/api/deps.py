"""The request dependencies every referrals route uses, typed, in one place: who is
asking (``Caller``), a database session for this request (``Session``), the outbox its
events go to (``Outbox``), the place data and the duplicate policy.

The composition root (``app.py``) puts the parts on ``app.state``; only this module
reads them from there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy import orm
from starlette.concurrency import run_in_threadpool

from services.referrals import audit
from services.referrals.domain import DuplicatePolicy
from services.referrals.places import Places as PlaceData
from shared.auth import Caller
from shared.bus import outbox
from shared.validation import ID_PATTERN
from shared.web import Forbidden, NotFound

__all__ = [
    "Caller",
    "ConnectionId",
    "Outbox",
    "Places",
    "Policy",
    "ReadSession",
    "ReferralId",
    "Session",
    "Threshold",
]


# Dependencies are coroutines where they can be: FastAPI runs a plain function (and each
# end of a plain generator) in its thread pool, a hop there and back per dependency, and
# those hops, seven for a submission, cost more CPU under load than the work they wrap.


async def _session(request: Request) -> AsyncIterator[orm.Session]:
    """A new session per request; routes that change state open ``session.begin()``.

    A refusal on a referral (someone else's, or one that does not exist: 404; a role
    that may not: 403) rolls the request's transaction back; the attempt is then written
    to the audit log in a transaction of its own. Making a session does no I/O, nor does
    closing one whose transaction has ended; anything that does runs in the thread pool."""
    session = request.app.state.sessions()
    try:
        yield session
    except (NotFound, Forbidden) as exc:
        referral_id = getattr(exc, "referral_id", None)
        referral_id = referral_id or request.path_params.get("referral_id")
        caller = getattr(request.state, "principal", None)
        if referral_id and caller is not None:
            await run_in_threadpool(_audit_refusal, session, caller, referral_id, exc.message)
        raise
    finally:
        await _close(session)


def _audit_refusal(session: orm.Session, caller, referral_id: str, detail: str) -> None:
    session.rollback()
    with session.begin():
        audit.record(session, caller, referral_id, "refused", detail=detail)


async def _close(session: orm.Session) -> None:
    if session.in_transaction():  # a rollback to send
        await run_in_threadpool(session.close)
    else:
        session.close()


async def _read_session(request: Request) -> AsyncIterator[orm.Session]:
    """A session that only reads, for what a route reads before it writes its audit
    row: on SQLite it takes no write lock, so building a long answer does not hold up
    every writer (the audit row is then written in a short transaction of ``Session``)."""
    session = request.app.state.read_sessions()
    try:
        yield session
    finally:
        await _close(session)


async def _outbox(request: Request) -> outbox.Outbox:
    return request.app.state.outbox


async def _threshold(request: Request) -> int:
    return request.app.state.settings.small_number_threshold


async def _places(request: Request) -> PlaceData:
    return request.app.state.places


async def _policy(request: Request) -> DuplicatePolicy:
    return request.app.state.duplicate_policy


Session = Annotated[orm.Session, Depends(_session)]
ReadSession = Annotated[orm.Session, Depends(_read_session)]
Outbox = Annotated[outbox.Outbox, Depends(_outbox)]
Places = Annotated[PlaceData, Depends(_places)]
Policy = Annotated[DuplicatePolicy, Depends(_policy)]
#: Counts of people below this are not shown (``SP_SMALL_NUMBER_THRESHOLD``).
Threshold = Annotated[int, Depends(_threshold)]

#: Ids in paths: what this service issues (UUIDs), bounded and printable.
ReferralId = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
ConnectionId = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
