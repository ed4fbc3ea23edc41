"""Schemathesis drives each service's own OpenAPI document with every check it has
(``--checks all``): generated requests, valid and invalid, for every operation, as an
administrator and as a caller with a narrower role, in-process (ASGI).

What must hold: no 5xx ever; every status code, header, content type and body is the one
the document declares; invalid data is refused; valid data is accepted — except where an
operation enforces a rule that JSON Schema cannot state (a Modulus 11 check digit, a date
not in the future, a state the referral must be in). Those rules are listed in
``BUSINESS_RULES`` with the reason, and there a refusal must still be a 4xx that names
the field and says why (the same body every other refusal has).

Bounded for CI: ``SP_SCHEMATHESIS_CASES`` examples per operation (default 20); a longer
run is the same test with a larger number. The figures it prints go in the README.
"""

from __future__ import annotations

import os
import time
from collections import Counter

import pytest
import schemathesis
import schemathesis.specs.openapi.checks  # registers the OpenAPI checks
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CHECKS
from schemathesis.specs.openapi.checks import positive_data_acceptance

from services.directory.app import create_app as directory_app
from shared.auth import Principal, Role
from tests.conftest import make_settings
from tests.integration.test_referrals_api import _api

CASES = int(os.environ.get("SP_SCHEMATHESIS_CASES", "20"))
ALL_CHECKS = CHECKS.get_all()

#: Operations whose valid-by-schema requests may still be refused, and why JSON Schema
#: cannot say so. The refusal must be a 4xx whose body names the field and the reason.
BUSINESS_RULES: dict[str, str] = {
    "POST /referrals": "an NHS number's Modulus 11 check digit; a UK postcode; an adult's "
    "birth date relative to today; consent given; a phone when phone is the contact",
    "POST /fhir/ServiceRequest": "a FHIR ServiceRequest is validated as FHIR, inside the "
    "resource (identifiers, the Patient's birth date, consent extensions)",
    "PATCH /referrals/{referral_id}": "an edit must change something of an open referral",
    "POST /referrals/{referral_id}/contact-attempts": "the date is not in the future",
    "POST /referrals/{referral_id}/wellbeing": "a questionnaire is answered in full",
    "POST /group/connections/{connection_id}/{answer}": "a decline says why",
    "POST /admin/users": "each role needs its own scope (practice, team or organisation)",
    "POST /auth/token": "only the right username and password sign in",
    "POST /organisations/{organisation_id}/services": "a session closes after it opens; a "
    "UK postcode; a look-alike of an existing service is a 409 unless allow_duplicate",
    "PUT /services/{service_id}": "a session closes after it opens; a UK postcode",
    "POST /imports": "the upload is a JSON document or a zip of HSDS CSV files",
    "POST /import-jobs": "the upload is a JSON document or a zip of HSDS CSV files",
    "POST /services/{service_id}/places": "places a week go only with 'places left'",
    "GET /openreferral/service_at_locations": "a postcode the directory can place",
    "GET /reports/{name}": "a period between 2000 and 2999 (JSON Schema bounds no dates)",
    "POST /services/{service_id}/review": "only a paused service has a date it reopens",
}


def _named_refusal(response) -> bool:
    """A 4xx that says which field and why (or a FHIR OperationOutcome that does)."""
    if not 400 <= response.status_code < 500:
        return False
    body = response.json()
    if body.get("resourceType") == "OperationOutcome":
        return all(issue.get("diagnostics") for issue in body.get("issue", []))
    return bool(body.get("detail")) and (
        response.status_code != 422 or bool(body.get("field") or body.get("errors"))
    )


def _drive(app, headers: dict[str, str]) -> tuple[int, Counter]:
    """Every operation, ``CASES`` examples each; returns (cases run, failures by kind)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: Counter = Counter()
    cases = 0
    with TestClient(app):
        for result in schema.get_all_operations():
            cases += _drive_one(result.ok(), headers, failures)
    return cases, failures


def _drive_one(operation, headers: dict[str, str], failures: Counter) -> int:
    label = operation.label
    ruled = label in BUSINESS_RULES
    cases = 0

    @given(case=operation.as_strategy())
    @settings(
        max_examples=CASES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    def run(case):
        nonlocal cases
        cases += 1
        response = case.call(headers=headers)
        try:
            case.validate_response(
                response,
                checks=ALL_CHECKS,
                excluded_checks=[positive_data_acceptance] if ruled else None,
            )
        except BaseException as exc:  # a FailureGroup of the checks that failed
            failures[f"{label}: {' '.join(str(exc).split())[:300]}"] += 1
        if ruled and response.status_code >= 400 and not _named_refusal(response):
            failures[f"{label}: refusal names no field: {response.text[:200]}"] += 1

    run()
    return cases


def _report(service: str, role: str, cases: int, failures: Counter, seconds: float) -> None:
    print(
        f"\nschemathesis {service} as {role}: {cases} cases, {sum(failures.values())} "
        f"failures, {seconds:.0f} s"
    )
    for failure, count in failures.most_common(30):
        print(f"  {count} x {failure}")


@pytest.mark.slow
@pytest.mark.parametrize("username", ["admin", "gp"])
def test_the_referrals_api_does_what_its_openapi_document_says(username, tmp_path):
    started = time.perf_counter()
    api = next(_api(f"sqlite:///{tmp_path / 'r.db'}", tmp_path))
    cases, failures = _drive(api.client.app, api.as_(username))
    _report("referrals", username, cases, failures, time.perf_counter() - started)
    assert cases > 0 and not failures


@pytest.mark.slow
@pytest.mark.parametrize("role", [Role.ADMIN, Role.GROUP_MEMBER])
def test_the_directory_api_does_what_its_openapi_document_says(role, tmp_path):
    started = time.perf_counter()
    settings_ = make_settings(
        f"sqlite:///{tmp_path / 'd.db'}",
        tmp_path,
        load_demo_data=True,
        run_workers=False,
        openreferral_rate_limit="1000000/minute",
    )
    app = directory_app(settings_)
    try:
        token = app.state.tokens.issue(
            Principal(
                user_id=f"st-{role}",
                name="Fuzz",
                role=role,
                organisation_id="org-thameside-advice" if role is Role.GROUP_MEMBER else None,
            )
        )
        cases, failures = _drive(app, {"Authorization": f"Bearer {token}"})
    finally:
        app.state.runtime.close()
    _report("directory", role.value, cases, failures, time.perf_counter() - started)
    assert cases > 0 and not failures
