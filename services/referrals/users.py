"""People who use the system, and the command line to manage them.

    python -m services.referrals.users create --username amir --name "Amir Khan" \\
        --role practice_staff --practice G83001
    python -m services.referrals.users token --username amir

Passwords are hashed with Argon2id (pwdlib); tokens are signed with the shared key.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.referrals import store
from shared.auth import Principal, Role, hash_password

__all__ = ["DEMO_USERS", "create_user", "ensure_demo_users", "main"]

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


def principal_of(session: Session, username: str) -> Principal:
    from services.referrals.api import user_principal

    user = session.execute(select(store.users).where(store.users.c.username == username)).first()
    if user is None:
        raise SystemExit(f"no user {username!r}")
    return user_principal(user)


def main(argv: list[str] | None = None) -> int:
    from datetime import timedelta

    from services.referrals.app import MIGRATIONS
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
    args = parser.parse_args(argv)

    settings = Settings()
    engine = make_engine(settings.database_url)
    migrate(engine, MIGRATIONS, f"alembic_version_{store.SERVICE}")
    sessions = make_session_factory(engine)
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
