"""Handlers are keyed by event class; the "who consumes what" table and the AsyncAPI
document are generated from those registries and the event models, so they cannot drift."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from services import asyncapi
from shared.bus.consumer import Registry
from shared.events import EVENT_CLASSES, MatchesProposed, ReferralClosed, topic_of_class

ASYNCAPI_SCHEMA = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "asyncapi" / "asyncapi-3.0.0.json"
)


def _document() -> dict:
    return yaml.safe_load(asyncapi.DOCUMENT.read_text())


def test_the_asyncapi_document_is_valid_asyncapi_3():
    schema = json.loads(ASYNCAPI_SCHEMA.read_text())
    jsonschema.validate(_document(), schema)


def test_the_document_and_the_event_table_are_current():
    assert asyncapi.main(["--check"]) == 0, "run: python -m services.asyncapi"
    assert asyncapi.event_table() in asyncapi.EVENTS_MODULE.read_text()


def test_the_document_receives_exactly_what_each_registry_handles():
    document = _document()
    operations = document["operations"]
    for _service, groups in asyncapi.consumers().items():
        for group, registry in groups.items():
            received = set()
            ignored = set()
            for op in operations.values():
                if op.get("x-consumer-group") == group and op["action"] == "receive":
                    received |= {ref["$ref"].rsplit("/", 1)[1] for ref in op["messages"]}
                    ignored |= set(op["x-ignored"])
            assert received == {c.__name__ for c in registry.consumed}, group
            assert ignored == {c.__name__ for c in registry.ignored}, group
    for cls in EVENT_CLASSES:
        (channel,) = [
            c for c in document["channels"].values() if cls.__name__ in c.get("messages", {})
        ]
        assert channel["address"] == topic_of_class(cls)


def test_the_table_names_the_real_consumers():
    table = asyncapi.event_table()
    rows = {line.split()[1]: line for line in table.splitlines() if line.startswith("referrals")}
    assert rows["ReferralSubmitted"].endswith("referrals -> matcher, directory")  # reports
    assert rows["MatchConfirmed"].endswith("referrals -> matcher, directory")
    assert rows["MatchDeclined"].endswith("referrals -> matcher")
    assert rows["ReferralClosed"].endswith("referrals -> directory")
    assert rows["WellbeingChanged"].endswith("referrals -> directory")


def test_every_group_handles_or_deliberately_ignores_each_event_on_its_topics():
    for groups in asyncapi.consumers().values():
        for group, registry in groups.items():
            on_topics = {c for c in EVENT_CLASSES if topic_of_class(c) in registry.topics}
            assert on_topics == set(registry.consumed) | set(registry.ignored), group


def test_a_handler_missing_a_dependency_fails_at_start_up_not_on_the_first_event():
    def on_closed(session, event, env, *, outbox):
        raise AssertionError("never called")

    with pytest.raises(TypeError, match="outbox"):
        Registry({ReferralClosed: on_closed}).bind()
    bound = Registry({ReferralClosed: on_closed}).bind(outbox="the outbox", unused=1)
    assert bound.handlers[ReferralClosed].keywords == {"outbox": "the outbox"}


def test_a_class_cannot_be_both_handled_and_ignored():
    with pytest.raises(ValueError, match="MatchesProposed"):
        Registry({MatchesProposed: print}, ignored=frozenset({MatchesProposed}))


def test_every_service_serves_the_document(tmp_path):
    from fastapi.testclient import TestClient

    from services.matcher.app import create_app
    from tests.conftest import make_settings

    settings = make_settings(f"sqlite:///{tmp_path / 'm.db'}", tmp_path, run_workers=False)
    with TestClient(create_app(settings)) as client:
        served = client.get("/asyncapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads(json.dumps(_document()))
