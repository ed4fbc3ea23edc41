"""The referral's rules: validation of what GP staff send, the state machine, and what
may leave this service on the event stream. Pure: no I/O, no framework imports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from rapidfuzz import fuzz

__all__ = [
    "ANNUAL_CASELOAD_GUIDANCE",
    "FAILED_CONTACTS_BEFORE_FLAG",
    "FAILED_CONTACT_RESULTS",
    "NEED_CATEGORIES",
    "REACHED_CONTACT_RESULTS",
    "Action",
    "Duplicate",
    "DuplicatePolicy",
    "IllegalTransition",
    "KnownReferral",
    "Status",
    "age_band",
    "age_on",
    "allowed_actions",
    "best_outcome",
    "coarse",
    "contact_flag",
    "find_duplicate",
    "is_open",
    "is_valid_nhs_number",
    "normalise_postcode",
    "person_declined",
    "postcode_district",
    "transition",
    "waiting_days",
    "worklist_key",
]


#: The pick-list of need categories GP staff may tick (the directory uses the same words).
NEED_CATEGORIES = (
    "social connection",
    "mental wellbeing",
    "physical activity",
    "money and debt",
    "housing",
    "carers",
    "bereavement",
    "learning disability",
    "long-term conditions",
    "employment and skills",
    "language and migration",
    "arts and culture",
    "nature and gardening",
    "faith and belief",
    "young adults",
    "older people",
    "parenting and families",
    "food",
    "volunteering",
    "sensory impairment",
    "domestic abuse",
    "digital inclusion",
)


# --- validation ------------------------------------------------------------------------

_POSTCODE = re.compile(r"^([A-Z]{1,2}\d[A-Z\d]?) ?(\d[A-Z]{2})$")


def is_valid_nhs_number(value: str) -> bool:
    """Ten digits whose last is the Modulus 11 check digit of the first nine. Ten equal
    digits (0000000000, 1111111111...) pass the check but are placeholders, not numbers."""
    digits = re.sub(r"[\s-]", "", value)
    if not re.fullmatch(r"\d{10}", digits) or len(set(digits)) == 1:
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def normalise_postcode(value: str) -> str | None:
    """``da67jr`` -> ``DA6 7JR``; None when it is not a UK postcode."""
    compact = re.sub(r"\s+", "", value.upper())
    candidate = f"{compact[:-3]} {compact[-3:]}"
    return candidate if _POSTCODE.match(candidate) else None


def postcode_district(postcode: str) -> str:
    return postcode.split(" ", 1)[0]


def age_on(birth_date: date, day: date) -> int:
    had_birthday = (day.month, day.day) >= (birth_date.month, birth_date.day)
    return day.year - birth_date.year - (0 if had_birthday else 1)


def age_band(age: int) -> str:
    if age < 25:
        return "18-24"
    if age >= 85:
        return "85+"
    low = age // 10 * 10 if age >= 30 else 25
    return f"{low}-{low + 9 if low >= 30 else 29}"


def coarse(value: float | None) -> float | None:
    """About a kilometre: enough to rank by distance, too coarse to find a house."""
    return None if value is None else round(value, 2)


# --- the state machine ------------------------------------------------------------------


class Status(StrEnum):
    SUBMITTED = "submitted"
    MATCHES_PROPOSED = "matches_proposed"
    CONTACTED = "contacted"
    CONNECTED = "connected"
    CLOSED = "closed"


class Action(StrEnum):
    PROPOSE = "propose"  # the matcher's proposals arrived
    EDIT = "edit"  # needs changed: match again
    CONTACT = "contact"  # a link worker tried to reach the person, or reached them
    CONNECT = "connect"  # a connection to a group was confirmed
    DECLINE = "decline"  # proposals declined
    RECORD_OUTCOME = "record_outcome"
    CLOSE = "close"


_OPEN = (Status.SUBMITTED, Status.MATCHES_PROPOSED, Status.CONTACTED, Status.CONNECTED)

# action -> {from status: to status}; a missing pair is an illegal transition.
_TRANSITIONS: dict[Action, dict[Status, Status]] = {
    Action.PROPOSE: {
        Status.SUBMITTED: Status.MATCHES_PROPOSED,
        Status.MATCHES_PROPOSED: Status.MATCHES_PROPOSED,
        Status.CONTACTED: Status.CONTACTED,
        Status.CONNECTED: Status.CONNECTED,
    },
    Action.EDIT: {s: s for s in _OPEN},
    Action.CONTACT: {
        Status.SUBMITTED: Status.CONTACTED,
        Status.MATCHES_PROPOSED: Status.CONTACTED,
        Status.CONTACTED: Status.CONTACTED,
        Status.CONNECTED: Status.CONNECTED,
    },
    Action.CONNECT: {s: Status.CONNECTED for s in _OPEN},
    Action.DECLINE: {
        Status.MATCHES_PROPOSED: Status.MATCHES_PROPOSED,
        Status.CONTACTED: Status.CONTACTED,
        Status.CONNECTED: Status.CONNECTED,
    },
    Action.RECORD_OUTCOME: {Status.CONNECTED: Status.CONNECTED},
    Action.CLOSE: {s: Status.CLOSED for s in _OPEN},
}


@dataclass
class IllegalTransition(Exception):
    status: Status
    action: Action
    allowed: tuple[Action, ...]

    def __str__(self) -> str:
        allowed = ", ".join(a.value for a in self.allowed) or "none (the referral is closed)"
        return (
            f"cannot {self.action.value} a referral that is {self.status.value}; allowed: {allowed}"
        )


def allowed_actions(status: Status) -> tuple[Action, ...]:
    return tuple(action for action, moves in _TRANSITIONS.items() if status in moves)


def transition(status: Status, action: Action) -> Status:
    """The status after ``action``; ``IllegalTransition`` naming the allowed ones if not."""
    moves = _TRANSITIONS[action]
    if status not in moves:
        raise IllegalTransition(status, action, allowed_actions(status))
    return moves[status]


def is_open(status: Status | str) -> bool:
    return Status(status) in _OPEN


# --- duplicates -------------------------------------------------------------------------


@dataclass(frozen=True)
class DuplicatePolicy:
    """When a new referral is the same request again rather than a new one."""

    window_days: int = 14
    needs_similarity: float = 60.0  # rapidfuzz token_set_ratio, 0-100
    name_similarity: float = 85.0  # rapidfuzz WRatio on "given family", 0-100


@dataclass(frozen=True)
class KnownReferral:
    """The fields of a referral that decide whether another one duplicates it."""

    id: str
    practice_ods: str
    nhs_number: str
    given_name: str
    family_name: str
    birth_date: date
    needs_text: str
    created_at: datetime
    status: Status | str


@dataclass(frozen=True)
class Duplicate:
    id: str
    reason: str


def find_duplicate(
    new: KnownReferral,
    existing: Iterable[KnownReferral],
    policy: DuplicatePolicy = DuplicatePolicy(),
) -> Duplicate | None:
    """The open referral ``new`` repeats, if any: the same person, from the same practice,
    with similar needs, within the window. Same person = the same NHS number, or a name
    that fuzzily matches with the same date of birth (a mistyped NHS number)."""
    since = new.created_at - timedelta(days=policy.window_days)
    candidates = sorted(existing, key=lambda r: r.created_at, reverse=True)
    for old in candidates:
        if old.id == new.id or old.practice_ods != new.practice_ods or not is_open(old.status):
            continue
        if old.created_at < since:
            continue
        who = _same_person(new, old, policy)
        if who is None:
            continue
        needs = fuzz.token_set_ratio(new.needs_text.lower(), old.needs_text.lower())
        if needs < policy.needs_similarity:
            continue
        days = (new.created_at - old.created_at).days
        return Duplicate(
            old.id,
            f"{who}, same practice, similar needs ({needs:.0f}% alike), "
            f"referred {days} day(s) ago and still open",
        )
    return None


def _same_person(new: KnownReferral, old: KnownReferral, policy: DuplicatePolicy) -> str | None:
    if new.nhs_number == old.nhs_number:
        return "same NHS number"
    if new.birth_date != old.birth_date:
        return None
    a = f"{new.given_name} {new.family_name}".lower()
    b = f"{old.given_name} {old.family_name}".lower()
    score = fuzz.WRatio(a, b)
    return (
        f"similar name ({score:.0f}%) and same date of birth"
        if score >= policy.name_similarity
        else None
    )


# --- link workers' worklist and contact -------------------------------------------------

ANNUAL_CASELOAD_GUIDANCE = (200, 250)  # NHS England: people a link worker supports a year
FAILED_CONTACTS_BEFORE_FLAG = 3
_URGENCY_RANK = {"urgent": 0, "soon": 1, "routine": 2}
FAILED_CONTACT_RESULTS = ("no_answer", "left_message", "wrong_number")
REACHED_CONTACT_RESULTS = ("reached", "declined")


def waiting_days(created_at: datetime, now: datetime) -> int:
    return max((now - created_at).days, 0)


def worklist_key(urgency: str, created_at: datetime) -> tuple[int, datetime]:
    """Most urgent first, then who has waited longest."""
    return (_URGENCY_RANK.get(urgency, len(_URGENCY_RANK)), created_at)


def contact_flag(results: Iterable[str]) -> str | None:
    """Why the referral needs attention, from its contact attempts oldest first; None if
    it does not. Reaching the person clears earlier failures."""
    failures = 0
    flag = None
    for result in results:
        if result in REACHED_CONTACT_RESULTS:
            failures, flag = 0, None
        elif result == "wrong_number":
            failures += 1
            flag = "wrong number: check the contact details with the practice"
        else:
            failures += 1
        if failures >= FAILED_CONTACTS_BEFORE_FLAG:
            flag = f"{failures} contact attempts without reaching the person"
    return flag


# --- what became of the referral --------------------------------------------------------

_OUTCOME_RANK = ("completed", "attended", "did_not_attend", "declined_by_patient", "no_capacity")


def best_outcome(outcomes: Iterable[str | None]) -> str | None:
    """The most positive recorded outcome across the connections."""
    known = [o for o in outcomes if o in _OUTCOME_RANK]
    return min(known, key=_OUTCOME_RANK.index) if known else None


def person_declined(outcomes: Iterable[str | None], contact_results: Iterable[str]) -> bool:
    """The person turned everything down: they declined when contacted, or declined every
    connection made, and took part in nothing."""
    outcomes = list(outcomes)
    if any(o in ("attended", "completed") for o in outcomes):
        return False
    declined_contact = "declined" in list(contact_results)
    declined_all = bool(outcomes) and all(o == "declined_by_patient" for o in outcomes)
    return declined_contact or declined_all
