"""Loads the demo directory (``demo/directory.json``) into an empty directory.

Each service goes in with its ``ServiceUpserted`` event, so the matcher's replica fills
through the same path as any later edit.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.directory import store
from services.directory.handlers import publish_service
from services.directory.openreferral import hsds_uuid
from shared.bus.outbox import Outbox

DEMO_DIRECTORY = Path(__file__).parent / "demo" / "directory.json"


def _service_row(service: dict, organisation_id: str) -> dict:
    eligibility = service.get("eligibility") or {}
    location = service.get("location") or {}
    delivery = service.get("delivery") or "in_person"
    last_confirmed = service.get("last_confirmed")
    return {
        "id": service["id"],
        "organisation_id": organisation_id,
        "name": service["name"],
        "description": service.get("description", ""),
        "categories": list(service.get("categories", [])),
        "keywords": list(service.get("keywords", [])),
        "min_age": eligibility.get("min_age"),
        "max_age": eligibility.get("max_age"),
        "genders": eligibility.get("genders"),
        "eligibility_notes": eligibility.get("notes") or "",
        "address": location.get("address"),
        "postcode": location.get("postcode"),
        "ward": location.get("ward"),
        "lat": location.get("lat"),
        "lon": location.get("lon"),
        "delivery": [delivery] if isinstance(delivery, str) else list(delivery),
        "schedule": service.get("schedule", ""),
        "regular_schedule": service.get("regular_schedule", []),
        "capacity_per_week": service.get("capacity_per_week"),
        "languages": service.get("languages", ["English"]),
        "accessibility": service.get("accessibility", []),
        "cost": service.get("cost", ""),
        "referral_route": service.get("referral_route", "either"),
        "status": service.get("status", "active"),
        "last_confirmed": date.fromisoformat(last_confirmed) if last_confirmed else date.today(),
        "withdrawn": False,
        "revision": 0,
        "updated_at": store.now(),
        "hsds_id": hsds_uuid("service", service["id"]),
    }


def load_directory(session: Session, outbox: Outbox, directory: dict) -> int:
    """Insert every organisation and service of a directory document; returns services."""
    count = 0
    for org in directory["organisations"]:
        session.execute(
            store.organisations.insert().values(
                id=org["id"],
                name=org["name"],
                description=org.get("description", ""),
                kind=org.get("kind", "voluntary"),
                website=org.get("website"),
                email=org.get("email"),
                phone=org.get("phone"),
                updated_at=store.now(),
                hsds_id=hsds_uuid("organization", org["id"]),
            )
        )
        for service in org.get("services", []):
            session.execute(store.services.insert().values(**_service_row(service, org["id"])))
            publish_service(session, outbox, service["id"], date.today())
            count += 1
    return count


def load_demo_if_empty(
    sessions: sessionmaker[Session], outbox: Outbox, path: Path = DEMO_DIRECTORY
) -> int:
    with sessions.begin() as session:
        if session.execute(select(func.count()).select_from(store.organisations)).scalar_one():
            return 0
        return load_directory(session, outbox, json.loads(path.read_text()))
