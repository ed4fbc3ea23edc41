"""The directory's view of ended sessions keeps the newest word on each account."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from services.directory import store
from services.directory.accounts import EndedSessions, on_account_sessions_ended
from shared.auth import Principal, Role
from shared.events import AccountSessionsEnded, Envelope, new_envelope


@pytest.fixture
def sessions():
    engine = create_engine("sqlite://")
    store.accounts.create(engine)
    yield sessionmaker(engine)
    engine.dispose()


def _say(sessions, **fields) -> None:
    event = AccountSessionsEnded(**fields)
    with sessions.begin() as session:
        on_account_sessions_ended(session, event, new_envelope(event, "test"))


def _principal(version: int, user_id: str = "u1") -> Principal:
    return Principal(user_id=user_id, name="x", role=Role.GROUP_MEMBER, token_version=version)


def test_an_account_never_changed_needs_only_its_signature(sessions):
    assert EndedSessions(sessions)(_principal(0)) is None


def test_tokens_older_than_the_accounts_version_are_refused(sessions):
    _say(sessions, user_id="u1", active=True, token_version=2)
    check = EndedSessions(sessions)
    assert "session has ended" in check(_principal(1))
    assert check(_principal(2)) is None
    assert check(_principal(0, user_id="u2")) is None


def test_a_deactivated_account_is_refused_whatever_its_version(sessions):
    _say(sessions, user_id="u1", active=False, token_version=3)
    assert "no longer active" in EndedSessions(sessions)(_principal(3))


def test_an_older_or_repeated_event_changes_nothing(sessions):
    _say(sessions, user_id="u1", active=False, token_version=3)
    _say(sessions, user_id="u1", active=True, token_version=2)  # arrives late
    _say(sessions, user_id="u1", active=False, token_version=3)  # redelivered
    assert "no longer active" in EndedSessions(sessions)(_principal(3))


def test_the_event_is_keyed_by_the_account_and_carries_no_patient_data():
    envelope = new_envelope(AccountSessionsEnded(user_id="u1", active=False, token_version=1), "t")
    assert envelope.key == "u1"
    assert set(envelope.payload.model_dump()) == {
        "type",
        "version",
        "user_id",
        "active",
        "token_version",
    }
    assert isinstance(envelope, Envelope) and envelope.occurred_at <= datetime.now(UTC)
    assert uuid.UUID(str(envelope.event_id))
