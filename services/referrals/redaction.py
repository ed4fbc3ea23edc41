"""Identifiers taken out of free text before it leaves the referrals service.

Events carry no structured identity (no name, NHS number, date of birth or contact
details), but people type them into free text: "Mrs Okafor (943 476 5919) prefers her
mobile 07700 900123". Every free-text field of an outgoing event goes through
``redact`` with the person's own details: their names, and anything shaped like an NHS
number, a phone number, an email address, a UK postcode or their date of birth, are
replaced by a marker such as ``[name]``. Pure: no I/O.

The person's names are matched as whole words in any case, so a family name that is
also an ordinary word ("Green", "Hope") is taken out of the text too: privacy first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

__all__ = ["Person", "person_of", "redact"]

_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
_PHONE = re.compile(r"(?<![\w+])(?:\+44[\s-]?(?:\(0\)[\s-]?)?|\(?0)(?:\d[\s()-]{0,2}){8,10}\d\b")
_NHS_NUMBER = re.compile(r"(?<!\w)\d{3}[\s-]?\d{3}[\s-]?\d{4}(?!\w)")
_LONG_NUMBER = re.compile(r"(?<!\w)\d(?:[\s-]?\d){8,}(?!\w)")
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Person:
    """What identifies the person a text is about."""

    given_name: str
    family_name: str
    birth_date: date | None = None


def person_of(row) -> Person:
    """The person of a stored referral row."""
    return Person(row.given_name, row.family_name, row.birth_date)


def redact(text: str, person: Person) -> str:
    """``text`` with the person's names and any identifier replaced by markers."""
    out = _EMAIL.sub("[email]", text)
    out = _PHONE.sub("[phone]", out)
    out = _NHS_NUMBER.sub("[NHS number]", out)
    out = _LONG_NUMBER.sub("[number]", out)
    out = _POSTCODE.sub("[postcode]", out)
    # A pattern made for this person is compiled afresh (Python caches only a few
    # hundred), so it is used only when the text could hold what it looks for: the
    # year's last two digits for a date of birth, the name itself for a name.
    day = person.birth_date
    if day is not None and f"{day.year % 100:02d}" in out:
        out = _birth_date(day).sub("[date of birth]", out)
    folded = _fold(out)
    for name in _names(person):
        if _fold(name) in folded:
            out = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", "[name]", out, flags=re.IGNORECASE)
    return out


#: After casefold(), the dotless i and the combining dot of a dotted capital I, which
#: ``re.IGNORECASE`` matches with a plain i: so that no letter the pattern would match
#: in any case is missing from the folded text (checked over the cased letters up to
#: U+0600 and the Kelvin, Angstrom, Ohm and capital sharp s signs in
#: ``test_referrals_redaction.py``).
_FOLD_EXTRA = {0x307: None, 0x131: "i"}


def _fold(text: str) -> str:
    return text.casefold().translate(_FOLD_EXTRA)


def _names(person: Person) -> list[str]:
    """Each part of the person's names (hyphenated and double names too), longest first
    so that "Anne-Marie" goes before "Anne"."""
    parts = set()
    for full in (person.given_name, person.family_name):
        full = full.strip()
        if len(full) >= 2:
            parts.add(full)
        parts.update(p for p in re.split(r"[\s-]+", full) if len(p) >= 2)
    return sorted(parts, key=len, reverse=True)


def _birth_date(day: date) -> re.Pattern[str]:
    d, m, y = day.day, day.month, day.year
    forms = [
        rf"0?{d}[/.-]0?{m}[/.-](?:{y}|{y % 100:02d})",
        rf"{y}-{m:02d}-{d:02d}",
    ]
    return re.compile(rf"(?<!\d)(?:{'|'.join(forms)})(?!\d)")
