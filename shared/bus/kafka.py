"""The Kafka adapter of the event bus, on kafka-python.

Settings that matter for correctness are written out explicitly rather than left to the
library's defaults, which are the opposite of what at-least-once delivery needs:

* the producer waits for every in-sync replica (``acks="all"``) and is idempotent, so a
  retried send neither loses nor duplicates a record, and order per key holds;
* consumers never auto-commit and start from the earliest offset, so a message counts as
  handled only after the handler's database transaction committed and called ``commit``.

Topic and consumer-group names on the wire are ``prefix + logical name``; callers only
ever see the logical names. The prefix lets tests and tenants share one broker without
sharing offsets or group membership.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata, TopicPartition

from shared.bus.port import Message, Record

if TYPE_CHECKING:
    from shared.settings import Settings

__all__ = ["KafkaBus", "KafkaSubscription"]

log = logging.getLogger(__name__)

_UNKNOWN_LEADER_EPOCH = -1
#: kafka-python backs off reconnecting up to 30 s by default: a broker back from an
#: outage then waits that long for its clients (the fault suite saw matchers rejoin
#: 10-15 s late). 2 s is still far from a reconnect storm for a system of this size.
_RECONNECT_BACKOFF_MAX_MS = 2000


class KafkaBus:
    """The ``EventBus`` port on a Kafka-protocol broker (Kafka in production, Tansu in tests)."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        prefix: str = "",
        partitions: int = 6,
        replication_factor: int = 1,
        session_timeout_ms: int = 10000,
        heartbeat_interval_ms: int = 3000,
        request_timeout_ms: int = 30000,
        client_id: str = "social-prescribing",
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.prefix = prefix
        self.partitions = partitions
        self.replication_factor = replication_factor
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.request_timeout_ms = request_timeout_ms
        self.client_id = client_id
        # Made on first publish, so a process that only consumes opens no producer.
        self._producer: KafkaProducer | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaBus:
        return cls(
            settings.kafka_bootstrap_servers,
            prefix=settings.topic_prefix,
            partitions=settings.kafka_partitions,
            replication_factor=settings.kafka_replication_factor,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            request_timeout_ms=settings.kafka_request_timeout_ms,
            client_id=f"social-prescribing-{settings.instance_id}",
        )

    def ensure_topics(self, topics: Sequence[str], compacted: Sequence[str] = ()) -> None:
        """Create missing topics; existing ones are left exactly as they are."""
        admin = KafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers,
            client_id=self.client_id,
            request_timeout_ms=self.request_timeout_ms,
        )
        try:
            for topic in dict.fromkeys([*topics, *compacted]):
                configs = {"cleanup.policy": "compact"} if topic in compacted else {}
                self._create_topic(admin, self.prefix + topic, configs)
        finally:
            admin.close()

    def _create_topic(self, admin: KafkaAdminClient, name: str, configs: dict[str, str]) -> None:
        spec = {"num_partitions": self.partitions, "replication_factor": self.replication_factor}
        try:
            _create_if_missing(admin, {name: {**spec, "configs": configs}})
        except KafkaError as error:
            if not configs:
                raise
            # Compaction only saves space; a broker that refuses the setting still works.
            log.warning(
                "broker refused %s for topic %s (%s); creating it without", configs, name, error
            )
            _create_if_missing(admin, {name: spec})

    def publish(self, records: Sequence[Record]) -> None:
        """Send everything, then wait for every acknowledgement, raising the first failure."""
        if not records:
            return
        producer = self._get_producer()
        futures = [
            producer.send(
                self.prefix + record.topic,
                key=None if record.key is None else record.key.encode(),
                value=record.value,
            )
            for record in records
        ]
        producer.flush()
        for future in futures:
            future.get(timeout=self.request_timeout_ms / 1000)

    def _get_producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self.bootstrap_servers,
                client_id=self.client_id,
                acks="all",
                enable_idempotence=True,
                request_timeout_ms=self.request_timeout_ms,
                reconnect_backoff_max_ms=_RECONNECT_BACKOFF_MAX_MS,
            )
        return self._producer

    def subscribe(self, group: str, topics: Sequence[str]) -> KafkaSubscription:
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=self.client_id,
            group_id=self.prefix + group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=self.heartbeat_interval_ms,
            request_timeout_ms=self.request_timeout_ms,
            reconnect_backoff_max_ms=_RECONNECT_BACKOFF_MAX_MS,
        )
        consumer.subscribe(topics=[self.prefix + topic for topic in topics])
        return KafkaSubscription(
            consumer, self.prefix, topics, join_wait_ms=self.session_timeout_ms
        )

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
            self._producer = None


def _create_if_missing(admin: KafkaAdminClient, topics: dict[str, dict]) -> None:
    with contextlib.suppress(TopicAlreadyExistsError):
        admin.create_topics(topics, wait_for_metadata=True)


class KafkaSubscription:
    """One member of a Kafka consumer group; the group splits the partitions among members."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        prefix: str,
        topics: Sequence[str],
        join_wait_ms: int = 10_000,
    ) -> None:
        self._consumer = consumer
        self._prefix = prefix
        self._topics = list(topics)
        self._join_wait_ms = join_wait_ms
        self._pending: dict[TopicPartition, int] = {}

    def poll(self, max_records: int = 100, timeout_s: float = 1.0) -> list[Message]:
        """The first polls also join the group (see ``join_wait_s``)."""
        batches = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        return [
            Message(
                topic=record.topic[len(self._prefix) :],
                partition=record.partition,
                offset=record.offset,
                # Anyone may write to a topic: a key that is not text or a tombstone's
                # missing value must reach the consumer (and its dead letters), not stop
                # the poll.
                key=None if record.key is None else record.key.decode("utf-8", "backslashreplace"),
                value=b"" if record.value is None else record.value,
            )
            for records in batches.values()
            for record in records
        ]

    def commit(self, *messages: Message) -> None:
        """Mark these messages, and all before them in their partitions, as done.

        Asynchronous: the handlers' effects are already committed and recorded as
        processed, so a commit lost to a crash or a rebalance only means a redelivery
        that the processed-events table absorbs. ``close`` commits synchronously.
        Kafka stores the next offset to read, hence ``offset + 1``."""
        offsets = {}
        for message in messages:
            partition = TopicPartition(self._prefix + message.topic, message.partition)
            next_offset = message.offset + 1
            if next_offset > self._pending.get(partition, -1):
                self._pending[partition] = next_offset
                offsets[partition] = OffsetAndMetadata(next_offset, "", _UNKNOWN_LEADER_EPOCH)
        if offsets:
            self._consumer.commit_async(offsets, callback=self._committed)

    def rewind(self) -> None:
        """Seek each owned partition back to the first message not yet handled: the
        offset last given to ``commit`` (everything before it is in the database), else
        the group's committed offset, else the beginning. The member stays in the
        group: on Tansu, members that all leave and rejoin at once (as every matcher
        did when their database restarted) can find the group led by a departed member
        and never complete a SyncGroup."""
        for partition in self._consumer.assignment():
            offset = self._pending.get(partition)
            if offset is None:
                offset = self._consumer.committed(partition)
            if offset is None:
                self._consumer.seek_to_beginning(partition)
            else:
                self._consumer.seek(partition, offset)

    def _committed(self, offsets, response) -> None:
        if isinstance(response, Exception):
            log.info("async offset commit failed (redelivery will follow): %s", response)

    def _commit_pending(self) -> None:
        """Commit the last handled offsets of partitions still owned, waiting for it."""
        owned = self._consumer.assignment()
        offsets = {
            partition: OffsetAndMetadata(offset, "", _UNKNOWN_LEADER_EPOCH)
            for partition, offset in self._pending.items()
            if partition in owned
        }
        if offsets:
            try:
                self._consumer.commit(offsets, timeout_ms=5000)
            except KafkaError as error:
                log.info("final offset commit failed (redelivery will follow): %s", error)

    def join_wait_s(self) -> float:
        """The session timeout while this member is (re)joining its group, else 0.

        A join round (JoinGroup, then SyncGroup) must be driven to its end by a waiting
        poll: members of one group polling briefly restart each other's rounds, and
        none of them is ever assigned. So the consumer loop polls this long then."""
        coordinator = self._consumer._coordinator  # kafka-python exposes no public state
        joining = coordinator.need_rejoin() or not coordinator.stable()
        return self._join_wait_ms / 1000 if joining else 0.0

    def assigned_partitions(self) -> set[tuple[str, int]]:
        """(topic, partition) pairs this member owns now; empty until its first polls join."""
        return {(p.topic[len(self._prefix) :], p.partition) for p in self._consumer.assignment()}

    def lag(self) -> dict[str, int]:
        """Uncommitted messages in the partitions currently assigned to this member."""
        assigned = list(self._consumer.assignment())
        lags = dict.fromkeys(self._topics, 0)
        if not assigned:
            return lags
        ends = self._consumer.end_offsets(assigned)
        starts = self._consumer.beginning_offsets(assigned)
        for partition in assigned:
            # Tansu answers ListOffsets with the last batch's base offset + 1, short of the
            # true end; the high watermark from the latest fetch is exact on both brokers.
            end = max(ends[partition], self._consumer.highwater(partition) or 0)
            committed = self._consumer.committed(partition)
            done = starts[partition] if committed is None else committed
            topic = partition.topic[len(self._prefix) :]
            lags[topic] = lags.get(topic, 0) + max(0, end - done)
        return lags

    def close(self) -> None:
        """Leave the group at once, so the remaining members take over without waiting."""
        self._commit_pending()
        self._consumer.close(autocommit=False)
