"""Administrators' routes: user accounts (list, create, deactivate, reset a password,
with role and scope) and the audit log searched by referral, user and date.

Deactivating an account or resetting its password ends its sessions at once
(``users.deactivate_user`` / ``users.set_password`` move its token version).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from services.referrals import audit, store, users
from services.referrals.api.deps import Caller, Outbox, Session
from services.referrals.audit import Purpose
from shared.auth import Role, require
from shared.routes import OneHopRoute
from shared.web import Conflict, NotFound, Unprocessable

__all__ = ["router"]

router = APIRouter(prefix="/admin", tags=["administrators"], route_class=OneHopRoute)

_Name = Annotated[str, Field(min_length=1, max_length=100)]


class UserIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "username": "aisha.khan",
                    "name": "Aisha Khan",
                    "role": "link_worker",
                    "password": "a-long-first-password",
                    "team": "community-connect",
                }
            ]
        },
    )
    username: Annotated[str, Field(min_length=2, max_length=100, pattern=r"^[a-z0-9._-]+$")]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    role: Literal["practice_staff", "link_worker", "group_member", "commissioner", "admin"]
    password: Annotated[str, Field(min_length=8, max_length=200)]
    practice_ods: _Name | None = None
    organisation_id: _Name | None = None
    team: _Name | None = None


class PasswordIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"password": "a-new-long-password"}]}
    )
    password: Annotated[str, Field(min_length=8, max_length=200)]


def _view(row) -> dict:
    return {
        k: getattr(row, k)
        for k in ("id", "username", "name", "role", "practice_ods", "organisation_id", "team")
    } | {"active": row.active, "created_at": row.created_at}


@router.get("/users")
def list_users(caller: Caller, session: Session) -> list[dict]:
    require(caller, Role.ADMIN)
    return [_view(r) for r in store.all_users(session)]


@router.post("/users", status_code=status.HTTP_201_CREATED)
def create_user(body: UserIn, caller: Caller, session: Session) -> dict:
    require(caller, Role.ADMIN)
    try:
        with session.begin():
            users.create_user(session, **body.model_dump())
    except ValueError as exc:  # the role's scope is missing
        field = next(
            (f for f in ("practice_ods", "organisation_id", "team") if f.split("_")[0] in str(exc)),
            "role",
        )
        raise Unprocessable(f"{field}: {exc}", field=field) from exc
    except IntegrityError as exc:
        raise Conflict(f"username: {body.username!r} is taken", field="username") from exc
    return _view(store.user_by_username(session, body.username))


@router.post("/users/{username}/deactivate")
def deactivate(username: str, caller: Caller, session: Session, outbox: Outbox) -> dict:
    require(caller, Role.ADMIN)
    with session.begin():
        account = store.user_by_username(session, username)
        if account is not None and account.id == caller.user_id:
            raise Conflict("you cannot deactivate your own account")
        try:
            users.deactivate_user(session, username, outbox=outbox)
        except LookupError as exc:
            raise NotFound(str(exc)) from exc
    return {"username": username, "active": False}


@router.post("/users/{username}/password")
def reset_password(
    username: str, body: PasswordIn, caller: Caller, session: Session, outbox: Outbox
) -> dict:
    require(caller, Role.ADMIN)
    with session.begin():
        try:
            users.set_password(session, username, body.password, outbox=outbox)
        except LookupError as exc:
            raise NotFound(str(exc)) from exc
    return {"username": username, "sessions_ended": True}


@router.get("/audit")
def audit_log(
    caller: Caller,
    session: Session,
    referral_id: Annotated[str | None, Query(max_length=64)] = None,
    user: Annotated[str | None, Query(max_length=100, description="Username")] = None,
    since: date | None = None,
    until: date | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict]:
    """Who read or changed which referral, and why: newest first."""
    require(caller, Role.ADMIN)
    with session.begin():
        rows = store.search_audit(
            session, referral_id=referral_id, username=user, since=since, until=until, limit=limit
        )
        # Reading the audit is itself a read of who saw each person's referral.
        shown = sorted({r.referral_id for r in rows})
        audit.record_many(session, caller, shown, "audit_read", Purpose.AUDIT, "audit search")
    return [dict(r._mapping) for r in rows]
