"""Runs event handlers against a subscription: effectively-once, with dead-lettering.

For each message: decode it (undecodable -> dead letter at once), find the handler for
its type (none -> not this consumer's business, commit and move on), then in ONE
database transaction check the processed-events table, run the handler (which may add
outgoing events to the outbox) and record the event id. Only after that commit is the
bus position committed. A handler that keeps failing is retried ``max_attempts`` times
and then dead-lettered with its error and the original bytes; the consumer moves on.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from shared.bus.port import EventBus, Message, Record
from shared.events import DEAD_LETTER_TOPIC, DeadLetter, Envelope, InvalidEvent, decode
from shared.metrics import (
    CONSUMER_LAG,
    EVENTS_CONSUMED,
    EVENTS_DEAD_LETTERED,
    EVENTS_FAILED,
    HANDLER_DURATION,
)

__all__ = ["EventConsumer", "Handler"]

log = logging.getLogger(__name__)

#: A handler gets the session of the transaction it runs in, the payload and its envelope.
Handler = Callable[[Session, object, Envelope], None]


class EventConsumer:
    """One consumer group's loop over its topics."""

    def __init__(
        self,
        *,
        bus: EventBus,
        group: str,
        topics: Sequence[str],
        handlers: Mapping[str, Handler],
        sessions: sessionmaker[Session],
        processed: Table,
        max_attempts: int = 3,
        retry_backoff_s: float = 0.05,
    ) -> None:
        self.bus = bus
        self.group = group
        self.topics = list(topics)
        self.handlers = dict(handlers)
        self.sessions = sessions
        self.processed = processed
        self.max_attempts = max_attempts
        self.retry_backoff_s = retry_backoff_s
        self._subscription = None
        self._polls = 0

    @property
    def subscription(self):
        if self._subscription is None:
            self._subscription = self.bus.subscribe(self.group, self.topics)
        return self._subscription

    def run_once(self, timeout_s: float = 0.5, max_records: int = 100) -> int:
        """Handle whatever arrives within ``timeout_s``; returns how many messages."""
        messages = self.subscription.poll(max_records=max_records, timeout_s=timeout_s)
        for message in messages:
            self._process(message)
            self.subscription.commit(message)
        self._polls += 1
        if messages or self._polls % 20 == 1:
            self._report_lag()
        return len(messages)

    def close(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    def _process(self, message: Message) -> None:
        try:
            envelope = decode(message.value)
        except InvalidEvent as exc:
            self._dead_letter(message, "unknown", f"invalid event: {exc}", attempts=1)
            return
        handler = self.handlers.get(envelope.type)
        if handler is None:
            return
        for attempt in range(1, self.max_attempts + 1):
            started = time.perf_counter()
            try:
                self._handle_once(handler, envelope)
            except Exception as exc:
                EVENTS_FAILED.labels(self.group, envelope.type).inc()
                log.warning(
                    "consumer %s: %s %s failed (attempt %d): %s",
                    self.group,
                    envelope.type,
                    envelope.event_id,
                    attempt,
                    exc,
                )
                if attempt == self.max_attempts:
                    error = f"{type(exc).__name__}: {exc}"
                    self._dead_letter(message, envelope.type, error, attempts=attempt)
                    return
                time.sleep(self.retry_backoff_s * attempt)
            else:
                EVENTS_CONSUMED.labels(self.group, envelope.type).inc()
                HANDLER_DURATION.labels(self.group, envelope.type).observe(
                    time.perf_counter() - started
                )
                return

    def _handle_once(self, handler: Handler, envelope: Envelope) -> None:
        event_id = str(envelope.event_id)
        p = self.processed
        try:
            with self.sessions.begin() as session:
                seen = session.execute(
                    select(p.c.event_id).where(
                        p.c.consumer_group == self.group, p.c.event_id == event_id
                    )
                ).first()
                if seen:
                    return
                handler(session, envelope.payload, envelope)
                session.execute(
                    p.insert().values(
                        consumer_group=self.group,
                        event_id=event_id,
                        processed_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            # Another consumer of the group recorded this event first: its effect stands.
            if not self._already_processed(event_id):
                raise

    def _already_processed(self, event_id: str) -> bool:
        p = self.processed
        with self.sessions() as session:
            return (
                session.execute(
                    select(p.c.event_id).where(
                        p.c.consumer_group == self.group, p.c.event_id == event_id
                    )
                ).first()
                is not None
            )

    def _dead_letter(self, message: Message, event_type: str, error: str, attempts: int) -> None:
        letter = DeadLetter(
            source_topic=message.topic,
            source_key=message.key,
            source_position=message.position,
            consumer_group=self.group,
            error=error[:2000],
            attempts=attempts,
            original_b64=base64.b64encode(message.value).decode(),
            failed_at=datetime.now(UTC),
        )
        self.bus.publish(
            [Record(DEAD_LETTER_TOPIC, message.key, letter.model_dump_json().encode())]
        )
        EVENTS_DEAD_LETTERED.labels(self.group, event_type).inc()
        log.error("consumer %s: dead-lettered %s: %s", self.group, message.position, error)

    def _report_lag(self) -> None:
        try:
            for topic, lag in self.subscription.lag().items():
                CONSUMER_LAG.labels(self.group, topic).set(lag)
        except Exception:  # lag is best effort: never let it stop consumption
            log.debug("consumer %s: lag unavailable", self.group, exc_info=True)
