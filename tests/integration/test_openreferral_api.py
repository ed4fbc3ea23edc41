"""The directory read as Open Referral UK 3.0: public, paged, filtered, open to every
origin, throttled, and every response valid against the profile's compiled schemas."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from services.directory import store
from services.directory.app import create_app
from services.directory.openreferral import TAXONOMY_ID, term_id
from tests.conftest import make_settings
from tests.openreferral_profile import assert_valid, needs_profile, page_validator

pytestmark = needs_profile


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("oruk")
    settings = make_settings(
        f"sqlite:///{tmp / 'd.db'}",
        tmp,
        load_demo_data=True,
        run_workers=False,
        openreferral_rate_limit="100000/minute",
    )
    app = create_app(settings)
    with TestClient(app) as c:
        yield c


def _all(client, path: str, **params) -> list[dict]:
    items, page = [], 1
    while True:
        body = client.get(path, params={**params, "page": page, "per_page": 40}).json()
        items += body["contents"]
        if body["last_page"]:
            return items
        page += 1


def test_the_api_root_says_which_hsds_version_and_profile(client):
    response = client.get("/openreferral/")
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == "3.0" and body["profile"].startswith("https://")
    assert client.get(body["openapi_url"].removeprefix("http://testserver")).status_code == 200


def test_every_service_list_page_and_full_service_is_valid_against_the_profile(client):
    response = client.get("/openreferral/services", params={"per_page": 25})
    assert response.status_code == 200, response.text
    body = response.json()
    assert not list(page_validator().iter_errors(body))
    assert body["total_items"] == 140 and body["total_pages"] == 6 and body["size"] == 25
    assert body["first_page"] and not body["last_page"] and not body["empty"]
    services = _all(client, "/openreferral/services")
    assert len(services) == 140 and len({s["id"] for s in services}) == 140
    for item in services:
        assert_valid("compiled/service_list.json", item)
    for item in services:
        full = client.get(f"/openreferral/services/{item['id']}")
        assert full.status_code == 200
        assert_valid("compiled/service.json", full.json())


def test_a_full_service_maps_our_fields_onto_hsds(client):
    item = client.get("/openreferral/services", params={"search": "money clinic"}).json()
    [summary] = item["contents"]
    service = client.get(f"/openreferral/services/{summary['id']}").json()
    assert service["name"] == "Money clinic" and service["status"] == "active"
    assert service["minimum_age"] == 18 and "maximum_age" not in service
    assert service["assured_date"] == "2026-10-02"
    assert service["organization"]["name"] == "Thameside Advice Centre"
    [sal] = service["service_at_locations"]
    [address] = sal["location"]["addresses"]
    assert address["postal_code"] == "DA8 1TW" and address["country"] == "GB"
    assert (
        address["address_1"] == "Riverside Community Hub, Pier Road" and address["city"] == "Erith"
    )
    assert {a["description"] for a in sal["location"]["accessibility"]} == {
        "Wheelchair access",
        "Step-free access",
        "Accessible toilet",
    }
    byday = {s["byday"]: (s["opens_at"], s["closes_at"]) for s in service["schedules"]}
    assert byday == {"MO,WE,FR": ("09:30:00", "16:00:00"), "TU": ("10:00:00", "13:00:00")}
    assert all(s["freq"] == "WEEKLY" and s["interval"] == 1 for s in service["schedules"])
    assert {(lang["name"], lang.get("code")) for lang in service["languages"]} == {
        ("English", "en"),
        ("Polish", "pl"),
        ("Lithuanian", "lt"),
    }
    assert service["cost_options"][0]["amount"] == 0
    [attribute] = service["attributes"]
    assert attribute["taxonomy_term"]["name"] == "money and debt"
    [capacity] = service["service_capacity"]
    assert capacity["maximum"] == 35 and capacity["available"] == 35
    assert service["x_local"]["id"] == "svc-tac-money-clinic"
    assert service["x_local"]["delivery"] == ["in_person", "phone"]
    # our own id reads the same entry
    assert client.get("/openreferral/services/svc-tac-money-clinic").json()["id"] == service["id"]


def test_lists_of_organizations_locations_and_taxonomies_are_valid(client):
    orgs = _all(client, "/openreferral/organizations")
    assert len(orgs) == 59
    for org in orgs:
        assert_valid("compiled/organization_list.json", org)
    full = client.get(f"/openreferral/organizations/{orgs[0]['id']}").json()
    assert_valid("compiled/organization.json", full)
    assert full["services"] and all(s["organization_id"] == orgs[0]["id"] for s in full["services"])
    sals = _all(client, "/openreferral/service_at_locations")
    assert sals
    for sal in sals:
        assert_valid("compiled/service_at_location_list.json", sal)
    one = client.get(f"/openreferral/service_at_locations/{sals[0]['id']}").json()
    assert_valid("compiled/service_at_location.json", one)
    taxonomies = client.get("/openreferral/taxonomies").json()
    assert not list(page_validator().iter_errors(taxonomies))
    for taxonomy in taxonomies["contents"]:
        assert_valid("taxonomy.json", taxonomy)
    terms = _all(client, "/openreferral/taxonomy_terms")
    assert len(terms) > 5
    for term in terms:
        assert_valid("taxonomy_term.json", term)
        assert term["taxonomy_id"] == TAXONOMY_ID
    term = client.get(f"/openreferral/taxonomy_terms/{terms[0]['id']}").json()
    assert term == terms[0]


def test_pages_past_the_end_are_empty_and_bad_paging_names_the_field(client):
    body = client.get("/openreferral/services", params={"page": 99, "per_page": 50}).json()
    assert body["contents"] == [] and body["page_number"] == 99 and body["last_page"]
    for params, field in (({"page": 0}, "page"), ({"per_page": "lots"}, "per_page")):
        response = client.get("/openreferral/services", params=params)
        assert response.status_code == 422 and field in response.json()["detail"]


def test_a_query_parameter_given_twice_is_refused_unless_it_takes_a_list(client):
    # found by schemathesis: ?page=0.92&...&page=4719138326944847.0 was answered 200
    for path in ("/openreferral/services", "/openreferral/organizations"):
        response = client.get(path, params=[("page", "1"), ("page", "2")])
        assert response.status_code == 422, (path, response.text)
        assert response.json()["field"] == "page"
        assert "page: give this query parameter once" in response.json()["detail"]
    assert client.get("/openreferral/services", params={"page": "1"}).status_code == 200


def test_services_filter_by_every_profile_parameter(client):
    def names(**params):
        return {s["name"] for s in _all(client, "/openreferral/services", **params)}

    everything = names()
    assert "Money clinic" in names(search="Money clinic")
    assert names(search="zzzz-nothing") == set()
    debt = names(taxonomy_term_id=term_id("money and debt"))
    assert "Money clinic" in debt and debt < everything
    assert names(taxonomy_id=TAXONOMY_ID) == everything
    assert names(taxonomy_id="00000000-0000-0000-0000-000000000000") == set()
    over_50 = _all(client, "/openreferral/services", minimum_age=50)
    assert over_50 and all(s["minimum_age"] >= 50 for s in over_50)
    capped = _all(client, "/openreferral/services", maximum_age=30)
    assert all(s["maximum_age"] <= 30 for s in capped)
    tuesday = names(day="TU")
    assert "Money clinic" in tuesday and names(day="tuesday") == tuesday
    mornings = names(day="TU", start_time="10:00", end_time="13:00")
    assert "Money clinic" in mornings and "Money clinic" not in names(day="TU", end_time="12:00")
    for params, field in (
        ({"day": "someday"}, "day"),
        ({"start_time": "noon"}, "start_time"),
        ({"minimum_age": "old"}, "minimum_age"),
    ):
        response = client.get("/openreferral/services", params=params)
        assert response.status_code == 422 and field in response.json()["detail"]


def test_service_at_locations_near_a_postcode_are_within_the_proximity_and_nearest_first(
    client,
):
    near = _all(client, "/openreferral/service_at_locations", postcode="DA8 1TW", proximity=1500)
    everything = _all(client, "/openreferral/service_at_locations")
    assert 0 < len(near) < len(everything)
    assert near[0]["service"]["name"] in {"Money clinic"} or near[0]["location"]["name"]
    ordered = _all(client, "/openreferral/service_at_locations", postcode="DA8 1TW")
    assert len(ordered) <= len(everything) and ordered[: len(near)] == near
    response = client.get("/openreferral/service_at_locations", params={"postcode": "ZZ9 9ZZ"})
    assert response.status_code == 422 and "postcode" in response.json()["detail"]
    response = client.get("/openreferral/service_at_locations", params={"proximity": "100"})
    assert response.status_code == 422 and "proximity" in response.json()["detail"]


def test_no_token_is_needed_and_every_response_is_open_to_any_origin(client):
    for path in (
        "/openreferral/",
        "/openreferral/services",
        "/openreferral/services/nope",  # 404
        "/openreferral/services?page=0",  # 422
        "/openreferral/no_such_endpoint",
    ):
        response = client.get(path)
        assert response.status_code in (200, 404, 422)
        assert response.headers["access-control-allow-origin"] == "*", path
    preflight = client.options(
        "/openreferral/services",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "GET" in preflight.headers["access-control-allow-methods"]


def test_a_temporarily_closed_service_says_when_it_reopens(client):
    app = client.app
    with app.state.sessions.begin() as session:
        session.execute(
            update(store.services)
            .where(store.services.c.id == "svc-tac-money-clinic")
            .values(status="temporarily_closed", reopens_on=date(2027, 1, 4))
        )
    try:
        service = client.get("/openreferral/services/svc-tac-money-clinic").json()
        assert service["status"] == "temporarily closed"
        assert "2027-01-04" in service["alert"]
        assert service["x_local"]["reopens_on"] == "2027-01-04"
        assert_valid("compiled/service.json", service)
    finally:
        with app.state.sessions.begin() as session:
            session.execute(
                update(store.services)
                .where(store.services.c.id == "svc-tac-money-clinic")
                .values(status="active", reopens_on=None)
            )


def test_places_free_are_withheld_when_they_would_reveal_a_small_count(client):
    app = client.app
    today = date.today()
    with app.state.sessions.begin() as session:
        session.execute(
            store.connections.insert(),
            [
                {
                    "connection_id": f"c-small-{i}",
                    "referral_id": f"r-{i}",
                    "service_id": "svc-tac-money-clinic",
                    "mode": "referral",
                    "confirmed_on": today,
                }
                for i in range(2)
            ],
        )
    [capacity] = client.get("/openreferral/services/svc-tac-money-clinic").json()[
        "service_capacity"
    ]
    assert "available" not in capacity and capacity["maximum"] == 35
    with app.state.sessions.begin() as session:
        session.execute(
            store.connections.insert(),
            [
                {
                    "connection_id": f"c-more-{i}",
                    "referral_id": f"r-more-{i}",
                    "service_id": "svc-tac-money-clinic",
                    "mode": "referral",
                    "confirmed_on": today,
                }
                for i in range(4)
            ],
        )
    [capacity] = client.get("/openreferral/services/svc-tac-money-clinic").json()[
        "service_capacity"
    ]
    assert capacity["available"] == 35 - 6
    with app.state.sessions.begin() as session:
        session.execute(
            store.connections.delete().where(store.connections.c.connection_id.like("c-%"))
        )


def test_each_client_is_throttled_and_told_when_to_come_back(tmp_path):
    settings = make_settings(
        f"sqlite:///{tmp_path / 'd.db'}",
        tmp_path,
        run_workers=False,
        openreferral_rate_limit="3/minute",
    )
    with TestClient(create_app(settings)) as c:
        assert [c.get("/openreferral/taxonomies").status_code for _ in range(3)] == [200] * 3
        response = c.get("/openreferral/taxonomies")
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) >= 1
        assert response.headers["access-control-allow-origin"] == "*"
        assert c.get("/healthz").status_code == 200  # the rest of the service is not throttled
