"""Taking a referral in: one use case for both intakes, JSON (``POST /referrals``) and
FHIR (``POST /fhir/ServiceRequest``). It knows nothing of HTTP: the routes give it the
session, the outbox and the validated ``ReferralIn``, and turn its answer or its domain
error into their own response.

A repeat creates nothing: the same Idempotency-Key from the same practice with the same
body answers with the first referral; the same key with another body is refused (the
semantics of the IETF idempotency-key draft); the same person from the same practice
with similar needs while an earlier referral is open points to that one.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from types import SimpleNamespace

from sqlalchemy import Row
from sqlalchemy.orm import Session

from services.referrals import store
from services.referrals.domain import (
    DuplicatePolicy,
    KnownReferral,
    Status,
    age_on,
    coarse,
    find_duplicate,
    postcode_district,
)
from services.referrals.places import Places
from services.referrals.redaction import person_of, redact
from services.referrals.schemas import ReferralIn
from shared.auth import Principal, Role, require
from shared.bus.outbox import Outbox
from shared.events import ReferralProfile, ReferralSubmitted
from shared.web import Forbidden, Unprocessable

__all__ = ["DEFAULT_TEAM", "OUTSIDE_AREA_NOTE", "profile_of", "submit_referral"]

DEFAULT_TEAM = "community-connect"
#: A postcode the borough's place data does not know (another area, or an NHS
#: pseudo-postcode such as ZZ99 for no fixed abode) is accepted: refusing would leave the
#: person without help. The referral is flagged, has no ward, and is matched without
#: distance; reports count it under the ward "unknown".
OUTSIDE_AREA_NOTE = (
    "postcode: outside the area this service covers (no ward found); the referral is "
    "accepted and matched without distance, and shown as outside the area"
)


def submit_referral(
    session: Session,
    outbox: Outbox,
    places: Places,
    policy: DuplicatePolicy,
    caller: Principal,
    body: ReferralIn,
    idempotency_key: str | None,
) -> tuple[bool, dict]:
    """(created, answer): the new referral, or the one this request repeats."""
    require(caller, Role.PRACTICE_STAFF)
    if not caller.practice_ods:
        raise Forbidden("your account has no practice (ODS code) to refer from")
    place = places.locate(body.postcode)
    referral_id = str(uuid.uuid4())
    with session.begin():
        now = store.now()
        if idempotency_key:
            repeat = _repeat_of(session, caller, idempotency_key, body)
            if repeat is not None:
                return False, repeat
        duplicate = _duplicate_of(session, policy, caller, body, now)
        if duplicate is not None:
            return False, duplicate
        values = dict(
            id=referral_id,
            practice_ods=caller.practice_ods,
            team=DEFAULT_TEAM,
            referred_by=caller.user_id,
            referrer_name=caller.name,
            status=Status.SUBMITTED,
            urgency=body.urgency,
            given_name=body.given_name,
            family_name=body.family_name,
            nhs_number=body.nhs_number,
            birth_date=body.birth_date,
            gender=body.gender,
            postcode=body.postcode,
            phone=body.phone,
            email=body.email,
            preferred_contact=body.preferred_contact,
            ward=place.ward if place else None,
            lat=place.lat if place else None,
            lon=place.lon if place else None,
            languages=body.languages,
            accessibility_needs=body.accessibility_needs,
            delivery_modes=body.delivery_modes,
            needs_text=body.needs,
            need_categories=body.need_categories,
            needs_found=[],
            unmet_needs=[],
            consent_to_refer=body.consent_to_refer,
            consent_to_share=body.consent_to_share,
            consent_recorded_by=caller.name,
            flagged=False,
            created_at=now,
            updated_at=now,
        )
        store.add_referral(session, **values)
        store.record_transition(
            session, referral_id, None, Status.SUBMITTED, "submit", caller.user_id
        )
        if idempotency_key:
            store.remember_request(
                session,
                caller.practice_ods,
                idempotency_key,
                _request_hash(body),
                referral_id,
                now,
            )
        row = SimpleNamespace(**values)  # as stored, without reading it back
        outbox.add(
            session,
            ReferralSubmitted(
                referral_id=referral_id, practice_ods=caller.practice_ods, profile=profile_of(row)
            ),
        )
    answer = {"id": referral_id, "status": Status.SUBMITTED, "ward": row.ward}
    answer["outside_area"] = row.ward is None
    if row.ward is None:
        answer["note"] = OUTSIDE_AREA_NOTE
    return True, answer


def profile_of(row: Row) -> ReferralProfile:
    """What matching needs to know of the person, and nothing that identifies them: the
    free text has the person's names and any identifiers redacted."""
    person = person_of(row)

    def labels(values) -> tuple[str, ...]:
        return tuple(redact(v, person) for v in values)

    return ReferralProfile(
        age=age_on(row.birth_date, store.now().date()),
        gender=row.gender,
        ward=row.ward,
        postcode_district=postcode_district(row.postcode),
        lat=coarse(row.lat),
        lon=coarse(row.lon),
        languages=labels(row.languages),
        accessibility_needs=labels(row.accessibility_needs),
        delivery_modes=tuple(row.delivery_modes),
        needs_text=redact(row.needs_text, person),
        need_categories=tuple(row.need_categories),
        urgency=row.urgency,
    )


def _request_hash(body: ReferralIn) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _repeat_of(session: Session, caller: Principal, key: str, body: ReferralIn) -> dict | None:
    """The referral this practice already sent with ``key``; a 422 if the key came with
    another body (keys are the practice's own: another practice's same key is unrelated)."""
    earlier = store.earlier_request(session, caller.practice_ods, key)
    if earlier is None:
        return None
    if earlier.request_hash and earlier.request_hash != _request_hash(body):
        raise Unprocessable(
            "Idempotency-Key: this key was used before with a different referral; "
            "send a new key for a new referral",
            field="Idempotency-Key",
        )
    return {
        "id": earlier.id,
        "status": earlier.status,
        "duplicate": True,
        "reason": "the same Idempotency-Key was sent before",
    }


def _duplicate_of(
    session: Session, policy: DuplicatePolicy, caller: Principal, body: ReferralIn, now: datetime
) -> dict | None:
    store.lock_person(session, caller.practice_ods, body.nhs_number, body.birth_date)
    since = now - timedelta(days=policy.window_days)
    rows = store.open_referrals_like(
        session, caller.practice_ods, body.nhs_number, body.birth_date, since
    )
    new = KnownReferral(
        id="",
        practice_ods=caller.practice_ods or "",
        nhs_number=body.nhs_number,
        given_name=body.given_name,
        family_name=body.family_name,
        birth_date=body.birth_date,
        needs_text=body.needs,
        created_at=now,
        status=Status.SUBMITTED,
    )
    found = find_duplicate(new, [_known(row) for row in rows], policy)
    if found is None:
        return None
    existing_status = next(row.status for row in rows if row.id == found.id)
    return {"id": found.id, "status": existing_status, "duplicate": True, "reason": found.reason}


def _known(row: Row) -> KnownReferral:
    return KnownReferral(
        id=row.id,
        practice_ods=row.practice_ods,
        nhs_number=row.nhs_number,
        given_name=row.given_name,
        family_name=row.family_name,
        birth_date=row.birth_date,
        needs_text=row.needs_text,
        created_at=store.aware(row.created_at),
        status=row.status,
    )
