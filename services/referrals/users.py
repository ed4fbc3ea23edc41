"""People who use the system, and the command line to manage them.

    python -m services.referrals.users create --username amir --name "Amir Khan" \\
        --role practice_staff --practice G83001
    python -m services.referrals.users token --username amir

    python -m services.referrals.users password --username amir
    python -m services.referrals.users deactivate --username amir

Passwords are hashed with Argon2id (pwdlib); tokens are signed with the shared key and
carry the account's token version. A password change or a deactivation raises the
version, and ``ActiveUsers`` (asked on every request) refuses older tokens at once.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from services.referrals import store
from shared.auth import ACCOUNT_INACTIVE, SESSION_ENDED, Principal, Role, hash_password
from shared.bus.outbox import Outbox
from shared.events import AccountSessionsEnded

__all__ = [
    "DEMO_USERS",
    "ActiveUsers",
    "create_user",
    "deactivate_user",
    "ensure_demo_users",
    "main",
    "principal_of",
    "set_password",
    "user_principal",
]

# Demo accounts for the embedded mode only (password "demo"): one of each role.
DEMO_USERS = [
    {"username": "gp", "name": "Dr Priya Shah", "role": "practice_staff", "practice_ods": "G83001"},
    {
        "username": "reception",
        "name": "Sam Reid",
        "role": "practice_staff",
        "practice_ods": "G83001",
    },
    {"username": "gp2", "name": "Dr Tom Eze", "role": "practice_staff", "practice_ods": "G83002"},
    {
        "username": "linkworker",
        "name": "Jo Adams",
        "role": "link_worker",
        "team": "community-connect",
    },
    {"username": "group", "name": "Val Mensah", "role": "group_member", "organisation_id": None},
    {"username": "commissioner", "name": "Chris Lowe", "role": "commissioner"},
    {"username": "admin", "name": "Ali Admin", "role": "admin"},
]


def create_user(
    session: Session,
    *,
    username: str,
    name: str,
    role: str,
    password: str,
    practice_ods: str | None = None,
    organisation_id: str | None = None,
    team: str | None = None,
) -> str:
    role = Role(role).value
    if role == Role.PRACTICE_STAFF and not practice_ods:
        raise ValueError("practice staff need a practice ODS code (--practice)")
    if role == Role.LINK_WORKER and not team:
        raise ValueError("link workers need a team (--team)")
    if role == Role.GROUP_MEMBER and not organisation_id:
        raise ValueError("group members need an organisation id (--organisation)")
    user_id = str(uuid.uuid4())
    session.execute(
        store.users.insert().values(
            id=user_id,
            username=username,
            name=name,
            password_hash=hash_password(password),
            role=role,
            practice_ods=practice_ods,
            organisation_id=organisation_id,
            team=team,
            active=True,
            created_at=store.now(),
        )
    )
    return user_id


def ensure_demo_users(session: Session, group_organisation: str) -> None:
    existing = set(session.execute(select(store.users.c.username)).scalars())
    for user in DEMO_USERS:
        if user["username"] in existing:
            continue
        fields = dict(user)
        if fields["role"] == "group_member":
            fields["organisation_id"] = group_organisation
        create_user(session, password="demo", **fields)


def user_principal(user) -> Principal:
    """The principal a token for this ``referrals_users`` row names."""
    return Principal(
        user_id=user.id,
        name=user.name,
        role=Role(user.role),
        practice_ods=user.practice_ods,
        organisation_id=user.organisation_id,
        team=user.team,
        token_version=user.token_version,
    )


def principal_of(session: Session, username: str) -> Principal:
    user = session.execute(select(store.users).where(store.users.c.username == username)).first()
    if user is None:
        raise SystemExit(f"no user {username!r}")
    return user_principal(user)


def _end_sessions(session: Session, outbox: Outbox, username: str, **changes) -> None:
    """Move the account's token version (its tokens stop working here at once) and tell
    the other services, which verify tokens too (``AccountSessionsEnded``)."""
    u = store.users.c
    done = session.execute(
        update(store.users)
        .where(u.username == username)
        .values(token_version=u.token_version + 1, **changes)
    )
    if done.rowcount == 0:
        raise LookupError(f"no user {username!r}")
    account = session.execute(
        select(u.id, u.active, u.token_version).where(u.username == username)
    ).one()
    outbox.add(
        session,
        AccountSessionsEnded(
            user_id=account.id, active=account.active, token_version=account.token_version
        ),
    )


def deactivate_user(session: Session, username: str, *, outbox: Outbox) -> None:
    """The account can no longer sign in, and its tokens stop working at once."""
    _end_sessions(session, outbox, username, active=False)


def set_password(session: Session, username: str, password: str, *, outbox: Outbox) -> None:
    """A new password; every token issued before it stops working at once."""
    _end_sessions(session, outbox, username, password_hash=hash_password(password))


class ActiveUsers:
    """The referrals service's ``user_check``: a token stands only while its account is
    active and the token's version is the account's current one (one indexed read)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def __call__(self, principal: Principal) -> str | None:
        u = store.users.c
        with self._sessions() as session:
            user = session.execute(
                select(u.active, u.token_version).where(u.id == principal.user_id)
            ).first()
        if user is None or not user.active:
            return ACCOUNT_INACTIVE
        if user.token_version != principal.token_version:
            return SESSION_ENDED
        return None


def main(argv: list[str] | None = None) -> int:
    from datetime import timedelta

    from services.referrals.store import MIGRATIONS
    from shared.auth import TokenService
    from shared.db import make_engine, make_session_factory, migrate
    from shared.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m services.referrals.users")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="add a user")
    create.add_argument("--username", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--practice", dest="practice_ods")
    create.add_argument("--organisation", dest="organisation_id")
    create.add_argument("--team")
    create.add_argument("--password", help="omit to be asked")
    token = commands.add_parser("token", help="print a bearer token for a user")
    token.add_argument("--username", required=True)
    password = commands.add_parser("password", help="set a new password; ends their sessions")
    password.add_argument("--username", required=True)
    password.add_argument("--password", help="omit to be asked")
    deactivate = commands.add_parser("deactivate", help="end a user's access at once")
    deactivate.add_argument("--username", required=True)
    args = parser.parse_args(argv)

    settings = Settings()
    engine = make_engine(settings.database_url)
    migrate(engine, MIGRATIONS, f"alembic_version_{store.SERVICE}")
    sessions = make_session_factory(engine)
    outbox = Outbox(store.outbox, f"{store.SERVICE}@cli")  # the service's relay sends it
    if args.command == "create":
        password = args.password or getpass.getpass("Password: ")
        try:
            with sessions.begin() as session:
                user_id = create_user(
                    session,
                    username=args.username,
                    name=args.name,
                    role=args.role,
                    password=password,
                    practice_ods=args.practice_ods,
                    organisation_id=args.organisation_id,
                    team=args.team,
                )
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(user_id)
    elif args.command in ("password", "deactivate"):
        try:
            with sessions.begin() as session:
                if args.command == "password":
                    new = args.password or getpass.getpass("New password: ")
                    set_password(session, args.username, new, outbox=outbox)
                else:
                    deactivate_user(session, args.username, outbox=outbox)
        except LookupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        tokens = TokenService(
            settings.resolved_jwt_secret(),
            settings.jwt_issuer,
            timedelta(minutes=settings.token_ttl_minutes),
        )
        with sessions() as session:
            print(tokens.issue(principal_of(session, args.username)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
