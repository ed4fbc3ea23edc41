"""Taking in another directory's entries, and giving out ours.

Every source is first read into HSDS-shaped services (``exchange.py`` reads an Open
Referral feed, HSDS CSV and directory.json); ``import_services`` then checks each one
with the same ``ServiceIn`` rules as the API, keeps the good ones and reports every
rejected row with its reason. Entries are matched by source id, so importing the same
feed again changes nothing; a new entry that looks like one we already have (similar
name by rapidfuzz, and the same postcode or website) is held back and reported as a
possible duplicate, to be merged (``merge=True`` links it to the existing entry) rather
than created twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.directory import openreferral as hsds
from services.directory import store
from services.directory.api import OrganisationIn, ServiceIn, service_columns
from services.directory.duplicates import find_duplicates
from services.directory.exchange import RowError, Source
from services.directory.handlers import publish_service
from shared.bus.outbox import Outbox

__all__ = [
    "ImportReport",
    "export_feed",
    "find_duplicates",
    "import_directory",
    "import_organizations",
    "import_services",
]


@dataclass
class ImportReport:
    source: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "counts": {
                name: len(getattr(self, name))
                for name in ("created", "updated", "unchanged", "merged", "rejected", "duplicates")
            },
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "merged": self.merged,
            "rejected": self.rejected,
            "possible_duplicates": self.duplicates,
            "warnings": self.warnings,
        }


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "row"
        parts.append(f"{where}: {str(err['msg']).removeprefix('Value error, ')}")
    return "; ".join(parts)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "entry"


def _free_id(session: Session, table, wanted: str | None, prefix: str, name: str) -> str:
    base = wanted if wanted and re.fullmatch(r"[A-Za-z0-9._-]{2,100}", wanted) else None
    base = base or f"{prefix}-{_slug(name)}"
    candidate, n = base, 2
    while session.execute(select(table.c.id).where(table.c.id == candidate)).first():
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _organisation(
    session: Session, source: str, org: Mapping, report: ImportReport, row: str
) -> str | None:
    """Our organisation for an HSDS organization: found by source id, or created."""
    local = org.get("x_local") or {}
    o = store.organisations.c
    source_id = str(org.get("id") or "").strip()
    if not source_id:
        report.rejected.append({"row": row, "reason": "organization.id: missing"})
        return None
    try:
        body = OrganisationIn.model_validate(
            {
                "name": org.get("name"),
                "description": org.get("description") or "",
                "kind": local.get("kind") or "voluntary",
                "website": org.get("website") or None,
                "email": org.get("email") or None,
                "phone": local.get("phone") or None,
            }
        )
    except ValidationError as exc:
        report.rejected.append({"row": row, "reason": f"organization: {_describe(exc)}"})
        return None
    existing = session.execute(
        select(store.organisations).where(
            ((o.source == source) & (o.source_id == source_id)) | (o.hsds_id == source_id)
        )
    ).first()
    values = body.model_dump()
    if existing is not None:
        if any(getattr(existing, k) != v for k, v in values.items()):
            session.execute(
                update(store.organisations)
                .where(o.id == existing.id)
                .values(**values, updated_at=store.now())
            )
        return existing.id
    org_id = _free_id(session, store.organisations, local.get("id"), "org", body.name)
    session.execute(
        store.organisations.insert().values(
            id=org_id,
            updated_at=store.now(),
            hsds_id=source_id if _is_uuid(source_id) else hsds.hsds_uuid("organization", org_id),
            source=source,
            source_id=source_id,
            **values,
        )
    )
    return org_id


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _changed(row, columns: Mapping[str, Any]) -> bool:
    return any(getattr(row, k) != v for k, v in columns.items())


def import_organizations(
    session: Session, source: str, organizations: Iterable[Mapping], report: ImportReport
) -> None:
    """Organizations listed on their own (a feed's /organizations), services or not."""
    for n, org in enumerate(organizations, start=1):
        row = f"organization {org.get('id') or n} ({str(org.get('name') or '')[:60]})"
        _organisation(session, source, org, report, row)


def import_directory(
    session: Session,
    outbox: Outbox,
    source: Source,
    *,
    merge: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a source's organizations and HSDS-shaped services (each with its
    ``organization``); rows that fail are reported, the rest kept."""
    report = ImportReport(source=source.name)
    import_organizations(session, source.name, source.organizations, report)
    import_services(session, outbox, source.name, source.services, report, merge, progress)
    return report


def import_services(
    session: Session,
    outbox: Outbox,
    source: str,
    services: Iterable[Mapping | RowError],
    report: ImportReport,
    merge: bool = False,
    progress: Callable[[int], None] | None = None,
) -> None:
    s = store.services.c
    today = date.today()
    for n, service in enumerate(services, start=1):
        if isinstance(service, RowError):
            report.rejected.append({"row": service.row, "reason": service.reason})
        elif not isinstance(service, Mapping):
            report.rejected.append({"row": f"service {n}", "reason": "not a JSON object"})
        else:
            name = str(service.get("name") or "")[:60]
            row_name = f"service {service.get('id') or n} ({name})"
            _import_one(session, outbox, source, service, row_name, report, merge, today, s)
        if progress:
            progress(1)


def _import_one(session, outbox, source, service, row_name, report, merge, today, s) -> None:
    source_id = str(service.get("id") or "").strip()
    if not source_id:
        report.rejected.append({"row": row_name, "reason": "id: missing"})
        return
    warnings: list[str] = []
    try:
        fields = hsds.service_from_hsds(service, warnings)
        body = ServiceIn.model_validate(fields)
        assurance = hsds.assurance_from_hsds(service)
    except hsds.RowProblem as exc:
        report.rejected.append({"row": row_name, "reason": str(exc)})
        return
    except ValidationError as exc:
        report.rejected.append({"row": row_name, "reason": _describe(exc)})
        return
    except (TypeError, ValueError) as exc:
        report.rejected.append({"row": row_name, "reason": f"unreadable value: {exc}"})
        return
    organization = service.get("organization")
    if not isinstance(organization, Mapping):
        report.rejected.append({"row": row_name, "reason": "organization: missing"})
        return
    org_id = _organisation(session, source, organization, report, row_name)
    if org_id is None:
        return
    for warning in warnings:
        report.warnings.append({"row": row_name, "warning": warning})
    columns = {
        **service_columns(body),
        "last_confirmed": assurance["last_confirmed"],
        "assured_by": assurance["assured_by"],
        "taking": hsds.taking_from_hsds(service),
    }
    existing = session.execute(
        select(store.services).where(
            ((s.source == source) & (s.source_id == source_id)) | (s.hsds_id == source_id),
            s.withdrawn.is_(False),
        )
    ).first()
    if existing is None:
        location = body.location
        duplicates = find_duplicates(
            session, body.name, location.postcode if location else None, organization.get("website")
        )
        if duplicates and not merge:
            report.duplicates.append(
                {"row": row_name, "source_id": source_id, "matches": duplicates}
            )
            return
        if duplicates:
            existing = store.get_service(session, duplicates[0]["service_id"])
            session.execute(
                update(store.services)
                .where(s.id == existing.id)
                .values(source=source, source_id=source_id)
            )
            report.merged.append(existing.id)
    if existing is not None:
        if existing.organisation_id != org_id:
            columns["organisation_id"] = org_id
        if not _changed(existing, columns):
            if existing.id not in report.merged:
                report.unchanged.append(existing.id)
            return
        session.execute(update(store.services).where(s.id == existing.id).values(**columns))
        publish_service(session, outbox, existing.id, today)
        _keep_modified(session, existing.id, assurance["updated_at"])
        if existing.id not in report.merged:
            report.updated.append(existing.id)
        return
    local = service.get("x_local") or {}
    service_id = _free_id(session, store.services, local.get("id"), "svc", body.name)
    session.execute(
        store.services.insert().values(
            id=service_id,
            organisation_id=org_id,
            revision=0,
            updated_at=store.now(),
            hsds_id=source_id if _is_uuid(source_id) else hsds.hsds_uuid("service", service_id),
            source=source,
            source_id=source_id,
            **columns,
        )
    )
    publish_service(session, outbox, service_id, today)
    _keep_modified(session, service_id, assurance["updated_at"])
    report.created.append(service_id)


def _keep_modified(session: Session, service_id: str, modified) -> None:
    """An imported entry was last modified when its source says, not when we copied it."""
    if modified is not None:
        session.execute(
            update(store.services)
            .where(store.services.c.id == service_id)
            .values(updated_at=modified)
        )


def export_feed(session: Session, threshold: int) -> dict:
    """The whole directory as one Open Referral UK document: organizations, fully nested
    services, the taxonomy and its terms (what a feed's endpoints serve, in one file)."""
    from services.directory.domain import week_bounds

    s = store.services.c
    orgs = {o.id: o for o in session.execute(select(store.organisations))}
    rows = session.execute(
        select(store.services).where(s.withdrawn.is_(False)).order_by(s.name, s.id)
    ).all()
    monday, sunday = week_bounds(date.today())
    taken = store.places_taken_by_service(session, monday, sunday)
    services = [
        hsds.service_full(r, orgs[r.organisation_id], taken=taken.get(r.id, 0), threshold=threshold)
        for r in rows
    ]
    categories = sorted({c for r in rows for c in r.categories}, key=str.lower)
    return {
        "version": "3.0",
        "organizations": [
            hsds.organization_summary(o)
            for o in sorted(orgs.values(), key=lambda o: (o.name, o.id))
        ],
        "services": services,
        "taxonomies": [hsds.taxonomy()],
        "taxonomy_terms": [hsds.taxonomy_term(c) for c in categories],
    }
