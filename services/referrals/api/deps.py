"""The request dependencies every referrals route uses, typed, in one place: who is
asking (``Caller``), a database session for this request (``Session``), the outbox its
events go to (``Outbox``), the place data and the duplicate policy.

The composition root (``app.py``) puts the parts on ``app.state``; only this module
reads them from there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import orm

from services.referrals.domain import DuplicatePolicy
from services.referrals.places import Places as PlaceData
from shared.auth import Caller
from shared.bus import outbox

__all__ = ["Caller", "Outbox", "Places", "Policy", "Session"]


def _session(request: Request) -> Iterator[orm.Session]:
    """A new session per request; routes that change state open ``session.begin()``."""
    with request.app.state.sessions() as session:
        yield session


def _outbox(request: Request) -> outbox.Outbox:
    return request.app.state.outbox


def _places(request: Request) -> PlaceData:
    return request.app.state.places


def _policy(request: Request) -> DuplicatePolicy:
    return request.app.state.duplicate_policy


Session = Annotated[orm.Session, Depends(_session)]
Outbox = Annotated[outbox.Outbox, Depends(_outbox)]
Places = Annotated[PlaceData, Depends(_places)]
Policy = Annotated[DuplicatePolicy, Depends(_policy)]
