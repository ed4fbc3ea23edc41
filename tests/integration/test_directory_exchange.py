"""Import and export: the demo directory round-trips through Open Referral JSON, HSDS CSV
and our own feed served over HTTP; a feed of the specification's examples imports with
warnings; rejected rows are reported with reasons while good rows are kept; importing
again changes nothing; look-alike entries are held back and offered for merging."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import threading
import time
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from services.directory import store
from services.directory.app import create_app
from services.directory.exchange import main, read_csv, read_feed, read_json, write_csv
from services.directory.importer import export_feed, import_directory
from shared.auth import Principal, Role
from tests.conftest import make_settings
from tests.openreferral_profile import PROFILE_DIR, needs_profile

DIRECTORY_JSON = PROFILE_DIR.parent / "matching" / "directory.json"
DEMO = Path(__file__).resolve().parents[2] / "services" / "directory" / "demo" / "directory.json"


def _app(tmp_path: Path, name: str, demo: bool, **extra):
    folder = tmp_path / name
    folder.mkdir()
    settings = make_settings(
        f"sqlite:///{folder / 'd.db'}",
        folder,
        load_demo_data=demo,
        run_workers=False,
        openreferral_rate_limit="1000000/minute",
        **extra,
    )
    return create_app(settings)


def _export(app) -> dict:
    with app.state.sessions() as session:
        return export_feed(session, 5)


def _import(app, source, merge: bool = False):
    with app.state.sessions.begin() as session:
        return import_directory(session, app.state.outbox, source, merge=merge)


def _outbox_size(app) -> int:
    with app.state.sessions() as session:
        return session.execute(select(func.count()).select_from(store.outbox)).scalar_one()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    app = _app(tmp_path_factory.mktemp("demo"), "a", demo=True)
    yield app
    app.state.runtime.close()


def test_the_demo_directory_round_trips_through_open_referral_json(demo, tmp_path):
    exported = _export(demo)
    assert len(exported["services"]) == 140 and len(exported["organizations"]) == 59
    path = tmp_path / "feed.json"
    path.write_text(json.dumps(exported))
    empty = _app(tmp_path, "b", demo=False)
    report = _import(empty, read_json(path))
    assert report.rejected == [] and report.duplicates == []
    assert len(report.created) == 140
    assert _export(empty) == exported
    # the same file again changes nothing: no new revisions, no events
    before = _outbox_size(empty)
    again = _import(empty, read_json(path))
    assert len(again.unchanged) == 140 and again.created == again.updated == []
    assert _outbox_size(empty) == before
    assert _export(empty) == exported
    empty.state.runtime.close()


@pytest.mark.parametrize("layout", ["zip", "folder"])
def test_the_demo_directory_round_trips_through_hsds_csv(demo, tmp_path, layout):
    exported = _export(demo)
    out = tmp_path / ("hsds.zip" if layout == "zip" else "hsds")
    write_csv(exported, out)
    if layout == "zip":
        with zipfile.ZipFile(out) as archive:
            names = set(archive.namelist())
    else:
        names = {p.name for p in out.iterdir()}
    assert {"services.csv", "organizations.csv", "locations.csv", "schedules.csv"} <= names
    empty = _app(tmp_path, "b", demo=False)
    report = _import(empty, read_csv(out))
    assert report.rejected == [] and len(report.created) == 140
    assert _export(empty) == exported
    empty.state.runtime.close()


def test_a_group_s_full_or_waiting_list_survives_the_round_trip(tmp_path):
    source = _app(tmp_path, "a", demo=True)
    said = {"svc-tac-money-clinic": "full", "svc-larder-cookalong": "waiting_list"}
    with source.state.sessions.begin() as session:
        for service_id, taking in said.items():
            session.execute(
                update(store.services)
                .where(store.services.c.id == service_id)
                .values(taking=taking)
            )
    exported = _export(source)
    feed = tmp_path / "feed.json"
    feed.write_text(json.dumps(exported))
    write_csv(exported, tmp_path / "hsds.zip")
    for name, read in (
        ("b", lambda: read_json(feed)),
        ("c", lambda: read_csv(tmp_path / "hsds.zip")),
    ):
        empty = _app(tmp_path, name, demo=False)
        _import(empty, read())
        assert _export(empty) == exported
        with empty.state.sessions() as session:
            rows = session.execute(select(store.services.c.name, store.services.c.taking)).all()
        taking = {row.name: row.taking for row in rows if row.taking != "places_left"}
        assert taking == {"Money clinic": "full", "Cook-along Thursdays": "waiting_list"}
        empty.state.runtime.close()
    source.state.runtime.close()


def _serve(app) -> tuple[str, callable]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=asyncio.run, args=(server.serve(sockets=[sock]),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the directory did not start"
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

    return f"http://127.0.0.1:{sock.getsockname()[1]}", stop


def test_our_own_feed_over_http_imports_into_an_empty_directory_page_by_page(tmp_path):
    served = _app(tmp_path, "served", demo=True)
    url, stop = _serve(served)
    try:
        source = read_feed(f"{url}/openreferral/")
        assert source.total == 140 and len(source.organizations) == 59
        empty = _app(tmp_path, "b", demo=False)
        report = _import(empty, source)
        assert report.rejected == [] and len(report.created) == 140
        assert _export(empty) == _export(served)
        again = _import(empty, read_feed(f"{url}/openreferral/"))
        assert len(again.unchanged) == 140
        empty.state.runtime.close()
    finally:
        stop()
        served.state.runtime.close()


class _ExampleFeed(SimpleHTTPRequestHandler):
    """The specification's examples as a feed: every page of /services is the example
    list page, every /services/{id} the example full service."""

    def translate_path(self, path: str) -> str:
        path = path.split("?", 1)[0].rstrip("/")
        examples = PROFILE_DIR / "examples"
        routes = {
            "/services": "service_list.json",
            "/organizations": "organization_list.json",
            "/taxonomies": "taxonomy_list.json",
        }
        if path in routes:
            return str(examples / routes[path])
        if path.startswith("/services/"):
            return str(examples / "service_full.json")
        return str(examples / "missing")

    def log_message(self, *args) -> None:
        return


@needs_profile
def test_the_specifications_example_feed_imports_with_warnings_for_what_is_not_british(
    tmp_path,
):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ExampleFeed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        empty = _app(tmp_path, "b", demo=False)
        report = _import(empty, read_feed(url))
        assert report.rejected == []
        assert len(report.created) == 1  # ten pages, all the same example: imported once
        warnings = " ".join(w["warning"] for w in report.warnings)
        assert "not a UK postcode" in warnings and "latitude 100" in warnings
        assert "minimum_age 12 is below 16" in warnings
        with empty.state.sessions() as session:
            row = store.get_service(session, report.created[0])
        assert row.name == "Community Counselling" and row.hsds_id == (
            "ac148810-d857-441c-9679-408f346de14b"
        )
        assert (row.min_age, row.max_age) == (16, 100)
        assert {s["weekday"] for s in row.regular_schedule} == {"TH", "FR"}
        assert row.last_confirmed.isoformat() == "2005-01-01"
        assert row.cost.startswith("per 1 hour")
        again = _import(empty, read_feed(url))
        assert again.unchanged == report.created
        empty.state.runtime.close()
    finally:
        server.shutdown()


def _write_csv_folder(folder: Path, services: list[dict]) -> None:
    folder.mkdir()
    (folder / "organizations.csv").write_text(
        "id,name,description,website\n"
        "11111111-1111-4111-8111-111111111111,Riverside Allotments,Growing together,"
        "https://riverside.example.org\n"
    )
    columns = ["id", "organization_id", "name", "description", "status", "minimum_age"]
    lines = [",".join(columns)]
    lines += [",".join(str(s.get(c, "")) for c in columns) for s in services]
    (folder / "services.csv").write_text("\n".join(lines) + "\n")


def test_rejected_rows_are_reported_with_reasons_and_good_rows_kept(tmp_path):
    org = "11111111-1111-4111-8111-111111111111"
    folder = tmp_path / "csv"
    _write_csv_folder(
        folder,
        [
            {"id": "a1", "organization_id": org, "name": "Plot share", "status": "active"},
            {"id": "a2", "organization_id": org, "name": "Seed swap", "status": "open"},
            {"id": "a3", "organization_id": org, "name": "", "status": "active"},
            {"id": "a4", "organization_id": "nope", "name": "Orphan", "status": "active"},
            {"id": "a5", "organization_id": org, "name": "Kids", "minimum_age": "old"},
            {"id": "a6", "organization_id": org, "name": "Tool library", "minimum_age": "18"},
        ],
    )
    empty = _app(tmp_path, "b", demo=False)
    report = _import(empty, read_csv(folder))
    assert len(report.created) == 2
    reasons = {r["row"].split(" ")[1]: r["reason"] for r in report.rejected}
    assert "not an Open Referral status" in reasons["a2"]
    assert "name" in reasons["a3"]
    assert any("organization_id" in r["reason"] for r in report.rejected)
    assert "minimum_age" in reasons["a5"]
    assert len(report.rejected) == 4
    empty.state.runtime.close()


def test_directory_json_imports_and_look_alikes_are_held_back_then_merged(demo, tmp_path):
    doc = json.loads(
        (Path(__file__).resolve().parents[2] / "services/directory/demo/directory.json").read_text()
    )
    org = next(o for o in doc["organisations"] if o["id"] == "org-thameside-advice")
    twin = json.loads(json.dumps(org))
    twin["id"] = "org-thameside-advice-centre"
    twin["services"] = [dict(twin["services"][0], id="tac-money", name="The Money Clinic")]
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"organisations": [twin]}))
    report = _import(demo, read_json(path))
    assert report.created == []
    [held] = report.duplicates
    assert held["matches"][0]["service_id"] == "svc-tac-money-clinic"
    assert set(held["matches"][0]["why"]) == {"same postcode", "same website"}
    merged = _import(demo, read_json(path), merge=True)
    assert merged.merged == ["svc-tac-money-clinic"] and merged.created == []
    again = _import(demo, read_json(path))
    assert again.duplicates == [] and again.created == []
    demo.state.runtime.close()


@pytest.mark.skipif(not DIRECTORY_JSON.exists(), reason="no shared matching directory")
def test_the_shared_bexley_directory_json_imports_into_an_empty_directory(tmp_path):
    empty = _app(tmp_path, "b", demo=False)
    report = _import(empty, read_json(DIRECTORY_JSON))
    total = sum(
        len(o.get("services") or [])
        for o in json.loads(DIRECTORY_JSON.read_text())["organisations"]
    )
    assert len(report.created) + len(report.rejected) + len(report.duplicates) == total
    assert len(report.created) > total * 0.9
    empty.state.runtime.close()


def test_a_new_service_like_an_existing_one_is_offered_for_merging_not_created(demo):
    token = demo.state.tokens.issue(Principal(user_id="adm", name="Admin", role=Role.ADMIN))
    client = TestClient(demo, headers={"Authorization": f"Bearer {token}"})
    body = {
        "name": "Money Clinic",
        "categories": ["money and debt"],
        "location": {"address": "Riverside Community Hub", "postcode": "DA8 1TW"},
    }
    response = client.post("/organisations/org-thameside-advice/services", json=body)
    assert response.status_code == 409
    assert response.json()["duplicates"][0]["service_id"] == "svc-tac-money-clinic"
    response = client.post(
        "/organisations/org-thameside-advice/services", params={"allow_duplicate": True}, json=body
    )
    assert response.status_code == 201
    assert client.delete(f"/services/{response.json()['id']}").status_code == 200


def test_an_administrator_uploads_a_zip_and_anyone_downloads_the_exports(demo, tmp_path):
    client = TestClient(demo)
    zipped = client.get("/exports/hsds.zip")
    assert zipped.status_code == 200 and zipped.headers["content-type"] == "application/zip"
    feed = client.get("/exports/openreferral.json").json()
    assert len(feed["services"]) == 140
    empty = _app(tmp_path, "b", demo=False)
    admin = empty.state.tokens.issue(Principal(user_id="adm", name="Admin", role=Role.ADMIN))
    group = empty.state.tokens.issue(
        Principal(user_id="g", name="G", role=Role.GROUP_MEMBER, organisation_id="x")
    )
    files = {"file": ("hsds.zip", zipped.content, "application/zip")}
    with TestClient(empty) as c:
        refused = c.post("/imports", files=files, headers={"Authorization": f"Bearer {group}"})
        assert refused.status_code == 403
        bad = c.post(
            "/imports",
            files={"file": ("x.txt", b"hello", "text/plain")},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert bad.status_code == 422 and "file" in bad.json()["detail"]
        answer = c.post("/imports", files=files, headers={"Authorization": f"Bearer {admin}"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["counts"]["created"] == 140
    assert _export(empty) == _export(demo)
    empty.state.runtime.close()


def test_an_import_job_reports_how_far_it_has_got_then_what_it_did(demo, tmp_path):
    feed = TestClient(demo).get("/exports/openreferral.json").json()
    feed["services"].append({"id": "broken", "name": "No organisation"})  # one bad row
    empty = _app(tmp_path, "b", demo=False)
    admin = empty.state.tokens.issue(Principal(user_id="adm", name="Admin", role=Role.ADMIN))
    group = empty.state.tokens.issue(
        Principal(user_id="g", name="G", role=Role.GROUP_MEMBER, organisation_id="x")
    )
    seen: list[int] = []
    jobs = empty.state.import_jobs
    real_start = jobs.start

    def watched(source, *args):
        # the progress callback's counts as the import goes, read as the page reads them
        job = real_start(source, *args)
        while not job.finished.wait(0.01):
            seen.append(job.done)
        return job

    jobs.start = watched
    files = {"file": ("feed.json", json.dumps(feed).encode(), "application/json")}
    with TestClient(empty) as c:
        as_group = {"Authorization": f"Bearer {group}"}
        assert c.post("/import-jobs", files=files, headers=as_group).status_code == 403
        headers = {"Authorization": f"Bearer {admin}"}
        started = c.post("/import-jobs", files=files, headers=headers)
        assert started.status_code == 202, started.text
        assert started.json()["total"] == 141 and started.json()["file"] == "feed.json"
        job = c.get(f"/import-jobs/{started.json()['id']}", headers=headers).json()
        assert c.get(f"/import-jobs/{job['id']}", headers=as_group).status_code == 403
        assert c.get("/import-jobs/nope", headers=headers).status_code == 404
    assert job["state"] == "done" and job["done"] == 141
    assert job["report"]["counts"]["created"] == 140 and job["report"]["counts"]["rejected"] == 1
    assert seen == sorted(seen) and seen[-1] <= 141  # it only moves forward
    assert any(0 < n < 141 for n in seen), "counted as it goes, not only at the end"
    assert _export(empty) == _export(demo)
    empty.state.runtime.close()


def test_the_command_line_imports_with_a_progress_bar_and_exports(tmp_path, monkeypatch, capsys):
    source = tmp_path / "demo.json"
    shutil.copy(
        Path(__file__).resolve().parents[2] / "services/directory/demo/directory.json", source
    )
    monkeypatch.setenv("SP_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("SP_DATA_DIR", str(tmp_path))
    assert main(["import", str(source), "--report", str(tmp_path / "report.json")]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out.strip().splitlines()[-1])["created"] == 140
    assert "importing" in err and "140/140" in err
    assert main(["export", "--format", "csv", str(tmp_path / "out.zip")]) == 0
    assert zipfile.is_zipfile(tmp_path / "out.zip")
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["counts"]["rejected"] == 0
