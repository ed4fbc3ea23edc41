"""The authorisation matrix of the referrals API: every endpoint x every role x own and
other object, generated from the OpenAPI document, so that a new endpoint without a
rule here fails the first test and cannot be forgotten.

"Own" callers share the object's scope (its practice, the link-worker team, the group's
organisation); "other" callers have the same role with another scope. Refused means
401, 403 or 404 and nothing of the person in the answer; lists for another scope answer
without the object."""

from __future__ import annotations

import uuid

import pytest

from services.referrals import store
from tests.integration.test_referrals_api import FHIR, GROUP_ORG, Api
from tests.unit.test_referrals_fhir import service_request

PUBLIC = {"POST /auth/token", "GET /asyncapi.json"}
# operation -> (roles allowed besides admin, kind): kind "object" acts on the referral or
# connection in its path, "list" returns the caller's scope, "create" makes a new one.
RULES: dict[str, tuple[frozenset[str], str]] = {
    "POST /referrals": (frozenset({"practice_staff"}), "create"),
    "GET /referrals": (frozenset({"practice_staff", "link_worker"}), "list"),
    "GET /referrals/{referral_id}": (frozenset({"practice_staff", "link_worker"}), "object"),
    "PATCH /referrals/{referral_id}": (frozenset({"practice_staff", "link_worker"}), "object"),
    "GET /referrals/{referral_id}/audit": (frozenset(), "object"),
    "GET /referrals/{referral_id}/gp-message": (
        frozenset({"practice_staff", "link_worker"}),
        "object",
    ),
    "POST /referrals/{referral_id}/connections": (frozenset({"link_worker"}), "object"),
    "POST /referrals/{referral_id}/decline": (frozenset({"link_worker"}), "object"),
    "POST /referrals/{referral_id}/connections/{connection_id}/outcome": (
        frozenset({"link_worker"}),
        "object",
    ),
    "GET /worklist": (frozenset({"link_worker"}), "list"),
    "GET /gp-messages": (frozenset({"practice_staff"}), "list"),
    "GET /caseload": (frozenset({"link_worker"}), "list"),
    "POST /referrals/{referral_id}/assign": (frozenset({"link_worker"}), "object"),
    "POST /referrals/{referral_id}/contact-attempts": (frozenset({"link_worker"}), "object"),
    "POST /referrals/{referral_id}/close": (frozenset({"link_worker"}), "object"),
    "POST /referrals/{referral_id}/wellbeing": (frozenset({"link_worker"}), "object"),
    "GET /referrals/{referral_id}/wellbeing": (
        frozenset({"practice_staff", "link_worker"}),
        "object",
    ),
    "GET /group/referrals": (frozenset({"group_member"}), "list"),
    "GET /group/connections/{connection_id}": (frozenset({"group_member"}), "object"),
    "POST /group/connections/{connection_id}/outcome": (frozenset({"group_member"}), "object"),
    "POST /group/connections/{connection_id}/{answer}": (frozenset({"group_member"}), "object"),
    "POST /fhir/ServiceRequest": (frozenset({"practice_staff"}), "create"),
    "GET /admin/users": (frozenset(), "list"),
    "POST /admin/users": (frozenset(), "create"),
    "POST /admin/users/{username}/password": (frozenset(), "object"),
    "POST /admin/users/{username}/deactivate": (frozenset(), "object"),
    "GET /admin/audit": (frozenset(), "list"),
}
# role -> (own caller, other caller): the other has the same role and another scope
CALLERS = {
    "practice_staff": ("gp", "gp2"),
    "link_worker": ("linkworker", "linkworker-elsewhere"),
    "group_member": ("group", "group-elsewhere"),
    "commissioner": ("commissioner", "commissioner"),
    "admin": ("admin", "admin"),
}
REFUSED = {401, 403, 404}
#: What even an administrator cannot do, and why: a referral comes from a practice.
ADMIN_CANNOT = {
    "POST /referrals": "no practice (ODS code)",
    "POST /fhir/ServiceRequest": "no practice (ODS code)",
}


def _operations(api: Api) -> list[str]:
    spec = api.client.app.openapi()
    return sorted(
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        for method in operations
    )


def test_every_endpoint_has_a_rule_in_the_matrix(api: Api):
    operations = set(_operations(api))
    assert operations - PUBLIC - set(RULES) == set(), "add the new endpoint to RULES"
    assert set(RULES) - operations == set(), "a rule for an endpoint that is gone"


def _add_others(api: Api) -> None:
    with api.client.app.state.sessions.begin() as session:
        for username, role, scope in (
            ("linkworker-elsewhere", "link_worker", {"team": "another-team"}),
            ("group-elsewhere", "group_member", {"organisation_id": "org-other"}),
        ):
            session.execute(
                store.users.insert().values(
                    id=str(uuid.uuid4()),
                    username=username,
                    name=username,
                    password_hash="-",
                    role=role,
                    active=True,
                    created_at=store.now(),
                    **scope,
                )
            )


def _example(api: Api, operation: str):
    method, path = operation.split(" ", 1)
    spec = api.client.app.openapi()
    body = spec["paths"][path][method.lower()].get("requestBody")
    if body is None:
        return {}
    if path.startswith("/fhir/"):
        return {"json": service_request(), "headers": {"Content-Type": FHIR}}
    ref = body["content"]["application/json"]["schema"].get("$ref", "")
    schema = spec["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    return {"json": (schema.get("examples") or [{}])[0]}


def _refused(answer, kind: str, referral: str) -> bool:
    """Refused outright, or (a list for another scope) answered without the referral."""
    if answer.status_code in REFUSED:
        return True
    if answer.status_code == 422 and "errors" in answer.json():
        return True  # the body was refused before anything was read or done
    listed = referral in answer.text or "Margaret" in answer.text
    return kind == "list" and answer.status_code == 200 and not listed


def _objects(api: Api) -> tuple[str, dict[str, str]]:
    """Another practice's and organisation's accounts, one referral with a connection, and
    the values that fill each path's placeholders."""
    _add_others(api)
    referral = api.refer()
    connection = api.connect(referral, "Garden Club", organisation_id=GROUP_ORG)
    return referral, {
        "{referral_id}": referral,
        "{connection_id}": connection,
        "{answer}": "accept",
        "{username}": "reception",
    }


def _request_line(operation: str, values: dict[str, str]) -> tuple[str, str]:
    method, path = operation.split(" ", 1)
    for name, value in values.items():
        path = path.replace(name, value)
    return method, path


def test_no_role_or_scope_is_wrongly_allowed(api: Api):
    referral, values = _objects(api)
    checked, wrongly_allowed = 0, []
    for operation, (allowed, kind) in RULES.items():
        method, path = _request_line(operation, values)
        request = _example(api, operation)
        nobody = api.client.request(method, path, **request)
        checked += 1
        if nobody.status_code != 401:
            wrongly_allowed.append((operation, "nobody", nobody.status_code))
        for role, (own, other) in CALLERS.items():
            for scope, username in (("other", other), ("own", own)):
                own_scope = scope == "own" or kind == "create"
                if role == "admin" or (role in allowed and own_scope):
                    continue  # the positive cells: the last test, and the rest of the suite
                answer = api.call(username, method, path, **request)
                checked += 1
                if not _refused(answer, kind, referral):
                    wrongly_allowed.append((operation, username, answer.status_code))
    print(
        f"\nauthorisation matrix: {checked} cells refused, {len(wrongly_allowed)} wrongly allowed"
    )
    assert wrongly_allowed == []
    assert checked > 100


@pytest.mark.parametrize("role", sorted(CALLERS))
def test_the_roles_allowed_are_let_in_on_their_own_objects(api: Api, role: str):
    _referral, values = _objects(api)
    own = CALLERS[role][0]
    for operation, (allowed, _kind) in RULES.items():
        if role != "admin" and role not in allowed:
            continue
        method, path = _request_line(operation, values)
        answer = api.call(own, method, path, **_example(api, operation))
        if role == "admin" and operation in ADMIN_CANNOT:
            assert answer.status_code == 403, (operation, answer.text)
            assert ADMIN_CANNOT[operation] in answer.text
            continue
        assert answer.status_code not in REFUSED, (operation, own, answer.text)
