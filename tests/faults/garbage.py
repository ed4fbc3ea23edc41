"""Hypothesis strategies for what a consumer may find on a topic besides our events:
raw bytes, JSON that is not an envelope, envelopes of unknown versions or types, and
envelopes with fields missing or of the wrong kind (including payloads that claim an
old version and so go through an upcaster)."""

from __future__ import annotations

import json

from hypothesis import strategies as st

from shared.events import EVENT_CLASSES, UPCASTERS

__all__ = ["envelope_dict", "garbage", "garbage_bytes", "json_values"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)

_TYPES = [cls.model_fields["type"].default for cls in EVENT_CLASSES]
_VERSIONS = {
    cls.model_fields["type"].default: cls.model_fields["version"].default for cls in EVENT_CLASSES
}


def envelope_dict(type_: str, version, payload: dict) -> dict:
    return {
        "event_id": "0f3d6d7e-3a55-4c7d-9a43-5a8e1c0b7e11",
        "type": type_,
        "schema_version": version,
        "occurred_at": "2026-01-01T00:00:00Z",
        "producer": "fuzz",
        "key": "k",
        "payload": {"type": type_, "version": version, **payload},
    }


@st.composite
def _unknown_version(draw) -> dict:
    type_ = draw(st.sampled_from(_TYPES))
    version = draw(
        st.integers().filter(lambda v: v != _VERSIONS[type_] and (type_, v) not in UPCASTERS)
    )
    return envelope_dict(type_, version, {"referral_id": "r1"})


@st.composite
def _old_version_bad_body(draw) -> dict:
    """A payload an upcaster will see, with its fields of any shape."""
    type_, version = draw(st.sampled_from(sorted(UPCASTERS)))
    body = draw(
        st.dictionaries(st.sampled_from(["proposals", "service", "referral_id"]), json_values)
    )
    return envelope_dict(type_, version, body)


@st.composite
def _wrong_shapes(draw) -> dict:
    """An envelope with any field replaced by any JSON value, or missing."""
    doc = envelope_dict("ReferralClosed", 1, {"referral_id": "r1", "reason": "moved away"})
    target = draw(st.sampled_from([doc, doc["payload"]]))
    field = draw(st.sampled_from(sorted(target)))
    if draw(st.booleans()):
        del target[field]
    else:
        target[field] = draw(json_values)
    return doc


garbage_bytes = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.builds(lambda t: json.dumps(envelope_dict(t, 1, {})).encode(), st.text(max_size=20)),
    _unknown_version().map(lambda d: json.dumps(d).encode()),
    _old_version_bad_body().map(lambda d: json.dumps(d).encode()),
    _wrong_shapes().map(lambda d: json.dumps(d).encode()),
)

#: Any of the above; the name the tests read.
garbage = garbage_bytes
