"""Whatever bytes arrive, decoding either gives an event or says it is invalid: it never
fails some other way, which would stop a consumer instead of dead-lettering one message."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings

from shared.events import Envelope, InvalidEvent, decode
from tests.faults.conftest import FAULTS_LONG
from tests.faults.garbage import envelope_dict, garbage

pytestmark = pytest.mark.faults


@settings(max_examples=2000 if FAULTS_LONG else 300, deadline=None)
@given(garbage)
@example(b"[" * 100_000)  # nested deeper than the parser's recursion limit
@example(json.dumps(envelope_dict("MatchesProposed", 1, {"proposals": [1]})).encode())
@example(json.dumps(envelope_dict("ServiceUpserted", 1, {"service": "text"})).encode())
@example(json.dumps({"payload": {"type": ["a"], "version": 1}}).encode())
def test_decoding_any_bytes_gives_an_event_or_invalid_event(raw: bytes):
    try:
        envelope = decode(raw)
    except InvalidEvent as exc:
        assert str(exc), "the reason is said"
    else:
        assert isinstance(envelope, Envelope)
