"""Signing in: a username and password exchanged for a bearer token.

Failed attempts back off per username and per client address (``sign_in_guard``): 429
with ``Retry-After`` while locked. An unknown username costs the same Argon2
verification as a known one (a dummy hash), so timing tells nothing about which
usernames exist.
"""

from __future__ import annotations

import functools
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request

from services.referrals import sign_in_guard, store
from services.referrals.users import user_principal
from shared.auth import hash_password, verify_password
from shared.routes import OneHopRoute
from shared.web import DomainError, TooManyRequests

router = APIRouter(tags=["auth"], route_class=OneHopRoute)


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


@router.post("/auth/token")
def login(
    request: Request,
    username: Annotated[str, Form(min_length=1, max_length=100)],
    password: Annotated[str, Form(min_length=1, max_length=1000)],
) -> dict:
    """Exchange a username and password (an OAuth2 password-grant form) for a bearer
    token. The pages' sign-in form calls this too, and answers with a cookie instead."""
    address = request.client.host if request.client else None
    keys = sign_in_guard.keys(username, address)
    with request.app.state.sessions.begin() as session:
        wait = sign_in_guard.retry_after(session, keys, store.now())
        if wait is not None:
            raise TooManyRequests(
                f"too many failed sign-ins: try again in {wait} seconds", retry_after=wait
            )
        user = store.user_by_username(session, username)
    known = verify_password(password, user.password_hash if user else _dummy_hash())
    with request.app.state.sessions.begin() as session:
        if user is None or not user.active or not known:
            sign_in_guard.failed(session, keys, store.now())
            ok = False
        else:
            sign_in_guard.cleared(session, keys[0])
            ok = True
    if not ok:
        raise DomainError("wrong username or password")
    token = request.app.state.tokens.issue(user_principal(user))
    return {"access_token": token, "token_type": "bearer", "role": user.role}
