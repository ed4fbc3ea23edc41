"""The referral's rules: validation of what GP staff send, the state machine, and what
may leave this service on the event stream. Pure: no I/O, no framework imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

__all__ = [
    "Action",
    "IllegalTransition",
    "Status",
    "age_band",
    "age_on",
    "allowed_actions",
    "coarse",
    "is_valid_nhs_number",
    "normalise_postcode",
    "postcode_district",
    "transition",
]


# --- validation ------------------------------------------------------------------------

_POSTCODE = re.compile(r"^([A-Z]{1,2}\d[A-Z\d]?) ?(\d[A-Z]{2})$")


def is_valid_nhs_number(value: str) -> bool:
    """Ten digits whose last is the Modulus 11 check digit of the first nine."""
    digits = re.sub(r"[\s-]", "", value)
    if not re.fullmatch(r"\d{10}", digits):
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
    CONTACT = "contact"  # a link worker reached the person
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
