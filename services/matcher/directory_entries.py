"""Reading directory entries: our own ``directory.json`` and other directories' files, whose
fields may be missing, mistyped or named in their own labels ("Face to face")."""

from __future__ import annotations

from datetime import date, datetime

from services.matcher.records import ServiceRecord, normalise_access, normalise_delivery

__all__ = ["service_from_directory", "ward_centroids"]


def service_from_directory(service: dict, organisation: dict | None = None) -> ServiceRecord:
    """Map a directory.json service (unknown fields ignored, optional ones tolerated)."""
    eligibility = service.get("eligibility") or {}
    location = service.get("location") or {}
    delivery = _as_tuple(service.get("delivery")) or ("in_person",)
    delivery = tuple(dict.fromkeys(normalise_delivery(d) for d in delivery))
    lat, lon = _as_float(location.get("lat")), _as_float(location.get("lon"))
    if "in_person" in delivery and lat is None and "home" not in delivery:
        delivery = (*delivery, "home")  # in person with no venue: they come to the person
    genders = tuple(str(g) for g in _as_tuple(eligibility.get("genders"))) or None
    organisation = organisation or {}
    status = str(service.get("status") or "active").lower()
    return ServiceRecord(
        id=str(service["id"]),
        name=str(service.get("name") or ""),
        description=str(service.get("description") or ""),
        categories=tuple(str(c) for c in _as_tuple(service.get("categories"))),
        keywords=tuple(str(k) for k in _as_tuple(service.get("keywords"))),
        organisation_name=str(service.get("organisation_name") or organisation.get("name") or ""),
        min_age=_as_int(eligibility.get("min_age")),
        max_age=_as_int(eligibility.get("max_age")),
        genders=genders,
        delivery=delivery,
        lat=lat,
        lon=lon,
        ward=location.get("ward"),
        postcode=location.get("postcode"),
        languages=tuple(str(x) for x in _as_tuple(service.get("languages"))),
        accessibility=tuple(
            dict.fromkeys(normalise_access(x) for x in _as_tuple(service.get("accessibility")))
        ),
        referral_route=str(service.get("referral_route") or "either"),
        capacity_per_week=_as_int(service.get("capacity_per_week")),
        places_free=_as_int(service.get("places_free")),
        schedule=str(service.get("schedule") or ""),
        last_confirmed=_as_date(service.get("last_confirmed")),
        temporarily_closed=status == "temporarily_closed"
        or service.get("temporarily_closed") is True,
        open_reports=_as_int(service.get("open_reports")) or 0,
    )


def ward_centroids(directory: dict) -> dict[str, tuple[float, float]]:
    """Mean position of the services in each ward: where to measure from when a referral
    names a ward but no coordinates."""
    sums: dict[str, list[float]] = {}
    for organisation in directory.get("organisations", ()):
        for service in organisation.get("services", ()):
            location = service.get("location") or {}
            lat, lon = _as_float(location.get("lat")), _as_float(location.get("lon"))
            if location.get("ward") and lat is not None and lon is not None:
                acc = sums.setdefault(location["ward"], [0.0, 0.0, 0.0])
                acc[0] += lat
                acc[1] += lon
                acc[2] += 1
    return {ward: (a / n, b / n) for ward, (a, b, n) in sums.items()}


def _as_tuple(value: object) -> tuple:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    return tuple(value)  # type: ignore[arg-type]


def _as_int(value: object) -> int | None:
    try:
        return None if value is None or value == "" else int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _as_float(value: object) -> float | None:
    try:
        return None if value is None or value == "" else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _as_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None
