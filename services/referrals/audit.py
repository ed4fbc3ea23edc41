"""The audit trail: who read or changed which referral, why, and who was refused.

Every read of identifiable data writes a row (one per referral for lists), and so does
every refused attempt on a referral and every reading of the audit itself. ``purpose``
is a closed list (``Purpose``), checked by the database too; ``detail`` says what
exactly, in the service's own words. The table is append-only: database triggers refuse
any UPDATE or DELETE (migration 0008, on SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy.orm import Session

from services.referrals import store
from shared.auth import Principal

__all__ = ["Purpose", "ReadPurpose", "record", "record_many"]


class Purpose(StrEnum):
    """Why someone touched a person's referral."""

    CARE = "care"
    LINK_WORKER_REVIEW = "link worker review"
    REFERRER_FOLLOW_UP = "referrer follow-up"
    SAFEGUARDING = "safeguarding"
    DATA_QUALITY = "data quality"
    GROUP_REFERRAL = "group referral"
    MESSAGE_TO_GP = "message to the GP"
    AUDIT = "audit"


class ReadPurpose(StrEnum):
    """The purposes a reader may give for reading one referral (``?purpose=``)."""

    CARE = Purpose.CARE.value
    LINK_WORKER_REVIEW = Purpose.LINK_WORKER_REVIEW.value
    REFERRER_FOLLOW_UP = Purpose.REFERRER_FOLLOW_UP.value
    SAFEGUARDING = Purpose.SAFEGUARDING.value
    DATA_QUALITY = Purpose.DATA_QUALITY.value


def record(
    session: Session,
    caller: Principal,
    referral_id: str,
    action: str,
    purpose: Purpose | ReadPurpose = Purpose.CARE,
    detail: str | None = None,
) -> None:
    record_many(session, caller, [referral_id], action, purpose, detail)


def record_many(
    session: Session,
    caller: Principal,
    referral_ids: Iterable[str],
    action: str,
    purpose: Purpose | ReadPurpose = Purpose.CARE,
    detail: str | None = None,
) -> None:
    """One row per referral (a list of 100 referrals is 100 rows: each person can be
    told who saw their referral, and when)."""
    now = store.now()
    rows = [
        {
            "at": now,
            "user_id": caller.user_id,
            "role": caller.role.value,
            "referral_id": referral_id,
            "action": action,
            "purpose": Purpose(purpose).value,
            "detail": detail[:200] if detail else None,
        }
        for referral_id in referral_ids
    ]
    if rows:
        session.execute(store.audit_log.insert(), rows)
