"""Bad input gets a clear 4xx naming the field, never a 500 and never stored garbage:
bodies over the size limit, unbounded lists and strings, control characters, strings
for booleans, non-web links, impossible dates, deeply nested FHIR, and out-of-area
postcodes (accepted, flagged as outside the area)."""

from __future__ import annotations

import json

import pytest

from services.directory.app import create_app as directory_app
from shared.auth import Principal, Role
from tests.conftest import make_settings
from tests.integration.test_referrals_api import FHIR, REFERRAL, Api
from tests.unit.test_referrals_fhir import service_request


def _refused(response, field: str, status: int = 422) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    fields = [e["field"] for e in body.get("errors", [])] or [body.get("field")]
    assert any(f == field or f.startswith(f"{field}.") for f in fields), body
    return body["detail"]


def test_a_body_over_the_size_limit_is_refused_with_413(api: Api):
    big = {**REFERRAL, "needs": "x" * 2_000_000}
    response = api.call("gp", "POST", "/referrals", json=big)
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]

    def chunks():  # no Content-Length: the body is counted as it streams in
        for _ in range(30):
            yield b"x" * 100_000

    streamed = api.call(
        "gp",
        "POST",
        "/referrals",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert streamed.status_code == 413


def test_lists_and_strings_are_bounded(api: Api):
    long_language = {**REFERRAL, "languages": ["x" * 1000]}
    _refused(api.call("gp", "POST", "/referrals", json=long_language), "languages")
    many = {**REFERRAL, "languages": [f"lang{i}" for i in range(11)]}
    _refused(api.call("gp", "POST", "/referrals", json=many), "languages")
    referral = api.refer()
    decline = {"service_ids": ["s"] * 51, "reason": "no"}
    _refused(
        api.call("linkworker", "POST", f"/referrals/{referral}/decline", json=decline),
        "service_ids",
    )


@pytest.mark.parametrize("field", ["given_name", "family_name", "needs", "postcode", "phone"])
def test_nul_and_control_characters_are_refused(api: Api, field: str):
    value = {"needs": "lonely\x00 since March", "postcode": "DA5\x001GP"}.get(field, "Ann\x1b[2J")
    detail = _refused(api.call("gp", "POST", "/referrals", json={**REFERRAL, field: value}), field)
    assert "control characters" in detail or "postcode" in detail


def test_consent_must_be_a_real_boolean(api: Api):
    for field in ("consent_to_refer", "consent_to_share"):
        body = {**REFERRAL, field: "true"}
        _refused(api.call("gp", "POST", "/referrals", json=body), field)


def test_placeholder_nhs_numbers_are_refused(api: Api):
    for number in ("0000000000", "1111111111"):
        body = {**REFERRAL, "nhs_number": number}
        _refused(api.call("gp", "POST", "/referrals", json=body), "nhs_number")


def test_a_birth_date_in_1800_is_a_422_on_both_intakes(api: Api):
    detail = _refused(
        api.call("gp", "POST", "/referrals", json={**REFERRAL, "birth_date": "1800-01-01"}),
        "birth_date",
    )
    assert "check the year" in detail
    doc = service_request()
    doc["contained"][0]["birthDate"] = "1800-01-01"
    fhir = api.call("gp", "POST", "/fhir/ServiceRequest", json=doc, headers={"Content-Type": FHIR})
    assert fhir.status_code == 422
    assert fhir.headers["content-type"].startswith(FHIR)
    issue = fhir.json()["issue"][0]
    assert issue["expression"][0].startswith("Patient.birthDate")
    assert "check the year" in issue["diagnostics"]


def test_deeply_nested_fhir_is_a_400_operation_outcome(api: Api):
    nested = b"[" * 50_000 + b"]" * 50_000
    response = api.call(
        "gp", "POST", "/fhir/ServiceRequest", content=nested, headers={"Content-Type": FHIR}
    )
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    doc = json.dumps(service_request())[:-1] + ', "extension": ' + "[" * 900 + "]" * 900 + "}"
    deep = api.call(
        "gp", "POST", "/fhir/ServiceRequest", content=doc, headers={"Content-Type": FHIR}
    )
    assert 400 <= deep.status_code < 500
    assert deep.json()["resourceType"] == "OperationOutcome"
    as_json = api.call(
        "gp", "POST", "/referrals", content=nested, headers={"Content-Type": "application/json"}
    )
    assert 400 <= as_json.status_code < 500


def test_an_out_of_area_postcode_is_accepted_and_flagged(api: Api):
    response = api.call("gp", "POST", "/referrals", json={**REFERRAL, "postcode": "ZZ99 9ZZ"})
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["ward"] is None and answer["outside_area"] is True
    assert answer["note"].startswith("postcode: outside the area")
    detail = api.call("gp", "GET", f"/referrals/{answer['id']}").json()
    assert detail["outside_area"] is True
    listed = api.call("gp", "GET", "/referrals").json()
    assert listed[0]["outside_area"] is True
    inside = api.call("gp2", "POST", "/referrals", json=REFERRAL).json()
    assert inside["outside_area"] is False and inside["ward"]


@pytest.fixture
def directory(tmp_path):
    from fastapi.testclient import TestClient

    settings = make_settings(
        f"sqlite:///{tmp_path / 'd.db'}", tmp_path, run_workers=False, load_demo_data=True
    )
    with TestClient(directory_app(settings)) as client:
        yield client


def _as(client, role: Role, **scope) -> dict[str, str]:
    token = client.app.state.tokens.issue(Principal("u-1", "Tester", role, **scope))
    return {"Authorization": f"Bearer {token}"}


def test_the_directory_refuses_oversized_services_and_unsafe_links(directory):
    admin = _as(directory, Role.ADMIN)
    organisation = directory.put(
        "/organisations/org-welling-community-hall",
        json={"name": "Welling Hall", "website": "javascript:alert(1)"},
        headers=admin,
    )
    _refused(organisation, "website")
    service = {
        "name": "Cuppa Club",
        "categories": ["social connection"],
        "keywords": ["x" * 1_000],
    }
    url = "/organisations/org-welling-community-hall/services"
    _refused(directory.post(url, json=service, headers=admin), "keywords")
    rows = [{"weekday": "MO", "opens": "10:00", "closes": "11:00"}] * 51
    _refused(
        directory.post(
            url, json={**service, "keywords": [], "regular_schedule": rows}, headers=admin
        ),
        "regular_schedule",
    )
    _refused(
        directory.post(url, json={**service, "keywords": [], "name": "Cuppa\x00"}, headers=admin),
        "name",
    )


def test_a_report_for_the_year_9999_is_a_422(directory):
    commissioner = _as(directory, Role.COMMISSIONER)
    response = directory.get("/reports/demand?from=9999-12-01&to=9999-12-31", headers=commissioner)
    _refused(response, "from")


# --- methods ----------------------------------------------------------------------------


def test_a_method_not_allowed_names_every_method_the_path_takes(api):
    """``/referrals`` takes GET and POST: a 405 (and an OPTIONS) says both, not only the
    first route's method, so a client can tell what it may do."""
    for method in ("DELETE", "PUT"):
        answer = api.call("gp", method, "/referrals")
        assert answer.status_code == 405
        assert answer.headers["allow"] == "GET, OPTIONS, POST"
        assert "GET, OPTIONS, POST" in answer.json()["detail"]
    options = api.call("gp", "OPTIONS", "/referrals/some-id")
    assert options.status_code == 204
    assert options.headers["allow"] == "GET, OPTIONS, PATCH"
