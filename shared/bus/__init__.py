"""The event bus: a port (``port.py``), two adapters (``sqllog.py``, ``kafka.py``), the
transactional outbox (``outbox.py``) and the consumer loop (``consumer.py``)."""

from __future__ import annotations

from shared.bus.port import EventBus, Message, Record, Subscription
from shared.settings import Settings

__all__ = ["EventBus", "Message", "Record", "Subscription", "make_bus"]


def make_bus(settings: Settings) -> EventBus:
    """The adapter the settings ask for, with its topics in place."""
    from shared.events import COMPACTED_TOPICS, TOPICS

    if settings.bus == "kafka":
        from shared.bus.kafka import KafkaBus

        bus: EventBus = KafkaBus.from_settings(settings)
    else:
        from shared.bus.sqllog import SqlEventLog

        bus = SqlEventLog(settings.event_log_url, prefix=settings.topic_prefix)
    bus.ensure_topics(TOPICS, compacted=COMPACTED_TOPICS)
    return bus
