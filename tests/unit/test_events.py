"""Event contracts: envelopes round-trip, keys keep one referral in order, bad bytes
are refused with a reason, and old schema versions are upcast on reading."""

from __future__ import annotations

import json
import uuid

import pytest

from shared.events import (
    DIRECTORY_TOPIC,
    MATCHES_TOPIC,
    REFERRALS_TOPIC,
    InvalidEvent,
    MatchesProposed,
    ProposedMatch,
    ReferralClosed,
    ReferralProfile,
    ReferralSubmitted,
    ServiceSnapshot,
    ServiceUpserted,
    decode,
    encode,
    new_envelope,
    topic_for,
)


def test_an_envelope_round_trips_with_its_key_and_topic():
    event = ReferralSubmitted(
        referral_id="r-1",
        practice_ods="G83001",
        profile=ReferralProfile(age=72, needs_text="lonely", ward="Erith"),
    )
    envelope = new_envelope(event, "referrals@test")
    again = decode(encode(envelope))
    assert again == envelope
    assert again.key == "r-1" and again.schema_version == 1
    assert topic_for(event) == REFERRALS_TOPIC


def test_directory_events_are_keyed_by_service_for_compaction():
    snapshot = ServiceSnapshot(
        id="svc-1", organisation_id="org-1", organisation_name="Org", name="S"
    )
    envelope = new_envelope(ServiceUpserted(revision=3, service=snapshot), "directory@test")
    assert envelope.key == "svc-1"
    assert topic_for(envelope.payload) == DIRECTORY_TOPIC


def test_the_profile_on_the_stream_has_no_identifying_fields():
    fields = set(ReferralProfile.model_fields)
    assert not fields & {"given_name", "family_name", "nhs_number", "birth_date", "phone", "email"}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe", "Expecting value"),
        (b"[]", "valid dictionary"),
        (json.dumps({"event_id": "x"}).encode(), "event_id: Input should be a valid UUID"),
    ],
)
def test_undecodable_messages_are_refused_with_a_reason(raw, reason):
    with pytest.raises(InvalidEvent) as info:
        decode(raw)
    assert reason in str(info.value)


def test_an_unknown_event_type_is_refused():
    envelope = json.loads(encode(new_envelope(ReferralClosed(referral_id="r", reason="x"), "t")))
    envelope["payload"]["type"] = "ReferralTeleported"
    envelope["type"] = "ReferralTeleported"
    with pytest.raises(InvalidEvent, match="payload"):
        decode(json.dumps(envelope).encode())


def test_a_v1_matches_proposed_is_upcast_to_the_current_version():
    v1 = {
        "event_id": str(uuid.uuid4()),
        "type": "MatchesProposed",
        "schema_version": 1,
        "occurred_at": "2026-01-05T10:00:00+00:00",
        "producer": "matcher@old",
        "key": "r-1",
        "payload": {
            "type": "MatchesProposed",
            "version": 1,
            "referral_id": "r-1",
            "in_reply_to": str(uuid.uuid4()),
            "proposals": [
                {
                    "service_id": "svc-1",
                    "service_name": "Cuppa club",
                    "score": 0.8,
                    "need": "lonely",
                    "concept": "loneliness",
                    "reasons": ["matched lonely"],
                }
            ],
        },
    }
    envelope = decode(json.dumps(v1).encode())
    assert isinstance(envelope.payload, MatchesProposed)
    assert envelope.schema_version == 3
    assert envelope.payload.proposals[0].organisation_id is None
    assert envelope.payload.proposals[0].breakdown == {}
    assert envelope.payload.unrecognised == ()
    assert topic_for(envelope.payload) == MATCHES_TOPIC


def test_current_matches_proposed_carries_the_organisation():
    event = MatchesProposed(
        referral_id="r-1",
        in_reply_to=uuid.uuid4(),
        proposals=(
            ProposedMatch(
                service_id="svc-1",
                service_name="S",
                organisation_id="org-1",
                score=0.5,
                need="n",
                concept="c",
                reasons=("r",),
            ),
        ),
    )
    again = decode(encode(new_envelope(event, "matcher@test"))).payload
    assert again.proposals[0].organisation_id == "org-1"


def test_a_v2_matches_proposed_is_upcast_to_v3_with_no_breakdown_or_unrecognised_needs():
    event = MatchesProposed(
        referral_id="r-2",
        in_reply_to=uuid.uuid4(),
        proposals=(
            ProposedMatch(
                service_id="svc-1", service_name="S", score=0.5, need="n", concept="c", reasons=()
            ),
        ),
    )
    doc = json.loads(encode(new_envelope(event, "matcher@v2")))
    doc["schema_version"] = 2
    doc["payload"]["version"] = 2
    del doc["payload"]["unrecognised"]
    del doc["payload"]["proposals"][0]["breakdown"]
    again = decode(json.dumps(doc).encode())
    assert again.schema_version == 3
    assert again.payload.unrecognised == ()
    assert again.payload.proposals[0].breakdown == {}
