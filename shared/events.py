"""Every event, its schema version and its topic: the contracts between services.

Read this file to know what flows where. The table is generated from the services'
handler registries (``handlers.CONSUMERS``) by ``python -m services.asyncapi``, which
also writes the AsyncAPI document ``docs/asyncapi.yaml``; a test fails when either is stale.
A topic marked * is compacted: the broker keeps each key's latest event.

=======================  ==========================  ===========  =====================
topic                    event                       key          producer -> consumers
=======================  ==========================  ===========  =====================
referrals.v1             ReferralSubmitted v1        referral id  referrals -> matcher, directory
referrals.v1             ReferralUpdated v1          referral id  referrals -> matcher
referrals.v1             MatchConfirmed v1           referral id  referrals -> matcher, directory
referrals.v1             MatchDeclined v1            referral id  referrals -> matcher
referrals.v1             ReferralOutcomeRecorded v2  referral id  referrals -> directory
referrals.v1             ReferralClosed v1           referral id  referrals -> directory
referrals.v1             GpMessageReady v1           referral id  referrals -> (none)
referrals.v1             ReferralContacted v1        referral id  referrals -> directory
referrals.v1             GroupAnswered v1            referral id  referrals -> directory
referrals.v1             WellbeingChanged v1         referral id  referrals -> directory
matches.v1               MatchesProposed v3          referral id  matcher -> referrals, directory
directory.services.v1 *  ServiceUpserted v3          service id   directory -> referrals, matcher
directory.services.v1 *  ServiceWithdrawn v1         service id   directory -> referrals, matcher
directory.notices.v1     ServiceReviewDue v1         service id   directory -> (none)
directory.notices.v1     ServiceReported v1          service id   directory -> (none)
accounts.v1 *            AccountSessionsEnded v1     user id      referrals -> directory
deadletter.v1            DeadLetter (not an event)   source key   any consumer -> operators
=======================  ==========================  ===========  =====================

Least data on the stream: referral events carry what matching and reporting need (age,
gender, ward, a coarse location, languages, accessibility, the needs text) and never the
patient's name, NHS number, date of birth or contact details; those stay in the referrals
service. Every event is keyed so that one referral's (or one service's) events stay in
order on one partition.

Versioning: each payload declares ``type`` and ``version``. When a schema changes, bump
its version and register an upcaster in ``UPCASTERS`` that turns the old payload dict into
the new one, so consumers only ever handle the newest shape.
"""

from __future__ import annotations

import base64
import json
import typing
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shared import clock

__all__ = [
    "ACCOUNTS_TOPIC",
    "DEAD_LETTER_TOPIC",
    "DIRECTORY_NOTICES_TOPIC",
    "DIRECTORY_TOPIC",
    "EVENT_CLASSES",
    "MATCHES_TOPIC",
    "REFERRALS_TOPIC",
    "TOPICS",
    "AccountSessionsEnded",
    "AnyEvent",
    "DeadLetter",
    "Envelope",
    "GpMessageReady",
    "GroupAnswered",
    "InvalidEvent",
    "MatchConfirmed",
    "MatchDeclined",
    "MatchesProposed",
    "ProposedMatch",
    "ReferralClosed",
    "ReferralContacted",
    "ReferralOutcomeRecorded",
    "ReferralProfile",
    "ReferralSubmitted",
    "ReferralUpdated",
    "ServiceReported",
    "ServiceReviewDue",
    "ServiceSnapshot",
    "ServiceStatus",
    "ServiceUpserted",
    "ServiceWithdrawn",
    "TakingPeople",
    "WellbeingChanged",
    "decode",
    "encode",
    "new_envelope",
    "topic_for",
    "topic_of_class",
]

REFERRALS_TOPIC = "referrals.v1"
MATCHES_TOPIC = "matches.v1"
DIRECTORY_TOPIC = "directory.services.v1"
DIRECTORY_NOTICES_TOPIC = "directory.notices.v1"
ACCOUNTS_TOPIC = "accounts.v1"
DEAD_LETTER_TOPIC = "deadletter.v1"
TOPICS = (
    REFERRALS_TOPIC,
    MATCHES_TOPIC,
    DIRECTORY_TOPIC,
    DIRECTORY_NOTICES_TOPIC,
    ACCOUNTS_TOPIC,
    DEAD_LETTER_TOPIC,
)
COMPACTED_TOPICS = (DIRECTORY_TOPIC, ACCOUNTS_TOPIC)

Outcome = Literal["attended", "did_not_attend", "declined_by_patient", "no_capacity", "completed"]
ConnectionMode = Literal["signposting", "referral"]
#: Open Referral's service statuses (HSDS writes the last one "temporarily closed").
ServiceStatus = Literal["active", "inactive", "defunct", "temporarily_closed"]
#: What a group says of its places: ``places_left`` (counted from its places a week),
#: ``waiting_list`` (none now, but people may join its waiting list) or ``full`` (taking
#: nobody, not even onto a waiting list).
TakingPeople = Literal["places_left", "waiting_list", "full"]


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# Bounds on what a referral event may carry: the HTTP edge keeps within them, and a
# consumer refuses (dead-letters) an event that does not.
_Id = Annotated[str, Field(min_length=1, max_length=100)]
_Label = Annotated[str, Field(max_length=100)]
_Labels = Annotated[tuple[_Label, ...], Field(max_length=20)]
_Reason = Annotated[str, Field(max_length=1000)]


# --- referrals.v1 ---------------------------------------------------------------------


class ReferralProfile(_Payload):
    """What the matcher may know about the person: no identifying data."""

    age: int = Field(ge=16, le=120)
    gender: Literal["female", "male", "non-binary"] | None = None
    ward: _Label | None = None
    postcode_district: str | None = Field(
        None, max_length=4, description="Outward code only, e.g. DA6."
    )
    lat: float | None = Field(None, description="Rounded to 2 decimals (about 1 km).")
    lon: float | None = None
    languages: _Labels = ()
    accessibility_needs: _Labels = ()
    delivery_modes: _Labels = Field((), description="Acceptable delivery, () = any.")
    needs_text: str = Field(min_length=1, max_length=4000)
    need_categories: _Labels = ()
    urgency: Literal["routine", "soon", "urgent"] = "routine"


class ReferralSubmitted(_Payload):
    type: Literal["ReferralSubmitted"] = "ReferralSubmitted"
    version: Literal[1] = 1
    referral_id: str
    practice_ods: str
    profile: ReferralProfile


class ReferralUpdated(_Payload):
    """The needs or circumstances changed: matching should run again."""

    type: Literal["ReferralUpdated"] = "ReferralUpdated"
    version: Literal[1] = 1
    referral_id: str
    practice_ods: str
    profile: ReferralProfile


class MatchConfirmed(_Payload):
    type: Literal["MatchConfirmed"] = "MatchConfirmed"
    version: Literal[1] = 1
    referral_id: str
    connection_id: str
    service_id: str
    mode: ConnectionMode
    was_proposed: bool = Field(description="False when the link worker chose another service.")
    ward: str | None = None


class MatchDeclined(_Payload):
    type: Literal["MatchDeclined"] = "MatchDeclined"
    version: Literal[1] = 1
    referral_id: str
    service_ids: Annotated[tuple[_Id, ...], Field(max_length=50)]
    reason: _Reason


class ReferralOutcomeRecorded(_Payload):
    """v2 added who recorded it: the link worker, or the group the person went to."""

    type: Literal["ReferralOutcomeRecorded"] = "ReferralOutcomeRecorded"
    version: Literal[2] = 2
    referral_id: str
    connection_id: str
    service_id: str
    outcome: Outcome
    ward: str | None = None
    recorded_by: str | None = Field(None, description="v2: the user id of whoever recorded it.")
    recorded_by_role: Literal["link_worker", "group"] | None = None


class ReferralClosed(_Payload):
    type: Literal["ReferralClosed"] = "ReferralClosed"
    version: Literal[1] = 1
    referral_id: str
    reason: _Reason


class GpMessageReady(_Payload):
    """The message back to the referring practice can be fetched: an integration (NHS
    MESH, secure email) delivers it, from ``GET /referrals/{referral_id}/gp-message``
    with its own credentials. No patient data rides on the stream, only where to look."""

    type: Literal["GpMessageReady"] = "GpMessageReady"
    version: Literal[1] = 1
    referral_id: _Id
    practice_ods: _Label
    codes_only: bool = Field(description="The person did not consent to share details.")


class ReferralContacted(_Payload):
    """A link worker reached the person for the first time (for waiting times)."""

    type: Literal["ReferralContacted"] = "ReferralContacted"
    version: Literal[1] = 1
    referral_id: _Id


class GroupAnswered(_Payload):
    """The group answered a referral made to it (for provider responsiveness)."""

    type: Literal["GroupAnswered"] = "GroupAnswered"
    version: Literal[1] = 1
    referral_id: _Id
    connection_id: _Id
    service_id: _Id
    organisation_id: _Id | None = None
    accepted: bool


class WellbeingChanged(_Payload):
    """Follow-up minus first contact, per ONS4 item and for the SWEMWBS metric score.

    Changes only, never the scores themselves: enough for outcome reports, nothing
    more about the person."""

    type: Literal["WellbeingChanged"] = "WellbeingChanged"
    version: Literal[1] = 1
    referral_id: _Id
    life_satisfaction: int = Field(ge=-10, le=10)
    worthwhile: int = Field(ge=-10, le=10)
    happiness: int = Field(ge=-10, le=10)
    anxiety: int = Field(ge=-10, le=10, description="Lower is better: a fall is an improvement.")
    swemwbs_metric: float | None = Field(None, ge=-28, le=28)


# --- matches.v1 -----------------------------------------------------------------------


class ProposedMatch(_Payload):
    service_id: str
    service_name: str
    organisation_id: str | None = Field(
        None, description="v2: whose members answer a referral to this service"
    )
    score: float = Field(ge=0)
    need: str
    concept: str
    reasons: tuple[str, ...]
    waiting_list: bool = False
    distance_km: float | None = None
    breakdown: dict[str, float] = Field(
        default_factory=dict,
        description=(
            "v3: the parts of ``score`` by name (need fit per need, distance, language,"
            " accessibility, schedule, freshness, capacity, responsiveness), so a link"
            " worker can see why one proposal sits above another."
        ),
    )


class NeedFound(_Payload):
    phrase: str
    concept: str
    categories: tuple[str, ...] = ()


class MatchesProposed(_Payload):
    """v2 added ``organisation_id`` to each proposal; v3 added each proposal's score
    ``breakdown`` and ``unrecognised``. Older events are upcast on reading.

    ``score`` on a proposal is the score the order of ``proposals`` follows."""

    type: Literal["MatchesProposed"] = "MatchesProposed"
    version: Literal[3] = 3
    referral_id: str
    in_reply_to: uuid.UUID = Field(description="event_id of the referral event matched.")
    proposals: tuple[ProposedMatch, ...]
    needs: tuple[NeedFound, ...] = ()
    unmet_needs: tuple[str, ...] = Field((), description="Extracted need phrases, never raw text.")
    unrecognised: tuple[str, ...] = Field(
        (),
        description=(
            "v3: fragments of the needs text the vocabulary recognised no need in,"
            " normalised (lower-case words, no digits, no names), for emerging-needs reports."
        ),
    )
    ward: str | None = None
    directory_size: int = 0


# --- directory.services.v1 ------------------------------------------------------------


class Eligibility(_Payload):
    min_age: int | None = None
    max_age: int | None = None
    genders: tuple[str, ...] | None = None
    notes: str = ""


class Place(_Payload):
    address: str = ""
    postcode: str | None = None
    ward: str | None = None
    lat: float | None = None
    lon: float | None = None


class ServiceSnapshot(_Payload):
    """The whole current state of one service: compaction keeps only the latest.

    Only ``active`` services may be proposed, and not one whose group says it is ``full``.
    v2 of ``ServiceUpserted`` added the statuses ``inactive`` and ``defunct``,
    ``reopens_on`` and ``open_reports``; v3 added ``taking``."""

    id: str
    organisation_id: str
    organisation_name: str
    name: str
    description: str = ""
    categories: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    eligibility: Eligibility = Eligibility()
    location: Place | None = None
    delivery: tuple[str, ...] = ("in_person",)
    schedule: str = ""
    languages: tuple[str, ...] = ("English",)
    accessibility: tuple[str, ...] = ()
    cost: str = ""
    referral_route: Literal["self", "link_worker", "either"] = "either"
    capacity_per_week: int | None = None
    places_free: int | None = Field(
        None, description="0 when the group says it is full or keeps a waiting list only."
    )
    taking: TakingPeople = Field(
        "places_left",
        description=(
            "v3: the group's own word on its places: full services are not proposed, waiting"
            " list ones only after services with places, flagged."
        ),
    )
    status: ServiceStatus = "active"
    reopens_on: date | None = Field(None, description="v2: when a closed service reopens.")
    last_confirmed: date | None = Field(None, description="Open Referral's assured_date.")
    open_reports: int = Field(
        0,
        ge=0,
        description=(
            "v2: unresolved reports by different signed-in users that the entry is out of"
            " date or the service closed; several agreeing should lower it in ranking."
        ),
    )


class ServiceUpserted(_Payload):
    type: Literal["ServiceUpserted"] = "ServiceUpserted"
    version: Literal[3] = 3
    revision: int = Field(ge=1, description="Grows with every change of this service.")
    service: ServiceSnapshot


class ServiceWithdrawn(_Payload):
    type: Literal["ServiceWithdrawn"] = "ServiceWithdrawn"
    version: Literal[1] = 1
    revision: int = Field(ge=1)
    service_id: str
    organisation_id: str
    reason: str = ""


# --- directory.notices.v1 -------------------------------------------------------------


class ServiceReviewDue(_Payload):
    """A service's entry was last assured long enough ago that its group should confirm it."""

    type: Literal["ServiceReviewDue"] = "ServiceReviewDue"
    version: Literal[1] = 1
    service_id: str
    organisation_id: str
    service_name: str
    assured_date: date | None
    due_on: date


class ServiceReported(_Payload):
    """A signed-in user reported an entry out of date or the service closed.

    The note stays in the directory (its pages show it to the organisation and to
    administrators); the event says only that there is one to read."""

    type: Literal["ServiceReported"] = "ServiceReported"
    version: Literal[1] = 1
    service_id: str
    organisation_id: str
    report_id: int
    kind: Literal["out_of_date", "closed"]
    open_reports: int = Field(ge=1, description="Different people's unresolved reports.")


# --- accounts.v1 ----------------------------------------------------------------------


class AccountSessionsEnded(_Payload):
    """An account's existing sessions end: it was deactivated, or its password changed.

    The referrals service keeps the accounts; every other service that verifies tokens
    keeps the latest of these per account and refuses older tokens at once. Staff ids
    only: nothing about a patient."""

    type: Literal["AccountSessionsEnded"] = "AccountSessionsEnded"
    version: Literal[1] = 1
    user_id: _Id
    active: bool = Field(description="False once the account is deactivated.")
    token_version: int = Field(
        ge=0, description="Tokens naming a lower version than this no longer work."
    )


AnyEvent = Annotated[
    ReferralSubmitted
    | ReferralUpdated
    | MatchConfirmed
    | MatchDeclined
    | ReferralOutcomeRecorded
    | ReferralClosed
    | GpMessageReady
    | ReferralContacted
    | GroupAnswered
    | WellbeingChanged
    | MatchesProposed
    | ServiceUpserted
    | ServiceWithdrawn
    | ServiceReviewDue
    | ServiceReported
    | AccountSessionsEnded,
    Field(discriminator="type"),
]

_TOPIC_OF: dict[str, str] = {
    "ReferralSubmitted": REFERRALS_TOPIC,
    "ReferralUpdated": REFERRALS_TOPIC,
    "MatchConfirmed": REFERRALS_TOPIC,
    "MatchDeclined": REFERRALS_TOPIC,
    "ReferralOutcomeRecorded": REFERRALS_TOPIC,
    "ReferralClosed": REFERRALS_TOPIC,
    "GpMessageReady": REFERRALS_TOPIC,
    "ReferralContacted": REFERRALS_TOPIC,
    "GroupAnswered": REFERRALS_TOPIC,
    "WellbeingChanged": REFERRALS_TOPIC,
    "MatchesProposed": MATCHES_TOPIC,
    "ServiceUpserted": DIRECTORY_TOPIC,
    "ServiceWithdrawn": DIRECTORY_TOPIC,
    "ServiceReviewDue": DIRECTORY_NOTICES_TOPIC,
    "ServiceReported": DIRECTORY_NOTICES_TOPIC,
    "AccountSessionsEnded": ACCOUNTS_TOPIC,
}


def _matches_proposed_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    proposals = [{**p, "organisation_id": None} for p in payload.get("proposals", [])]
    return {**payload, "version": 2, "proposals": proposals}


def _matches_proposed_v2_to_v3(payload: dict[str, Any]) -> dict[str, Any]:
    proposals = [{**p, "breakdown": {}} for p in payload.get("proposals", [])]
    return {**payload, "version": 3, "proposals": proposals, "unrecognised": []}


def _service_upserted_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    service = {**payload.get("service", {}), "reopens_on": None, "open_reports": 0}
    return {**payload, "version": 2, "service": service}


def _service_upserted_v2_to_v3(payload: dict[str, Any]) -> dict[str, Any]:
    service = {**payload.get("service", {}), "taking": "places_left"}
    return {**payload, "version": 3, "service": service}


def _outcome_recorded_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "version": 2, "recorded_by": None, "recorded_by_role": None}


#: (type, old version) -> function turning that payload dict into the next version's.
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("MatchesProposed", 1): _matches_proposed_v1_to_v2,
    ("MatchesProposed", 2): _matches_proposed_v2_to_v3,
    ("ServiceUpserted", 1): _service_upserted_v1_to_v2,
    ("ServiceUpserted", 2): _service_upserted_v2_to_v3,
    ("ReferralOutcomeRecorded", 1): _outcome_recorded_v1_to_v2,
}


class Envelope(BaseModel):
    """What travels on the bus: metadata around one event payload."""

    model_config = ConfigDict(frozen=True)

    event_id: uuid.UUID
    type: str
    schema_version: int
    occurred_at: datetime
    producer: str
    key: str
    payload: AnyEvent


class InvalidEvent(ValueError):
    """A message that can never be processed: it goes to the dead-letter topic."""


class DeadLetter(BaseModel):
    """A message a consumer gave up on, with why, and its original bytes."""

    source_topic: str
    source_key: str | None
    source_position: str
    consumer_group: str
    error: str
    attempts: int
    original_b64: str
    failed_at: datetime

    @property
    def original(self) -> bytes:
        return base64.b64decode(self.original_b64)


def topic_for(event: _Payload) -> str:
    return _TOPIC_OF[event.type]  # type: ignore[attr-defined]


def topic_of_class(cls: type[_Payload]) -> str:
    """The topic every event of this class travels on."""
    return _TOPIC_OF[cls.model_fields["type"].default]


#: Every event class, in the order of the table above.
EVENT_CLASSES: tuple[type[_Payload], ...] = typing.get_args(typing.get_args(AnyEvent)[0])


def _partition_key(event: _Payload) -> str:
    for field in ("referral_id", "service_id", "user_id"):
        if hasattr(event, field):
            return str(getattr(event, field))
    if isinstance(event, ServiceUpserted):
        return event.service.id
    raise TypeError(f"no partition key for {type(event).__name__}")


def new_envelope(event: _Payload, producer: str) -> Envelope:
    return Envelope(
        event_id=uuid.uuid4(),
        type=event.type,  # type: ignore[attr-defined]
        schema_version=event.version,  # type: ignore[attr-defined]
        occurred_at=clock.now(),
        producer=producer,
        key=_partition_key(event),
        payload=event,
    )


def encode(envelope: Envelope) -> bytes:
    return envelope.model_dump_json().encode()


_ENVELOPE = TypeAdapter(Envelope)


def decode(raw: bytes) -> Envelope:
    """Parse bytes from the bus, upcasting old payload versions; InvalidEvent if hopeless."""
    try:
        data = _upcast_and_validate(raw)
    except ValidationError as exc:
        raise InvalidEvent(_describe(exc)) from exc
    except ValueError as exc:
        raise InvalidEvent(str(exc)) from exc
    except (TypeError, RecursionError) as exc:
        # Not bytes, JSON nested past the parser's limit, or a shape an upcaster cannot
        # read (a type that is a list, proposals that are numbers): hopeless all the same.
        raise InvalidEvent(f"{type(exc).__name__}: {exc}") from exc
    if data.type != data.payload.type or data.schema_version != data.payload.version:
        raise InvalidEvent("envelope type/version does not match its payload")
    return data


def _upcast_and_validate(raw: bytes) -> Envelope:
    doc = json.loads(raw)
    if not isinstance(doc, dict) or not isinstance(doc.get("payload"), dict):
        return _ENVELOPE.validate_python(doc)  # let validation say what is wrong
    payload = doc["payload"]
    while (payload.get("type"), payload.get("version")) in UPCASTERS:
        payload = UPCASTERS[(payload["type"], payload["version"])](payload)
    doc["payload"] = payload
    doc["schema_version"] = payload.get("version")
    return _ENVELOPE.validate_python(doc)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "message"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
