"""Our directory as Open Referral UK 3.0 (HSDS 3.0 with the UK profile), and back.

Pure functions over plain rows and dicts, no I/O. ``service_full`` and friends turn a
service row into the HSDS entities the profile's endpoints return; ``service_from_hsds``
reads a foreign (or our own) HSDS service back into the fields our ``ServiceIn`` takes.

HSDS ids are UUIDs: each of our entries keeps the one it was published or imported
with (``hsds_id``); the parts we derive (locations, schedules, languages...) get UUIDv5
ids from the service's id, so the same entry always reads the same.

Fields HSDS has no place for travel as local extensions, every one named with the
``x_`` prefix so none can clash with a present or future HSDS field (the README lists
them). Capacity is published as HSDS 3.1's ``service_capacity``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from services.directory.domain import places_free_to_show

__all__ = [
    "ACCESSIBILITY_LABELS",
    "HSDS_STATUS",
    "NAMESPACE",
    "TAXONOMY_ID",
    "TIME_OF_DAY",
    "hsds_uuid",
    "organization_full",
    "organization_summary",
    "page",
    "service_at_location",
    "service_from_hsds",
    "service_full",
    "service_summary",
    "taking_from_hsds",
    "taxonomy",
    "taxonomy_term",
    "term_id",
]

#: Never change: every published id is derived from it (migration 0002 repeats it).
NAMESPACE = uuid.UUID("5b0c8a36-52f4-4d7e-9a53-0f3f6e2c1d71")
TAXONOMY_ID = str(uuid.uuid5(NAMESPACE, "taxonomy:need-categories"))
TAXONOMY_NAME = "Need categories"
CAPACITY_UNIT_ID = str(uuid.uuid5(NAMESPACE, "unit:places-per-week"))

HSDS_STATUS = {
    "active": "active",
    "inactive": "inactive",
    "defunct": "defunct",
    "temporarily_closed": "temporarily closed",
}
OUR_STATUS = {v: k for k, v in HSDS_STATUS.items()} | {"temporarily_closed": "temporarily_closed"}

ACCESSIBILITY_LABELS = {
    "wheelchair": "Wheelchair access",
    "step_free": "Step-free access",
    "hearing_loop": "Hearing loop",
    "bsl": "British Sign Language",
    "large_print": "Large print",
    "quiet_space": "Quiet space",
    "accessible_toilet": "Accessible toilet",
    "carers_free": "Carer comes free",
}
_ACCESSIBILITY_CODES = {label.lower(): code for code, label in ACCESSIBILITY_LABELS.items()}

# ISO 639-1 codes of the languages our directories list most; others travel by name only.
LANGUAGE_CODES = {
    "english": "en",
    "polish": "pl",
    "lithuanian": "lt",
    "romanian": "ro",
    "punjabi": "pa",
    "urdu": "ur",
    "hindi": "hi",
    "gujarati": "gu",
    "bengali": "bn",
    "tamil": "ta",
    "turkish": "tr",
    "arabic": "ar",
    "somali": "so",
    "french": "fr",
    "spanish": "es",
    "portuguese": "pt",
    "italian": "it",
    "german": "de",
    "russian": "ru",
    "ukrainian": "uk",
    "yoruba": "yo",
    "twi": "tw",
    "igbo": "ig",
    "nepali": "ne",
    "chinese": "zh",
    "mandarin": "zh",
    "cantonese": "yue",
    "farsi": "fa",
    "persian": "fa",
    "pashto": "ps",
    "kurdish": "ku",
    "tigrinya": "ti",
    "amharic": "am",
    "swahili": "sw",
    "welsh": "cy",
    "british sign language": "bfi",
    "bsl": "bfi",
}
_LANGUAGE_NAMES = {code: name.title() for name, code in reversed(LANGUAGE_CODES.items())}
_LANGUAGE_NAMES["bfi"] = "British Sign Language"
YOUNGEST = 16  # the lowest minimum age a service of ours can have (ServiceIn)
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})")


def hsds_uuid(kind: str, key: str) -> str:
    """A stable UUID for one of our entities (``kind`` keeps a service and a location with
    the same key apart)."""
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{key}"))


def term_id(category: str) -> str:
    return hsds_uuid("term", category.strip().lower())


def _iso_datetime(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _drop_none(item: dict) -> dict:
    return {k: v for k, v in item.items() if v is not None}


# ---- our rows -> HSDS ---------------------------------------------------------------------


def organization_summary(org) -> dict:
    """An organization's one-to-one fields (the list form, and inside each service)."""
    return _drop_none(
        {
            "id": org.hsds_id,
            "name": org.name,
            "description": org.description or "",
            "email": org.email or None,
            "website": org.website or None,
            "x_local": _organization_extension(org),
        }
    )


def _organization_extension(org) -> dict:
    return _drop_none({"id": org.id, "kind": org.kind, "phone": org.phone or None})


def organization_full(org, services: Iterable[dict]) -> dict:
    return {
        **organization_summary(org),
        "organization_identifiers": [],
        "attributes": [],
        "services": list(services),
    }


def _alert(row) -> str | None:
    if row.status == "temporarily_closed":
        if row.reopens_on:
            return f"Temporarily closed: reopens on {row.reopens_on.isoformat()}."
        return "Temporarily closed: reopening date not known yet."
    return None


def service_summary(row, org) -> dict:
    """A service's one-to-one fields and its organization (the list form)."""
    return _drop_none(
        {
            "id": row.hsds_id,
            "organization_id": org.hsds_id,
            "name": row.name,
            "description": row.description or "",
            "status": HSDS_STATUS.get(row.status, "active"),
            "minimum_age": row.min_age,
            "maximum_age": row.max_age,
            "assured_date": row.last_confirmed.isoformat() if row.last_confirmed else None,
            "assurer_email": (org.email or None) if row.assured_by else None,
            "alert": _alert(row),
            "last_modified": _iso_datetime(row.updated_at),
            "organization": organization_summary(org),
        }
    )


def _schedules(row, service_id: str) -> list[dict]:
    """Weekly opening times as RFC 5545 rules: one schedule per distinct opening hours."""
    by_hours: dict[tuple[str, str], list[str]] = {}
    for slot in row.regular_schedule or []:
        by_hours.setdefault((slot["opens"], slot["closes"]), []).append(slot["weekday"])
    schedules = []
    for i, ((opens, closes), days) in enumerate(by_hours.items()):
        ordered = sorted(set(days), key=_WEEKDAYS.index)
        schedules.append(
            {
                "id": hsds_uuid("schedule", f"{service_id}:{i}"),
                "service_id": service_id,
                "freq": "WEEKLY",
                "interval": 1,
                "byday": ",".join(ordered),
                "opens_at": f"{opens}:00",
                "closes_at": f"{closes}:00",
                "description": row.schedule or None,
            }
        )
    if not schedules and row.schedule:
        schedules.append(
            {
                "id": hsds_uuid("schedule", f"{service_id}:text"),
                "service_id": service_id,
                "description": row.schedule,
            }
        )
    return [_drop_none(s) for s in schedules]


def _location(row, service_id: str) -> dict | None:
    if not _has_venue(row):
        return None
    location_id = hsds_uuid("location", service_id)
    # "Hall, Road, Town": the town is the last part; a one-part address has no town.
    head, _, city = (row.address or "").rpartition(",")
    address_1 = head if head.strip() else city
    city = city.strip() if head.strip() else ""
    location = {
        "id": location_id,
        "location_type": "physical",
        "name": address_1.strip() or row.name,
        "latitude": row.lat,
        "longitude": row.lon,
        "addresses": [],
        "accessibility": [
            {
                "id": hsds_uuid("accessibility", f"{service_id}:{code}"),
                "location_id": location_id,
                "description": ACCESSIBILITY_LABELS.get(code, code),
                "accessibility": ACCESSIBILITY_LABELS.get(code, code),
            }
            for code in row.accessibility or []
        ],
        "attributes": [],
    }
    if row.address or row.postcode:
        location["addresses"].append(
            {
                "id": hsds_uuid("address", service_id),
                "location_id": location_id,
                "address_1": address_1.strip() or row.name,
                "city": city,
                "state_province": "",
                "postal_code": row.postcode or "",
                "country": "GB",
                "address_type": "physical",
            }
        )
    return _drop_none(location)


def _service_at_locations(row, service_id: str) -> list[dict]:
    location = _location(row, service_id)
    if location is None:
        return []
    return [
        {
            "id": hsds_uuid("service_at_location", service_id),
            "service_id": service_id,
            "location_id": location["id"],
            "location": location,
        }
    ]


def _languages(row, service_id: str) -> list[dict]:
    out = []
    for name in row.languages or []:
        code = LANGUAGE_CODES.get(name.strip().lower())
        out.append(
            _drop_none(
                {
                    "id": hsds_uuid("language", f"{service_id}:{name.lower()}"),
                    "service_id": service_id,
                    "name": name,
                    "code": code,
                }
            )
        )
    return out


def _cost_options(row, service_id: str) -> list[dict]:
    if not row.cost:
        return []
    option = {"id": hsds_uuid("cost_option", service_id), "service_id": service_id}
    if row.cost.strip().lower() == "free":
        option |= {"option": "Free", "amount": 0, "amount_description": row.cost}
    else:
        option |= {"option": row.cost, "amount_description": row.cost}
        amount = re.search(r"£\s?(\d+(?:\.\d{1,2})?)", row.cost)
        if amount:
            option["amount"] = float(amount.group(1))
    return [option]


def taxonomy_term(category: str) -> dict:
    return {
        "id": term_id(category),
        "name": category,
        "description": f"People's need, or the help offered, in the category '{category}'.",
        "taxonomy_id": TAXONOMY_ID,
        "term": category,
    }


def taxonomy() -> dict:
    return {
        "id": TAXONOMY_ID,
        "name": TAXONOMY_NAME,
        "description": "The need categories of this social prescribing directory.",
        "version": "1",
    }


def _attributes(row, service_id: str) -> list[dict]:
    return [
        {
            "id": hsds_uuid("attribute", f"{service_id}:{category.lower()}"),
            "link_id": service_id,
            "link_type": "service",
            "taxonomy_term_id": term_id(category),
            "taxonomy_term": taxonomy_term(category),
        }
        for category in row.categories or []
    ]


def _service_capacity(row, service_id: str, taken: int, threshold: int) -> list[dict]:
    """HSDS 3.1 service_capacity. ``available`` is left out where it would reveal a
    suppressed count (``domain.places_free_to_show``); a group that says it is full or
    keeps only a waiting list has 0 available."""
    if row.capacity_per_week is None:
        return []
    entry: dict[str, Any] = {
        "id": hsds_uuid("service_capacity", service_id),
        "service_id": service_id,
        "unit_id": CAPACITY_UNIT_ID,
        "unit": {"id": CAPACITY_UNIT_ID, "name": "places a week"},
        "maximum": row.capacity_per_week,
        "updated": _iso_datetime(row.updated_at),
    }
    available = places_free_to_show(row.capacity_per_week, taken, threshold, row.taking)
    if available is None:
        entry["description"] = "Places free this week are not shown: too few taken to share."
    else:
        entry["available"] = available
        entry["description"] = _CAPACITY_WORDS[row.taking]
    return [entry]


_CAPACITY_WORDS = {
    "places_left": "Places free this week.",
    "waiting_list": "No places free: the group keeps a waiting list.",
    "full": "Full: the group is taking nobody at the moment.",
}


def _service_extension(row) -> dict:
    """What HSDS has no field for, under ``x_local`` (documented in the README)."""
    return _drop_none(
        {
            "id": row.id,
            "keywords": list(row.keywords or []),
            "genders": list(row.genders) if row.genders else None,
            "eligibility_notes": row.eligibility_notes or None,
            "ward": row.ward,
            "delivery": list(row.delivery or []),
            "referral_route": row.referral_route,
            "reopens_on": row.reopens_on.isoformat() if row.reopens_on else None,
            "assured_by": row.assured_by,
            "schedule": row.schedule or None,
            "capacity_per_week": row.capacity_per_week,
            # the group's own word on its places, when it is not "places left"
            "taking": None if row.taking == "places_left" else row.taking,
            # with no venue there is no HSDS location to hang accessibility on
            "accessibility": None if _has_venue(row) else list(row.accessibility or []) or None,
        }
    )


def _has_venue(row) -> bool:
    return bool(row.address or row.postcode or row.lat is not None)


def service_full(row, org, *, taken: int = 0, threshold: int = 5) -> dict:
    """A fully nested service, as ``/services/{id}`` returns it."""
    service_id = row.hsds_id
    return {
        **service_summary(row, org),
        "schedules": _schedules(row, service_id),
        "service_areas": [],
        "service_at_locations": _service_at_locations(row, service_id),
        "languages": _languages(row, service_id),
        "funding": [],
        "cost_options": _cost_options(row, service_id),
        "contacts": [],
        "attributes": _attributes(row, service_id),
        "service_capacity": _service_capacity(row, service_id, taken, threshold),
        "x_local": _service_extension(row),
    }


def service_at_location(row, org, *, full: bool = False, **capacity) -> dict | None:
    """The service at its venue (list form, or fully nested); None without a venue."""
    service_id = row.hsds_id
    location = _location(row, service_id)
    if location is None:
        return None
    service = service_full(row, org, **capacity) if full else service_summary(row, org)
    if full:
        service.pop("service_at_locations")
    else:
        location = {k: v for k, v in location.items() if not isinstance(v, list)}
    return {
        "id": hsds_uuid("service_at_location", service_id),
        "service_id": service_id,
        "location_id": location["id"],
        "location": location,
        "service": service,
    }


def page(items: list, total: int, page_number: int, per_page: int) -> dict:
    """The HSDS paged envelope around one page of ``items``."""
    total_pages = max((total + per_page - 1) // per_page, 1)
    return {
        "total_items": total,
        "total_pages": total_pages,
        "page_number": page_number,
        "size": len(items),
        "first_page": page_number == 1,
        "last_page": page_number >= total_pages,
        "empty": total == 0,
        "contents": items,
    }


# ---- HSDS -> our fields -------------------------------------------------------------------


class RowProblem(ValueError):
    """A field that cannot be read; the row is rejected with this reason."""


def _hhmm(value: Any) -> str | None:
    match = _TIME.match(str(value or ""))
    if not match:
        return None
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours > 23 or minutes > 59:
        return None
    return f"{hours:02d}:{minutes:02d}"


def _regular_schedule(schedules: Iterable[Mapping]) -> tuple[list[dict], str]:
    slots, texts = [], []
    for schedule in schedules:
        if schedule.get("description"):
            texts.append(str(schedule["description"]))
        opens, closes = _hhmm(schedule.get("opens_at")), _hhmm(schedule.get("closes_at"))
        freq = str(schedule.get("freq") or "WEEKLY").upper()
        if freq != "WEEKLY" or not opens or not closes or closes <= opens:
            continue
        for day in str(schedule.get("byday") or "").split(","):
            day = day.strip().upper()[-2:]  # "1MO" (first Monday) still names a weekday
            if day in _WEEKDAYS:
                slot = {"weekday": day, "opens": opens, "closes": closes}
                if slot not in slots:
                    slots.append(slot)
    return slots, " ".join(dict.fromkeys(texts))


def _language_name(language: Mapping) -> str | None:
    name = language.get("name")
    if name:
        return str(name)
    code = str(language.get("code") or "").lower()
    return _LANGUAGE_NAMES.get(code) or (code or None)


def _cost(service: Mapping) -> str:
    for option in service.get("cost_options") or []:
        text = option.get("amount_description") or option.get("option")
        if option.get("amount") == 0 and not text:
            return "free"
        if text:
            return str(text)
        if option.get("amount") is not None:
            return f"£{option['amount']}"
    return str(service.get("fees") or "")


def _as_date(value: Any) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise RowProblem(f"not a date: {value!r}") from exc


def _location_fields(service: Mapping, warnings: list[str]) -> tuple[dict | None, list[str]]:
    """Our location and accessibility codes from the service's first service_at_location."""
    for sal in service.get("service_at_locations") or []:
        location = sal.get("location") or {}
        if location.get("location_type") == "virtual":
            continue
        address = (location.get("addresses") or [{}])[0]
        parts = [address.get("address_1"), address.get("address_2"), address.get("city")]
        out = {
            "address": ", ".join(str(p) for p in parts if p) or str(location.get("name") or ""),
            "postcode": address.get("postal_code") or None,
            "lat": location.get("latitude"),
            "lon": location.get("longitude"),
        }
        _keep_if_british(out, warnings)
        access = []
        for item in location.get("accessibility") or []:
            label = str(item.get("description") or item.get("accessibility") or "")
            code = _ACCESSIBILITY_CODES.get(label.strip().lower())
            if code:
                access.append(code)
            elif label:
                warnings.append(f"accessibility {label[:60]!r}: not a feature we record")
        return out, access
    return None, []


_UK_POSTCODE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$", re.IGNORECASE)
_UK_BOUNDS = {"lat": (49.0, 61.0), "lon": (-9.0, 2.5)}


def _keep_if_british(location: dict, warnings: list[str]) -> None:
    """Drop a venue's postcode or coordinates that cannot be in the UK (with a warning):
    the service is still worth importing without them."""
    postcode = location.get("postcode")
    if postcode and not _UK_POSTCODE.match(str(postcode).strip()):
        warnings.append(f"postal_code {postcode!r} is not a UK postcode: left out")
        location["postcode"] = None
    for key, (low, high) in _UK_BOUNDS.items():
        value = location.get(key)
        if value is None:
            continue
        if not isinstance(value, int | float) or not low <= value <= high:
            name = "latitude" if key == "lat" else "longitude"
            warnings.append(f"{name} {value!r} is not in the UK: coordinates left out")
            location["lat"] = location["lon"] = None
            return


def service_from_hsds(service: Mapping, warnings: list[str]) -> dict:
    """The fields ``ServiceIn`` takes (plus identity), read from an HSDS service.

    Our own extension, when present, fills what HSDS cannot say. Unknown fields are
    ignored; ``warnings`` collects values dropped on the way (the row is still kept).
    """
    local = service.get("x_local") or {}
    status_text = str(service.get("status") or "active").strip().lower()
    if status_text not in OUR_STATUS:
        raise RowProblem(f"status: {status_text!r} is not an Open Referral status")
    location, access = _location_fields(service, warnings)
    regular, schedule_text = _regular_schedule(service.get("schedules") or [])
    categories = [
        str(term.get("name") or term.get("term"))
        for term in ((attr.get("taxonomy_term") or {}) for attr in service.get("attributes") or [])
        if term.get("name") or term.get("term")
    ]
    languages = [n for n in map(_language_name, service.get("languages") or []) if n]
    capacity = local.get("capacity_per_week")
    for entry in service.get("service_capacity") or []:
        if capacity is None and entry.get("maximum") is not None:
            capacity = int(entry["maximum"])
    fields: dict[str, Any] = {
        "name": service.get("name"),
        "description": service.get("description") or "",
        "categories": list(dict.fromkeys(categories)) or ["uncategorised"],
        "keywords": local.get("keywords") or [],
        "eligibility": {
            "min_age": service.get("minimum_age"),
            "max_age": service.get("maximum_age"),
            "genders": local.get("genders"),
            "notes": local.get("eligibility_notes") or "",
        },
        "delivery": local.get("delivery") or (["in_person"] if location else ["phone"]),
        "schedule": local.get("schedule") or schedule_text,
        "regular_schedule": regular,
        "capacity_per_week": capacity,
        "languages": languages or ["English"],
        "accessibility": access or list(local.get("accessibility") or []),
        "cost": _cost(service) or "",
        "referral_route": local.get("referral_route") or "either",
        "status": OUR_STATUS[status_text],
        "reopens_on": local.get("reopens_on"),
    }
    for age, name in (("min_age", "minimum_age"), ("max_age", "maximum_age")):
        value = fields["eligibility"][age]
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RowProblem(f"{name}: not a number of years: {value!r}")
        value = int(value)
        if age == "min_age" and value < YOUNGEST:
            # open to younger people too: for the adults we refer, it starts at our youngest
            warnings.append(f"minimum_age {value} is below {YOUNGEST}: recorded as {YOUNGEST}")
            value = YOUNGEST
        fields["eligibility"][age] = value
    if location is not None:
        fields["location"] = {**location, "ward": local.get("ward")}
    return fields


def taking_from_hsds(service: Mapping) -> str:
    """Our extension's ``taking`` (full, waiting list), or places left when it says none."""
    taking = (service.get("x_local") or {}).get("taking")
    return taking if taking in ("waiting_list", "full") else "places_left"


def assurance_from_hsds(service: Mapping) -> dict:
    """assured_date, who assured it and when it last changed, as our columns."""
    local = service.get("x_local") or {}
    modified = service.get("last_modified")
    updated_at = None
    if modified:
        try:
            updated_at = datetime.fromisoformat(str(modified).replace("Z", "+00:00"))
        except ValueError:
            updated_at = None
    return {
        "last_confirmed": _as_date(service.get("assured_date")),
        "assured_by": local.get("assured_by")
        or (f"{service['assurer_email']} (imported)" if service.get("assurer_email") else None),
        "updated_at": updated_at,
    }


TIME_OF_DAY = r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$"
_TIME_OF_DAY = re.compile(TIME_OF_DAY)


def time_of(value: str) -> time:
    """A query's time of day, ``HH:MM`` or ``HH:MM:SS`` as HSDS writes ``opens_at``."""
    match = _TIME_OF_DAY.match(value)
    if not match:
        raise ValueError(f"not HH:MM or HH:MM:SS: {value!r}")
    hours, minutes, seconds = match.groups()
    return time(int(hours), int(minutes), int(seconds or 0))
