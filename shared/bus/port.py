"""The event-bus port: the one interface every adapter (SQL log, Kafka) implements.

Delivery is at-least-once. A subscriber commits a message only after the database
transaction that handled it has committed; after a restart, everything after the last
commit is delivered again, and idempotent handlers make the repeat harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["EventBus", "Message", "Record", "Subscription"]


@dataclass(frozen=True, slots=True)
class Record:
    """A message to publish. ``topic`` is the logical name, without any prefix."""

    topic: str
    key: str | None
    value: bytes


@dataclass(frozen=True, slots=True)
class Message:
    """A delivered message. ``offset`` grows within one (topic, partition)."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes

    @property
    def position(self) -> str:
        return f"{self.topic}/{self.partition}@{self.offset}"


class Subscription(Protocol):
    """One consumer in a consumer group, reading some topics."""

    def poll(self, max_records: int = 100, timeout_s: float = 1.0) -> list[Message]:
        """Next messages after those already returned; [] when none arrive in time."""

    def commit(self, *messages: Message) -> None:
        """Mark ``messages`` and everything before each in its partition as done."""

    def rewind(self) -> None:
        """Forget what was polled but not committed: the next poll starts again after
        the last commit, and the member stays in its group (no rebalance)."""

    def lag(self) -> dict[str, int]:
        """Messages not yet committed, per topic (best effort)."""

    def join_wait_s(self) -> float:
        """How long the next poll should be allowed to wait so that a group join under
        way completes (0 when the member is settled, or there is no group)."""

    def close(self) -> None: ...


class EventBus(Protocol):
    """Publishes records durably and hands out subscriptions."""

    def ensure_topics(self, topics: Sequence[str], compacted: Sequence[str] = ()) -> None:
        """Create the topics if missing (no-op where topics are implicit)."""

    def publish(self, records: Sequence[Record]) -> None:
        """Return only once every record is durably stored, in order per key."""

    def subscribe(self, group: str, topics: Sequence[str]) -> Subscription: ...

    def close(self) -> None: ...
