"""Who is asking: signed bearer tokens carrying a role and a scope.

Tokens are HS256 JWTs (PyJWT) issued by the referrals service's login and by its user
CLI; every service verifies them with the shared key. The token names the person, their
role and the scope the role applies to: a practice's ODS code, an organisation's id, or
a link-worker team, and the account's token version. A service that keeps the accounts
(referrals) also sets ``app.state.user_check``, asked on every request, so that a
deactivation or a password change ends the account's sessions at once.

The pages sign in with a cookie. A request that changes something and is authenticated
by that cookie must also carry the CSRF token (double submit: the ``X-CSRF-Token``
header equal to the ``sp_csrf`` cookie, which another site can neither read nor set) and
come from one of the system's own origins (``Origin``, else ``Referer``). Bearer tokens
are never sent by a browser on its own, so they need neither.

Refusals are ``Unauthorized`` (401) and ``Forbidden`` (403) domain errors: the same error
path and body as every other refusal (``shared/web.py``).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

import jwt
from fastapi import Depends, Request
from pwdlib import PasswordHash

from shared.web import Forbidden, Unauthorized

__all__ = [
    "ACCOUNT_INACTIVE",
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "SESSION_ENDED",
    "Caller",
    "Principal",
    "Role",
    "TokenService",
    "UserCheck",
    "hash_password",
    "new_csrf_token",
    "principal_from_request",
    "require",
    "same_origin",
    "verify_password",
]

COOKIE_NAME = "sp_token"
CSRF_COOKIE = "sp_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_hasher = PasswordHash.recommended()  # Argon2id


class Role(StrEnum):
    PRACTICE_STAFF = "practice_staff"
    LINK_WORKER = "link_worker"
    GROUP_MEMBER = "group_member"
    COMMISSIONER = "commissioner"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    name: str
    role: Role
    practice_ods: str | None = None
    organisation_id: str | None = None
    team: str | None = None
    token_version: int = 0


#: Why a ``user_check`` refuses a verified token (the same words on every service).
ACCOUNT_INACTIVE = "this account is no longer active"
SESSION_ENDED = "this session has ended (the password changed or the account was reset)"

#: Given a verified principal, the reason its session has ended, or None if it stands.
UserCheck = Callable[[Principal], str | None]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, hashed: str) -> bool:
    return _hasher.verify(password, hashed)


class TokenService:
    def __init__(self, secret: str, issuer: str, ttl: timedelta) -> None:
        self._secret = secret
        self._issuer = issuer
        self._ttl = ttl

    def issue(self, principal: Principal) -> str:
        now = datetime.now(UTC)
        claims = {
            "sub": principal.user_id,
            "name": principal.name,
            "role": principal.role.value,
            "ods": principal.practice_ods,
            "org": principal.organisation_id,
            "team": principal.team,
            "ver": principal.token_version,
            "iss": self._issuer,
            "iat": now,
            "exp": now + self._ttl,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify(self, token: str) -> Principal:
        """The principal in a valid token; ``jwt.InvalidTokenError`` otherwise."""
        claims = jwt.decode(
            token,
            self._secret,
            algorithms=["HS256"],
            issuer=self._issuer,
            options={"require": ["sub", "role", "exp", "iss"]},
        )
        try:
            role = Role(claims["role"])
        except ValueError as exc:
            raise jwt.InvalidTokenError(f"unknown role {claims['role']!r}") from exc
        return Principal(
            user_id=claims["sub"],
            name=claims.get("name") or claims["sub"],
            role=role,
            practice_ods=claims.get("ods"),
            organisation_id=claims.get("org"),
            team=claims.get("team"),
            token_version=int(claims.get("ver") or 0),
        )


def principal_from_request(request: Request) -> Principal:
    """FastAPI dependency: the verified caller, from the bearer header or the page cookie."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    if not token:
        token = request.cookies.get(COOKIE_NAME)
        if token and request.method not in SAFE_METHODS:
            _check_csrf(request)
    if not token:
        raise Unauthorized("authentication required: send 'Authorization: Bearer <token>'")
    try:
        principal = request.app.state.tokens.verify(token)
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"invalid token: {exc}") from exc
    user_check: UserCheck | None = getattr(request.app.state, "user_check", None)
    ended = user_check(principal) if user_check else None
    if ended:
        raise Unauthorized(f"{ended}: sign in again")
    request.state.principal = principal  # for the audit of refused attempts
    return principal


Caller = Annotated[Principal, Depends(principal_from_request)]


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def _check_csrf(request: Request) -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), header.encode()):
        raise Forbidden(
            f"CSRF: send the {CSRF_HEADER} header with the {CSRF_COOKIE} cookie's value"
        )
    if not same_origin(request):
        raise Forbidden("CSRF: the request did not come from this system's own pages")


def same_origin(request: Request) -> bool:
    """Whether the request came from one of the system's own origins (its ``Origin``
    header, else its ``Referer``); a request naming neither is not trusted."""
    sent = request.headers.get("origin") or request.headers.get("referer") or ""
    parts = urlsplit(sent)
    if not parts.scheme or not parts.netloc:
        return False
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    allowed = {f"{request.url.scheme}://{request.url.netloc}".lower()}
    settings = getattr(request.app.state, "settings", None)
    for url in (getattr(settings, "referrals_url", ""), getattr(settings, "directory_url", "")):
        if url:
            own = urlsplit(url)
            allowed.add(f"{own.scheme}://{own.netloc}".lower())
    return origin in allowed


def require(principal: Principal, *roles: Role) -> Principal:
    """Refuse with 403 unless the caller has one of ``roles`` (admins always pass)."""
    if principal.role in roles or principal.role is Role.ADMIN:
        return principal
    allowed = ", ".join(r.value for r in roles)
    raise Forbidden(f"this needs the role: {allowed}")
