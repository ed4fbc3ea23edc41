"""Reading and writing directories in the formats councils publish, and the command line.

Sources, each read into HSDS-shaped services (with their organization nested) for
``importer.import_services``:

- an Open Referral UK feed: a base URL; ``/services`` is followed page by page and each
  service read in full from ``/services/{id}``; ``/organizations`` likewise;
- HSDS CSV: a folder or zip of ``services.csv``, ``organizations.csv``, ``locations.csv``,
  ``service_at_locations.csv``, ``addresses.csv``, ``schedules.csv``, ...;
- JSON: our own export (``export_feed``), or a ``directory.json``-shaped document.

    python -m services.directory.exchange import https://example.gov.uk/openreferral/
    python -m services.directory.exchange import other-council.zip --merge
    python -m services.directory.exchange export --format csv directory.zip
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

from services.directory import openreferral as hsds

__all__ = [
    "RowError",
    "Source",
    "read_csv",
    "read_feed",
    "read_json",
    "read_source",
    "write_csv",
]


@dataclass(frozen=True)
class RowError:
    """A row that could not even be read into HSDS shape: rejected with this reason."""

    row: str
    reason: str


@dataclass
class Source:
    name: str
    organizations: list[dict]
    services: Iterator[dict | RowError]
    total: int | None


# ---- an Open Referral feed ----------------------------------------------------------------


def _get(client: httpx.Client, url: str, params: dict | None = None) -> Any:
    """GET JSON, waiting out a throttle (429 with Retry-After) a few times."""
    for _attempt in range(5):
        response = client.get(url, params=params)
        if response.status_code == 429:
            time.sleep(min(float(response.headers.get("retry-after", "1")), 30.0))
            continue
        response.raise_for_status()
        return response.json()
    response.raise_for_status()
    raise httpx.HTTPError(f"{url}: still throttled after 5 tries")


def _pages(client: httpx.Client, url: str, per_page: int = 100) -> Iterator[dict]:
    """Every item of a paged HSDS list, each id once (some feeds repeat items)."""
    seen: set[str] = set()
    page = 1
    while True:
        body = _get(client, url, {"page": page, "per_page": per_page})
        for item in body.get("contents") or []:
            key = str(item.get("id"))
            if key not in seen:
                seen.add(key)
                yield item
        total_pages = int(body.get("total_pages") or 1)
        if body.get("last_page", True) or page >= total_pages or not body.get("contents"):
            return
        page += 1


def read_feed(base_url: str, client: httpx.Client | None = None) -> Source:
    base = base_url.rstrip("/")
    client = client or httpx.Client(timeout=30.0, follow_redirects=True)
    first = _get(client, f"{base}/services", {"page": 1, "per_page": 100})
    organizations = list(_pages(client, f"{base}/organizations")) if _has(client, base) else []

    def services() -> Iterator[dict | RowError]:
        for item in _pages(client, f"{base}/services"):
            try:
                full = _get(client, f"{base}/services/{item['id']}")
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                yield RowError(f"service {item.get('id')}", f"could not read it in full: {exc}")
                continue
            if not full.get("organization") and item.get("organization"):
                full["organization"] = item["organization"]
            yield full

    return Source(base, organizations, services(), first.get("total_items"))


def _has(client: httpx.Client, base: str) -> bool:
    """Whether the feed serves /organizations (older feeds may not)."""
    try:
        response = client.get(f"{base}/organizations", params={"page": 1, "per_page": 1})
    except httpx.HTTPError:
        return False
    return response.status_code == 200


# ---- HSDS CSV -----------------------------------------------------------------------------

#: Nested lists and the CSV file each travels in (HSDS's file names).
_CHILD_FILES = {
    "schedules": "schedules.csv",
    "languages": "languages.csv",
    "cost_options": "cost_options.csv",
    "attributes": "attributes.csv",
    "service_capacity": "service_capacity.csv",
}
_NUMBERS = {
    "minimum_age",
    "maximum_age",
    "latitude",
    "longitude",
    "amount",
    "interval",
    "maximum",
    "available",
}
_JSON_COLUMNS = {"x_local", "unit"}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _table(rows: list[dict], first: tuple[str, ...] = ("id",)) -> str:
    columns = list(first)
    for row in rows:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
    return buffer.getvalue()


def csv_tables(feed: Mapping) -> dict[str, str]:
    """Our export document as HSDS CSV files (name -> text)."""
    files: dict[str, list[dict]] = {
        "organizations.csv": [dict(o) for o in feed["organizations"]],
        "services.csv": [],
        "locations.csv": [],
        "service_at_locations.csv": [],
        "addresses.csv": [],
        "accessibility.csv": [],
        "taxonomies.csv": list(feed.get("taxonomies") or []),
        "taxonomy_terms.csv": list(feed.get("taxonomy_terms") or []),
        **{name: [] for name in _CHILD_FILES.values()},
    }
    for service in feed["services"]:
        flat = {k: v for k, v in service.items() if not isinstance(v, list) and k != "organization"}
        files["services.csv"].append(flat)
        for key, name in _CHILD_FILES.items():
            for child in service.get(key) or []:
                row = {k: v for k, v in child.items() if k != "taxonomy_term"}
                row.setdefault("service_id", service["id"])
                files[name].append(row)
        for sal in service.get("service_at_locations") or []:
            location = sal["location"]
            files["service_at_locations.csv"].append(
                {"id": sal["id"], "service_id": service["id"], "location_id": location["id"]}
            )
            files["locations.csv"].append(
                {k: v for k, v in location.items() if not isinstance(v, list)}
            )
            for address in location.get("addresses") or []:
                files["addresses.csv"].append({**address, "location_id": location["id"]})
            for access in location.get("accessibility") or []:
                files["accessibility.csv"].append({**access, "location_id": location["id"]})
    return {name: _table(rows) for name, rows in files.items()}


def write_csv(feed: Mapping, out: Path) -> None:
    """A folder of CSV files, or a zip of them when ``out`` ends in .zip."""
    tables = csv_tables(feed)
    if out.suffix.lower() == ".zip":
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in tables.items():
                archive.writestr(name, content)
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, content in tables.items():
        (out / name).write_text(content, encoding="utf-8")


def _typed(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key is None:
            continue  # a row with more cells than the header
        value = (value or "").strip()
        if value == "":
            continue
        if key in _JSON_COLUMNS:
            try:
                out[key] = json.loads(value)
            except ValueError:
                continue
        elif key in _NUMBERS:
            try:
                number = float(value)
            except ValueError:
                out[key] = value  # left for validation to name
            else:
                out[key] = int(number) if number.is_integer() else number
        else:
            out[key] = value
    return out


def _csv_files(path: Path) -> dict[str, list[dict]]:
    texts: dict[str, str] = {}
    if path.is_dir():
        for file in path.glob("*.csv"):
            texts[file.name.lower()] = file.read_text(encoding="utf-8-sig")
    else:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = Path(info.filename).name.lower()
                if name.endswith(".csv"):
                    texts[name] = archive.read(info).decode("utf-8-sig")
    return {name: [_typed(r) for r in csv.DictReader(io.StringIO(t))] for name, t in texts.items()}


def _by(rows: list[dict], key: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in rows:
        out.setdefault(str(row.get(key)), []).append(row)
    return out


def read_csv(path: Path) -> Source:
    files = _csv_files(path)
    if "services.csv" not in files:
        raise ValueError(f"{path}: no services.csv")
    organizations = files.get("organizations.csv", [])
    orgs = {str(o.get("id")): o for o in organizations}
    terms = {str(t.get("id")): t for t in files.get("taxonomy_terms.csv", [])}
    locations = {str(loc.get("id")): loc for loc in files.get("locations.csv", [])}
    addresses = _by(files.get("addresses.csv", []), "location_id")
    access = _by(files.get("accessibility.csv", []), "location_id")
    sals = _by(files.get("service_at_locations.csv", []), "service_id")
    children = {k: _by(files.get(name, []), "service_id") for k, name in _CHILD_FILES.items()}
    children["attributes"] = _by(files.get("attributes.csv", []), "link_id")

    def services() -> Iterator[dict | RowError]:
        for n, row in enumerate(files["services.csv"], start=2):
            service = dict(row)
            service_id = str(row.get("id"))
            org = orgs.get(str(row.get("organization_id")))
            if org is None:
                yield RowError(
                    f"services.csv line {n}", "organization_id: no such row in organizations.csv"
                )
                continue
            service["organization"] = org
            for key, by_service in children.items():
                service[key] = [dict(c) for c in by_service.get(service_id, [])]
            for attribute in service["attributes"]:
                term = terms.get(str(attribute.get("taxonomy_term_id")))
                if term:
                    attribute["taxonomy_term"] = term
            service["service_at_locations"] = []
            for sal in sals.get(service_id, []):
                location = dict(locations.get(str(sal.get("location_id")), {}))
                if not location:
                    continue
                location["addresses"] = addresses.get(str(location.get("id")), [])
                location["accessibility"] = access.get(str(location.get("id")), [])
                service["service_at_locations"].append({**sal, "location": location})
            yield service

    return Source(str(path), organizations, services(), len(files["services.csv"]))


# ---- JSON ---------------------------------------------------------------------------------


def _row(service: Mapping, org: Mapping) -> SimpleNamespace:
    """A directory.json service as the row shape the HSDS mapping reads."""
    eligibility = service.get("eligibility") or {}
    location = service.get("location") or {}
    delivery = service.get("delivery") or ["in_person"]
    confirmed = service.get("last_confirmed")
    return SimpleNamespace(
        id=str(service["id"]),
        hsds_id=hsds.hsds_uuid("service", str(service["id"])),
        name=service.get("name"),
        description=service.get("description") or "",
        categories=list(service.get("categories") or []),
        keywords=list(service.get("keywords") or []),
        min_age=eligibility.get("min_age"),
        max_age=eligibility.get("max_age"),
        genders=eligibility.get("genders"),
        eligibility_notes=eligibility.get("notes") or "",
        address=location.get("address"),
        postcode=location.get("postcode"),
        ward=location.get("ward"),
        lat=location.get("lat"),
        lon=location.get("lon"),
        delivery=[delivery] if isinstance(delivery, str) else list(delivery),
        schedule=service.get("schedule") or "",
        regular_schedule=list(service.get("regular_schedule") or []),
        capacity_per_week=service.get("capacity_per_week"),
        taking="places_left",
        languages=list(service.get("languages") or ["English"]),
        accessibility=list(service.get("accessibility") or []),
        cost=service.get("cost") or "",
        referral_route=service.get("referral_route") or "either",
        status=service.get("status") or "active",
        reopens_on=None,
        last_confirmed=date.fromisoformat(confirmed) if confirmed else None,
        assured_by=None,
        updated_at=None,
    )


def _org_row(org: Mapping) -> SimpleNamespace:
    return SimpleNamespace(
        id=str(org["id"]),
        hsds_id=hsds.hsds_uuid("organization", str(org["id"])),
        name=org.get("name"),
        description=org.get("description") or "",
        kind=org.get("kind") or "voluntary",
        website=org.get("website"),
        email=org.get("email"),
        phone=org.get("phone"),
    )


def _directory_json(doc: Mapping, name: str) -> Source:
    organizations = []
    pairs = []
    for n, org in enumerate(doc.get("organisations") or [], start=1):
        try:
            org_row = _org_row(org)
        except (KeyError, TypeError) as exc:
            pairs.append(RowError(f"organisation {n}", f"unreadable: {exc}"))
            continue
        organizations.append(hsds.organization_summary(org_row))
        for service in org.get("services") or []:
            pairs.append((service, org_row))

    def services() -> Iterator[dict | RowError]:
        for n, item in enumerate(pairs, start=1):
            if isinstance(item, RowError):
                yield item
                continue
            service, org_row = item
            try:
                yield hsds.service_full(_row(service, {}), org_row)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                yield RowError(f"service {service.get('id', n)}", f"unreadable: {exc!r}")

    return Source(name, organizations, services(), len(pairs))


def read_json(path: Path) -> Source:
    doc = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(doc, dict) and "organisations" in doc:
        return _directory_json(doc, str(path))
    if isinstance(doc, dict) and isinstance(doc.get("services"), list):
        return Source(
            str(path),
            list(doc.get("organizations") or []),
            iter(doc["services"]),
            len(doc["services"]),
        )
    if isinstance(doc, dict) and isinstance(doc.get("contents"), list):  # one saved page
        return Source(str(path), [], iter(doc["contents"]), len(doc["contents"]))
    raise ValueError(f"{path}: neither an Open Referral export nor a directory.json document")


def read_source(where: str) -> Source:
    """A feed URL, a CSV folder or zip, or a JSON file."""
    if where.startswith(("http://", "https://")):
        return read_feed(where)
    path = Path(where)
    if path.is_dir() or path.suffix.lower() == ".zip":
        return read_csv(path)
    return read_json(path)


# ---- the command line ---------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    from services.directory import store
    from services.directory.app import MIGRATIONS
    from services.directory.importer import export_feed, import_directory
    from shared.bus.outbox import Outbox
    from shared.db import make_engine, make_session_factory, migrate
    from shared.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m services.directory.exchange")
    verbs = parser.add_subparsers(dest="verb", required=True)
    take = verbs.add_parser("import", help="import a feed URL, a CSV folder or zip, or JSON")
    take.add_argument("source")
    take.add_argument("--merge", action="store_true", help="link likely duplicates to ours")
    take.add_argument("--report", type=Path, help="write the import report here (JSON)")
    give = verbs.add_parser("export", help="export the directory")
    give.add_argument("--format", choices=("json", "csv"), default="json")
    give.add_argument("out", type=Path)
    args = parser.parse_args(argv)

    settings = Settings()
    engine = make_engine(settings.database_url)
    migrate(engine, MIGRATIONS, f"alembic_version_{store.SERVICE}")
    sessions = make_session_factory(engine)
    if args.verb == "export":
        with sessions() as session:
            feed = export_feed(session, settings.small_number_threshold)
        if args.format == "csv":
            write_csv(feed, args.out)
        else:
            args.out.write_text(json.dumps(feed, indent=1, ensure_ascii=False), encoding="utf-8")
        print(f"exported {len(feed['services'])} services to {args.out}")
        return 0
    source = read_source(args.source)
    outbox = Outbox(store.outbox, producer=f"{store.SERVICE}@import")
    bar = tqdm(total=source.total, unit="service", desc="importing")
    with bar, sessions.begin() as session:
        report = import_directory(session, outbox, source, merge=args.merge, progress=bar.update)
    summary = report.as_dict()
    if args.report:
        args.report.write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
    print(json.dumps(summary["counts"]))
    for rejected in report.rejected:
        print(f"rejected {rejected['row']}: {rejected['reason']}", file=sys.stderr)
    for duplicate in report.duplicates:
        names = ", ".join(f"{m['name']} ({', '.join(m['why'])})" for m in duplicate["matches"])
        print(f"held back {duplicate['row']}: looks like {names}", file=sys.stderr)
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
