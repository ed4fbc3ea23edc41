"""Who is asking: signed bearer tokens carrying a role and a scope.

Tokens are HS256 JWTs (PyJWT) issued by the referrals service's login and by its user
CLI; every service verifies them with the shared key, without a database call. The
token names the person, their role and the scope the role applies to: a practice's ODS
code, an organisation's id, or a link-worker team.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import jwt
from fastapi import HTTPException, Request, status
from pwdlib import PasswordHash

__all__ = [
    "Principal",
    "Role",
    "TokenService",
    "hash_password",
    "require",
    "verify_password",
]

COOKIE_NAME = "sp_token"
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
        )


def principal_from_request(request: Request) -> Principal:
    """FastAPI dependency: the verified caller, from the bearer header or the page cookie."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    token = token or request.cookies.get(COOKIE_NAME)
    if not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "authentication required: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        return request.app.state.tokens.verify(token)
    except jwt.InvalidTokenError as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"invalid token: {exc}",
            headers={"WWW-Authenticate": "Bearer"},
        ) from exc


def require(principal: Principal, *roles: Role) -> Principal:
    """Refuse with 403 unless the caller has one of ``roles`` (admins always pass)."""
    if principal.role in roles or principal.role is Role.ADMIN:
        return principal
    allowed = ", ".join(r.value for r in roles)
    raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the role: {allowed}")
