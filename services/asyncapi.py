"""Who produces and who consumes what, generated from the handler registries and the
event models, so the documentation cannot drift from the code.

Two outputs: the table at the top of ``shared/events.py`` and the AsyncAPI 3.0 document
``docs/asyncapi.yaml`` (also served as JSON at ``/asyncapi.json`` by every service).
``python -m services.asyncapi`` rewrites both; ``--check`` fails when either is stale
(the tests run the same check).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic.json_schema import models_json_schema

from shared.bus.consumer import Registry
from shared.events import (
    ACCOUNTS_TOPIC,
    COMPACTED_TOPICS,
    DEAD_LETTER_TOPIC,
    DIRECTORY_NOTICES_TOPIC,
    DIRECTORY_TOPIC,
    EVENT_CLASSES,
    MATCHES_TOPIC,
    REFERRALS_TOPIC,
    DeadLetter,
    topic_of_class,
)

__all__ = ["PRODUCERS", "asyncapi_document", "consumers", "event_table", "router"]

ROOT = Path(__file__).resolve().parents[1]
EVENTS_MODULE = ROOT / "shared" / "events.py"
DOCUMENT = ROOT / "docs" / "asyncapi.yaml"

#: Each topic has one producing service (its outbox relay); dead letters come from any.
PRODUCERS = {
    REFERRALS_TOPIC: "referrals",
    MATCHES_TOPIC: "matcher",
    DIRECTORY_TOPIC: "directory",
    DIRECTORY_NOTICES_TOPIC: "directory",
    ACCOUNTS_TOPIC: "referrals",
}

_RULE = "=======================  ==========================  ===========  ====================="


def consumers() -> dict[str, Mapping[str, Registry]]:
    """Service -> its consumer groups' registries, exactly what its app wires."""
    from services.directory.handlers import CONSUMERS as directory
    from services.matcher.handlers import CONSUMERS as matcher
    from services.referrals.handlers import CONSUMERS as referrals

    return {"referrals": referrals, "matcher": matcher, "directory": directory}


def _consuming_services(cls: type) -> list[str]:
    return [
        service
        for service, groups in consumers().items()
        if any(cls in registry.consumed for registry in groups.values())
    ]


def _key(cls: type) -> str:
    for field in ("referral_id", "user_id"):
        if field in cls.model_fields:
            return field.replace("_", " ")
    return "service id"


def event_table() -> str:
    """The "who consumes what" table of ``shared/events.py``."""
    header = (
        f"{'topic':<23}  {'event':<26}  {'key':<11}  producer -> consumers",
        f"{_RULE}",
    )
    rows = [_RULE, *header]
    for cls in EVENT_CLASSES:
        topic = topic_of_class(cls)
        version = cls.model_fields["version"].default
        readers = ", ".join(_consuming_services(cls)) or "(none)"
        flow = f"{PRODUCERS[topic]} -> {readers}"
        shown = f"{topic} *" if topic in COMPACTED_TOPICS else topic
        rows.append(f"{shown:<23}  {cls.__name__ + f' v{version}':<26}  {_key(cls):<11}  {flow}")
    rows.append(
        f"{DEAD_LETTER_TOPIC:<23}  {'DeadLetter (not an event)':<26}  {'source key':<11}  "
        "any consumer -> operators"
    )
    rows.append(_RULE)
    return "\n".join(rows)


def _channel_id(topic: str) -> str:
    return topic.removesuffix(".v1").replace(".", "-")


def _schemas() -> dict[str, Any]:
    """JSON Schemas of every payload, their parts referenced under components."""
    _, top = models_json_schema(
        [(cls, "validation") for cls in (*EVENT_CLASSES, DeadLetter)],
        ref_template="#/components/schemas/{model}",
    )
    return top["$defs"]


_ENVELOPE_FIELDS = (
    "event_id",
    "type",
    "schema_version",
    "occurred_at",
    "producer",
    "key",
    "payload",
)


def _envelope(cls: type) -> dict[str, Any]:
    """The message on the wire: the envelope around one payload class."""
    return {
        "type": "object",
        "required": [*_ENVELOPE_FIELDS],
        "properties": {
            "event_id": {"type": "string", "format": "uuid", "description": "Idempotency key."},
            "type": {"const": cls.__name__},
            "schema_version": {"const": cls.model_fields["version"].default},
            "occurred_at": {"type": "string", "format": "date-time"},
            "producer": {"type": "string", "description": "service@instance"},
            "key": {"type": "string", "description": f"The {_key(cls)}: the partition key."},
            "payload": {"$ref": f"#/components/schemas/{cls.__name__}"},
        },
    }


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 description of every channel, message and operation."""
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for cls in EVENT_CLASSES:
        topic = topic_of_class(cls)
        channel = channels.setdefault(
            _channel_id(topic),
            {
                "address": topic,
                "description": f"Produced by {PRODUCERS[topic]}, keyed by {_key(cls)}"
                + (", compacted." if topic in COMPACTED_TOPICS else "."),
                "messages": {},
            },
        )
        channel["messages"][cls.__name__] = {"$ref": f"#/components/messages/{cls.__name__}"}
        messages[cls.__name__] = {
            "name": cls.__name__,
            "title": f"{cls.__name__} v{cls.model_fields['version'].default}",
            "summary": (cls.__doc__ or cls.__name__).strip().splitlines()[0],
            "contentType": "application/json",
            "payload": _envelope(cls),
        }
    dead = _channel_id(DEAD_LETTER_TOPIC)
    channels[dead] = {
        "address": DEAD_LETTER_TOPIC,
        "description": "Messages a consumer gave up on, with the reason and original bytes.",
        "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
    }
    messages["DeadLetter"] = {
        "name": "DeadLetter",
        "title": "DeadLetter",
        "summary": DeadLetter.__doc__.strip().splitlines()[0],
        "contentType": "application/json",
        "payload": {"$ref": "#/components/schemas/DeadLetter"},
    }
    operations: dict[str, Any] = {}
    for topic, service in PRODUCERS.items():
        channel = _channel_id(topic)
        operations[f"{service}-publishes-{channel}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": f"{service}'s outbox relay publishes these events.",
            "messages": [
                {"$ref": f"#/channels/{channel}/messages/{cls.__name__}"}
                for cls in EVENT_CLASSES
                if topic_of_class(cls) == topic
            ],
        }
    for service, groups in consumers().items():
        for group, registry in groups.items():
            for topic in registry.topics:
                channel = _channel_id(topic)
                handled = [c for c in registry.consumed if topic_of_class(c) == topic]
                ignored = sorted(c.__name__ for c in registry.ignored if topic_of_class(c) == topic)
                summary = f"Consumer group {group} of the {service} service."
                if ignored:
                    summary += f" Deliberately ignores {', '.join(ignored)}."
                operations[f"{group}-consumes-{channel}"] = {
                    "action": "receive",
                    "channel": {"$ref": f"#/channels/{channel}"},
                    "summary": summary,
                    "messages": [
                        {"$ref": f"#/channels/{channel}/messages/{c.__name__}"} for c in handled
                    ],
                    "x-consumer-group": group,
                    "x-ignored": ignored,
                }
            operations[f"{group}-dead-letters"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{dead}"},
                "summary": f"Consumer group {group} dead-letters what it cannot handle.",
                "messages": [{"$ref": f"#/channels/{dead}/messages/DeadLetter"}],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Social prescribing events",
            "version": "1.0.0",
            "description": "Events between the referrals, matcher and directory services. "
            "Generated from the handler registries and shared/events.py by "
            "`python -m services.asyncapi`; do not edit by hand.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "Production bus (SP_BUS=kafka); the embedded SQL event log "
                "carries the same topics and messages.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": _schemas()},
    }


router = APIRouter()


@router.get("/asyncapi.json", tags=["events"], summary="The AsyncAPI 3.0 document")
def asyncapi_json() -> dict[str, Any]:
    """Every channel, message and operation of the system's events."""
    return asyncapi_document()


def render_yaml(document: dict[str, Any]) -> str:
    import yaml

    return "# Generated by `python -m services.asyncapi`: do not edit.\n" + yaml.safe_dump(
        json.loads(json.dumps(document)), sort_keys=False, allow_unicode=True, width=100
    )


def _events_module_with(table: str) -> str:
    text = EVENTS_MODULE.read_text()
    start = text.index(_RULE)
    end = text.index(_RULE, text.index(_RULE, start + 1) + 1) + len(_RULE)
    return text[:start] + table + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if either output is stale")
    args = parser.parse_args(argv)
    outputs = {
        EVENTS_MODULE: _events_module_with(event_table()),
        DOCUMENT: render_yaml(asyncapi_document()),
    }
    stale = [p for p, text in outputs.items() if not p.exists() or p.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run python -m services.asyncapi")
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(outputs[path])
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
