"""Signing in and staying signed in safely: back-off and lockout per username and per
address, no username enumeration by timing, CSRF tokens and origin checks for the page
cookie, sign-out by POST, /docs without a CDN, no caching of patient data, and private
files on disk."""

from __future__ import annotations

import re
import stat
import statistics
import time

from shared.auth import COOKIE_NAME, CSRF_COOKIE, CSRF_HEADER
from shared.db import make_engine
from tests.conftest import make_settings
from tests.integration.test_referrals_api import REFERRAL, Api


def _sign_in(api: Api, username: str, password: str = "demo", **headers):
    return api.client.post(
        "/auth/token", data={"username": username, "password": password}, headers=headers
    )


def test_failed_sign_ins_back_off_per_username_with_retry_after(api: Api):
    for _ in range(5):
        assert _sign_in(api, "gp", "wrong").status_code == 400
    locked = _sign_in(api, "gp")  # even the right password waits
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) >= 1
    assert "try again in" in locked.json()["detail"]
    assert _sign_in(api, "gp2").status_code == 200, "other users are not locked out"
    time.sleep(int(locked.headers["retry-after"]) + 0.1)
    assert _sign_in(api, "gp").status_code == 200
    assert _sign_in(api, "gp", "wrong").status_code == 400, "a success starts the count again"


def test_failed_sign_ins_back_off_per_client_address(api: Api):
    for i in range(20):
        assert _sign_in(api, f"nobody-{i}", "guess").status_code == 400
    locked = _sign_in(api, "gp")
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1


def test_an_unknown_username_takes_as_long_as_a_wrong_password(api: Api):
    def timed(username: str) -> float:
        started = time.perf_counter()
        assert _sign_in(api, username, "wrong").status_code == 400
        return time.perf_counter() - started

    _sign_in(api, "warm-up", "wrong")
    known = statistics.median(timed("gp") for _ in range(4))
    unknown = statistics.median(timed(f"nobody-{i}") for i in range(4))
    assert 0.5 < unknown / known < 2, (known, unknown)


def _cookie_client(api: Api) -> dict[str, str]:
    """Sign in through the page form, as a browser does: the session and CSRF cookies."""
    origin = str(api.client.base_url)
    answer = api.client.post(
        "/login",
        data={"username": "gp", "password": "demo"},
        headers={"Origin": origin},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return {COOKIE_NAME: answer.cookies[COOKIE_NAME], CSRF_COOKIE: answer.cookies[CSRF_COOKIE]}


def test_the_page_cookie_changes_nothing_without_the_csrf_token_and_own_origin(api: Api):
    cookies = _cookie_client(api)  # the client keeps them, as a browser does
    origin = str(api.client.base_url)

    def post(**headers):
        return api.client.post(
            "/referrals",
            json=REFERRAL,
            headers={"Accept": "application/json", **headers},
        )

    missing = post(Origin=origin)
    assert missing.status_code == 403 and "CSRF" in missing.json()["detail"]
    wrong = post(Origin=origin, **{CSRF_HEADER: "guessed"})
    assert wrong.status_code == 403
    elsewhere = post(Origin="https://evil.example", **{CSRF_HEADER: cookies[CSRF_COOKIE]})
    assert elsewhere.status_code == 403 and "own pages" in elsewhere.json()["detail"]
    made = post(Origin=origin, **{CSRF_HEADER: cookies[CSRF_COOKIE]})
    assert made.status_code == 201, made.text
    read = api.client.get(f"/referrals/{made.json()['id']}")
    assert read.status_code == 200, "reading needs no token"
    bearer = api.call("gp", "POST", "/referrals", json={**REFERRAL, "nhs_number": "4010232137"})
    assert bearer.status_code in (200, 201), "bearer tokens need no CSRF token"


def test_sign_in_and_sign_out_cannot_be_forced_from_another_site(api: Api):
    forced = api.client.post(
        "/login",
        data={"username": "gp", "password": "demo"},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert forced.status_code == 403 and COOKIE_NAME not in forced.cookies
    assert api.client.get("/logout", follow_redirects=False).status_code == 405
    out = api.client.post(
        "/logout", headers={"Origin": str(api.client.base_url)}, follow_redirects=False
    )
    assert out.status_code == 303


def test_docs_load_nothing_from_another_site_and_carry_security_headers(api: Api):
    page = api.client.get("/docs")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/") for s in sources), sources
    for source in sources:
        assert api.client.get(source).status_code == 200, source


def test_patient_data_is_never_cached_or_sniffed(api: Api):
    referral = api.refer()
    for url in (f"/referrals/{referral}", "/referrals"):
        answer = api.call("gp", "GET", url)
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_the_database_file_and_data_folder_are_private(tmp_path):
    url = f"sqlite:///{tmp_path / 'var' / 'socialrx.db'}"
    engine = make_engine(url)
    with engine.connect():
        pass
    engine.dispose()
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "var" / "socialrx.db").stat().st_mode) == 0o600
    settings = make_settings(url, tmp_path / "data", jwt_secret=None)
    settings.resolved_jwt_secret()
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "data" / "jwt-secret").stat().st_mode) == 0o600


def test_an_in_memory_database_leaves_no_file_behind(tmp_path, monkeypatch):
    """``sqlite://`` is an in-memory database: no file named after the URL appears in
    the working directory (one named ``sqlite:`` used to)."""
    monkeypatch.chdir(tmp_path)
    for url in ("sqlite://", "sqlite:///:memory:"):
        engine = make_engine(url)
        with engine.connect():
            pass
        engine.dispose()
    assert list(tmp_path.iterdir()) == []
