"""Signing in: a username and password exchanged for a bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from services.referrals import store
from services.referrals.users import user_principal
from shared.auth import verify_password
from shared.web import DomainError

router = APIRouter(tags=["auth"])


@router.post("/auth/token")
def login(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict:
    """Exchange a username and password for a bearer token. The pages' sign-in form
    calls this too, and answers with a cookie instead."""
    with request.app.state.sessions() as session:
        user = store.user_by_username(session, form.username)
    if user is None or not user.active or not verify_password(form.password, user.password_hash):
        raise DomainError("wrong username or password")
    token = request.app.state.tokens.issue(user_principal(user))
    return {"access_token": token, "token_type": "bearer", "role": user.role}
