"""Entries that look like ones we already have: a similar name (rapidfuzz) and the same
postcode or the same organisation website. Checked on import and on creation, so the
same group is offered for merging rather than listed twice."""

from __future__ import annotations

import re

from rapidfuzz import fuzz
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.directory import store

__all__ = ["NAME_SIMILARITY", "find_duplicates"]

NAME_SIMILARITY = 90.0  # rapidfuzz token_set_ratio for "the same name"


def _website_key(url: str | None) -> str | None:
    if not url:
        return None
    host = re.sub(r"^https?://", "", url.strip().lower()).split("/")[0]
    return host.removeprefix("www.") or None


def find_duplicates(
    session: Session, name: str, postcode: str | None, website: str | None, exclude: str = ""
) -> list[dict]:
    """Live services with a similar name and the same postcode or organisation website."""
    s, o = store.services.c, store.organisations.c
    rows = session.execute(
        select(s.id, s.name, s.postcode, o.website)
        .join(store.organisations, o.id == s.organisation_id)
        .where(s.withdrawn.is_(False), s.id != exclude)
    ).all()
    postcode = (postcode or "").replace(" ", "").upper() or None
    site = _website_key(website)
    found = []
    for row in rows:
        score = fuzz.token_set_ratio(name.lower(), row.name.lower())
        if score < NAME_SIMILARITY:
            continue
        why = []
        if postcode and (row.postcode or "").replace(" ", "").upper() == postcode:
            why.append("same postcode")
        if site and _website_key(row.website) == site:
            why.append("same website")
        if why:
            found.append(
                {"service_id": row.id, "name": row.name, "similarity": round(score), "why": why}
            )
    return sorted(found, key=lambda d: -d["similarity"])
