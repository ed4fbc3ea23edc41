"""Runs event handlers against a subscription: effectively-once, with dead-lettering.

Each consumer group has a ``Registry``: the handler of every event class it consumes,
keyed by the class, and the classes it deliberately ignores. A message whose event class
is in neither is dead-lettered, so a handler forgotten or misnamed never drops events
silently.

Messages are handled a batch at a time. For each poll: decode every message
(undecodable -> dead letter), then in ONE database transaction read which of the batch's
event ids this group has already processed, run the handler of each new one (handlers
may add outgoing events to the outbox) and record their ids. Only after that commit are
the bus positions committed, once per batch. If any handler of the batch fails, the
transaction rolls back and the batch is handled again one message at a time: a message
that keeps failing is retried ``max_attempts`` times and then dead-lettered with its
error and the original bytes, and the consumer moves on.

Batch handlers. A handler that can do a batch's work in fewer statements than one event
at a time (one ``INSERT`` of many rows, not many ``INSERT``s) is registered with
``Registry(batch_handlers={Cls: fn})`` instead of ``handlers``::

    def on_matches_proposed_batch(session, items, *, outbox):
        # items: list[tuple[payload, envelope]], in bus order, none processed before
        ...

    Registry(batch_handlers={MatchesProposed: on_matches_proposed_batch}).bind(outbox=o)

``fn(session, items)`` is called inside the batch's one transaction, once for each run
of consecutive new events of that class in the batch (so order across classes is kept:
``A A B A`` calls ``fn_A([a1, a2])``, ``handler_B(b)``, ``fn_A([a3])``). Events this
group already processed, and a second copy of one event in the same batch, are left out
of ``items``. If anything in the batch fails, the batch is handled again one message at
a time, and ``fn`` is then called with a one-item list; so ``fn`` must give each item
exactly the effect it would have alone. A class is a plain handler or a batch handler,
not both. A batch handler's ``prepare`` takes the same list of items (before the
transaction: all the poll's new-looking events of its class) and returns one result per
item, which ``fn`` receives as ``prepared``, a list in its items' order::

    def rank_batch(session, items, *, live): ...  # -> [result of item 0, ...]

    Registry(batch_handlers={C: fn}, prepare={C: rank_batch})

Batch handlers count as consumed
wherever the registries are read (``Registry.consumed``: the AsyncAPI document and the
event table), and take keyword-only dependencies from ``bind`` like plain handlers.
"""

from __future__ import annotations

import base64
import inspect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from shared.bus.port import EventBus, Message, Record
from shared.events import (
    DEAD_LETTER_TOPIC,
    DeadLetter,
    Envelope,
    InvalidEvent,
    decode,
    topic_of_class,
)
from shared.metrics import (
    CONSUMER_LAG,
    EVENTS_CONSUMED,
    EVENTS_DEAD_LETTERED,
    EVENTS_FAILED,
    EVENTS_IGNORED,
    EVENTS_REDELIVERED,
    HANDLER_DURATION,
)

__all__ = ["BatchHandler", "DatabaseUnavailable", "EventConsumer", "Handler", "Registry"]

log = logging.getLogger(__name__)

#: A handler gets the session of the transaction it runs in, the payload and its envelope.
#: Its own dependencies are keyword-only parameters, bound by ``Registry.bind``.
Handler = Callable[..., None]
#: A batch handler gets the session and a list of (payload, envelope), in bus order.
BatchHandler = Callable[..., None]


@dataclass(frozen=True)
class Registry:
    """What one consumer group does with each event class: handle it, or ignore it.

    ``prepare`` holds, for some classes, work a handler needs that only reads (the
    matcher's ranking): it runs before the batch's transaction, in a session that only
    reads, and its result reaches the handler as the keyword ``prepared``. On SQLite the
    write lock is then held for the writes alone, not for the ranking as well.

    ``batch_handlers`` take each run of consecutive new events of their class in one call
    (see the module docstring)."""

    handlers: Mapping[type, Handler] = field(default_factory=dict)
    ignored: frozenset[type] = field(default_factory=frozenset)
    prepare: Mapping[type, Callable[..., Any]] = field(default_factory=dict)
    batch_handlers: Mapping[type, BatchHandler] = field(default_factory=dict)

    def __post_init__(self) -> None:
        both = (set(self.handlers) | set(self.batch_handlers)) & set(self.ignored)
        if both:
            raise ValueError(f"handled and ignored at once: {sorted(c.__name__ for c in both)}")
        twice = set(self.handlers) & set(self.batch_handlers)
        if twice:
            raise ValueError(
                f"a handler and a batch handler at once: {sorted(c.__name__ for c in twice)}"
            )
        orphans = set(self.prepare) - set(self.handlers) - set(self.batch_handlers)
        if orphans:
            raise ValueError(f"prepared but not handled: {sorted(c.__name__ for c in orphans)}")

    @property
    def consumed(self) -> tuple[type, ...]:
        """Every class this group gives an effect, plain and batch handlers alike, in
        the order they were registered."""
        return (*self.handlers, *self.batch_handlers)

    @property
    def topics(self) -> list[str]:
        """The topics carrying the classes this group handles or ignores."""
        return sorted({topic_of_class(cls) for cls in (*self.consumed, *self.ignored)})

    def bind(self, **dependencies: Any) -> Registry:
        """The same registry with each handler's keyword-only dependencies supplied.

        Fails at start-up, not on the first message, when a handler needs something the
        composition root did not give."""
        return Registry(
            {cls: _bind(h, dependencies) for cls, h in self.handlers.items()},
            self.ignored,
            {cls: _bind(f, dependencies) for cls, f in self.prepare.items()},
            {cls: _bind(f, dependencies) for cls, f in self.batch_handlers.items()},
        )


def _bind(function: Callable, dependencies: dict[str, Any]) -> Callable:
    wanted = {
        name: p
        for name, p in inspect.signature(function).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and name != "prepared"
    }
    missing = [n for n, p in wanted.items() if p.default is p.empty and n not in dependencies]
    if missing:
        raise TypeError(f"{function.__name__} needs {missing}, not given to bind()")
    given = {n: dependencies[n] for n in wanted if n in dependencies}
    return partial(function, **given) if given else function


@dataclass(slots=True)
class _Work:
    message: Message
    envelope: Envelope
    handler: Handler
    prepare: Callable[..., Any] | None = None
    batch: bool = False  # ``handler`` is a batch handler: it takes a list of items

    def call(self, session: Session, prepared: dict[int, Any]) -> None:
        if self.batch:
            _call_batch(session, [self], prepared)
        elif self.prepare is None:
            self.handler(session, self.envelope.payload, self.envelope)
        else:
            if id(self) not in prepared:  # a retry on its own: prepare it now
                prepared[id(self)] = self.prepare(session, self.envelope.payload, self.envelope)
            self.handler(session, self.envelope.payload, self.envelope, prepared=prepared[id(self)])


def _call_batch(session: Session, run: list[_Work], prepared: dict[int, Any]) -> None:
    """A batch handler on a run of items of its class; those its ``prepare`` did not
    reach before the transaction (a retry on its own, a failed prepare) are prepared
    here, in it."""
    first = run[0]
    items = [(item.envelope.payload, item.envelope) for item in run]
    if first.prepare is None:
        first.handler(session, items)
        return
    missing = [item for item in run if id(item) not in prepared]
    if missing:
        found = first.prepare(session, [(i.envelope.payload, i.envelope) for i in missing])
        prepared.update(zip(map(id, missing), found, strict=True))
    first.handler(session, items, prepared=[prepared[id(item)] for item in run])


class DatabaseUnavailable(RuntimeError):
    """The consumer's database could not be reached; nothing was handled or committed."""


#: How often a consumer refreshes its ``consumer_lag`` gauge.
LAG_EVERY_S = 1.0


def _is_outage(exc: BaseException) -> bool:
    cause = exc.cause if isinstance(exc, _BatchFailed) else exc
    if isinstance(cause, DBAPIError) and cause.connection_invalidated:
        return True
    return isinstance(cause, (OperationalError, InterfaceError))


class _BatchFailed(Exception):
    """A handler of the batch failed: ``item`` is the message at fault, or None when a
    batch handler failed for a run of several (any of them may be at fault)."""

    def __init__(self, item: _Work | None, cause: Exception, what: str = "") -> None:
        if item is not None:
            what = f"{item.envelope.type} {item.envelope.event_id}"
        super().__init__(f"{what}: {cause}")
        self.item = item
        self.cause = cause


class EventConsumer:
    """One consumer group's loop over the topics of its registry."""

    def __init__(
        self,
        *,
        bus: EventBus,
        group: str,
        registry: Registry,
        sessions: sessionmaker[Session],
        processed: Table,
        read_sessions: sessionmaker[Session] | None = None,
        max_attempts: int = 3,
        retry_backoff_s: float = 0.05,
        topics: Sequence[str] | None = None,
    ) -> None:
        self.bus = bus
        self.group = group
        self.registry = registry
        self.topics = list(topics) if topics is not None else registry.topics
        self.sessions = sessions
        self.read_sessions = read_sessions or sessions
        self.processed = processed
        self.max_attempts = max_attempts
        self.retry_backoff_s = retry_backoff_s
        self._subscription = None
        self._lag_reported_at = float("-inf")

    @property
    def subscription(self):
        if self._subscription is None:
            self._subscription = self.bus.subscribe(self.group, self.topics)
        return self._subscription

    def run_once(self, timeout_s: float = 0.5, max_records: int = 200) -> int:
        """Handle whatever arrives within ``timeout_s``; returns how many messages."""
        # While a group join is under way, wait for it rather than cutting it short.
        timeout_s = max(timeout_s, self.subscription.join_wait_s())
        messages = self.subscription.poll(max_records=max_records, timeout_s=timeout_s)
        if messages:
            try:
                self.handle(messages)
                self.subscription.commit(*messages)
            except BaseException:
                # Whatever was handled is committed in the database and recorded as
                # processed; start again from the committed positions, so nothing
                # polled but not committed is skipped. Rewinding keeps the member in
                # its group; only if that fails too is the subscription dropped.
                try:
                    self.subscription.rewind()
                except Exception:
                    log.warning("consumer %s: rewind failed; resubscribing", self.group)
                    self.close()
                raise
        # Lag costs a count per topic: at most once a second, not once per batch.
        if time.monotonic() - self._lag_reported_at >= LAG_EVERY_S:
            self._lag_reported_at = time.monotonic()
            self._report_lag()
        return len(messages)

    def close(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    def handle(self, messages: Sequence[Message]) -> None:
        """Give each message its effect once (or a dead letter); the caller commits them."""
        letters: list[DeadLetter] = []
        work: list[_Work] = []
        for message in messages:
            try:
                envelope = decode(message.value)
            except InvalidEvent as exc:
                letters.append(self._letter(message, "unknown", f"invalid event: {exc}", 1))
                continue
            except Exception as exc:  # a decoder bug must not stop the consumer either
                error = f"invalid event: {type(exc).__name__}: {exc}"
                letters.append(self._letter(message, "unknown", error, 1))
                continue
            cls = type(envelope.payload)
            handler = self.registry.handlers.get(cls)
            batch_handler = self.registry.batch_handlers.get(cls)
            if handler is not None:
                work.append(_Work(message, envelope, handler, self.registry.prepare.get(cls)))
            elif batch_handler is not None:
                prepare = self.registry.prepare.get(cls)
                work.append(_Work(message, envelope, batch_handler, prepare, batch=True))
            elif cls in self.registry.ignored:
                EVENTS_IGNORED.labels(self.group, envelope.type).inc()
            else:
                error = f"no handler for {envelope.type} in consumer group {self.group}"
                letters.append(self._letter(message, envelope.type, error, 1))
        if work:
            try:
                self._handle_together(work)
            except Exception as exc:
                if _is_outage(exc):
                    self._rewind(exc)
                failed = exc.item if isinstance(exc, _BatchFailed) else None
                log.info("consumer %s: a batch of %d failed (%s)", self.group, len(work), exc)
                for item in work:
                    # The batch was the failing message's first attempt.
                    letter = self._handle_alone(item, tried=1 if item is failed else 0)
                    if letter is not None:
                        letters.append(letter)
        self._publish_dead_letters(letters)

    def _handle_together(self, work: list[_Work]) -> None:
        p = self.processed
        ids = [str(item.envelope.event_id) for item in work]
        timings: list[tuple[str, float]] = []
        prepared = self._prepare(work)
        with self.sessions.begin() as session:
            seen = set(
                session.execute(
                    select(p.c.event_id).where(
                        p.c.consumer_group == self.group, p.c.event_id.in_(set(ids))
                    )
                ).scalars()
            )
            done = []
            redelivered = []
            run: list[_Work] = []  # consecutive new events of one batch-handled class

            def flush() -> None:
                if not run:
                    return
                event_type = run[0].envelope.type
                started = time.perf_counter()
                try:
                    _call_batch(session, run, prepared)
                except Exception as exc:
                    EVENTS_FAILED.labels(self.group, event_type).inc()
                    alone = run[0] if len(run) == 1 else None
                    raise _BatchFailed(alone, exc, f"{len(run)} x {event_type}") from exc
                each = (time.perf_counter() - started) / len(run)
                timings.extend((event_type, each) for _ in run)
                run.clear()

            for item, event_id in zip(work, ids, strict=True):
                if event_id in seen:
                    redelivered.append(item.envelope.type)
                    continue
                seen.add(event_id)  # the same event twice in one batch has one effect
                done.append(event_id)
                if item.batch:
                    if run and type(run[0].envelope.payload) is not type(item.envelope.payload):
                        flush()
                    run.append(item)
                    continue
                flush()
                started = time.perf_counter()
                try:
                    item.call(session, prepared)
                except Exception as exc:
                    EVENTS_FAILED.labels(self.group, item.envelope.type).inc()
                    raise _BatchFailed(item, exc) from exc
                timings.append((item.envelope.type, time.perf_counter() - started))
            flush()
            if done:
                now = datetime.now(UTC)
                session.execute(
                    p.insert(),
                    [
                        {"consumer_group": self.group, "event_id": i, "processed_at": now}
                        for i in done
                    ],
                )
        for event_type in redelivered:
            EVENTS_REDELIVERED.labels(self.group, event_type).inc()
        for event_type, seconds in timings:
            EVENTS_CONSUMED.labels(self.group, event_type).inc()
            HANDLER_DURATION.labels(self.group, event_type).observe(seconds)

    def _prepare(self, work: list[_Work]) -> dict[int, Any]:
        """Each item's read-only work, before the write transaction (``Registry.prepare``).
        A failure here is left for the transaction to meet again: the item is prepared
        there instead, so its retries and dead letter go the usual way."""
        todo = [item for item in work if item.prepare is not None]
        if not todo:
            return {}
        out: dict[int, Any] = {}
        batches: dict[type, list[_Work]] = {}  # a batch handler's items, by class
        try:
            with self.read_sessions.begin() as session:
                for item in todo:
                    if item.batch:
                        batches.setdefault(type(item.envelope.payload), []).append(item)
                    else:
                        payload, envelope = item.envelope.payload, item.envelope
                        out[id(item)] = item.prepare(session, payload, envelope)
                for items in batches.values():
                    found = items[0].prepare(
                        session, [(i.envelope.payload, i.envelope) for i in items]
                    )
                    out.update(zip(map(id, items), found, strict=True))
        except Exception:
            log.debug("consumer %s: preparing failed; handling will retry", self.group)
        return out

    def _handle_alone(self, item: _Work, tried: int = 0) -> DeadLetter | None:
        """Retry one message on its own; a dead letter if it keeps failing."""
        envelope = item.envelope
        for attempt in range(1 + tried, self.max_attempts + 1):
            started = time.perf_counter()
            try:
                self._handle_once(item)
            except Exception as exc:
                if _is_outage(exc):
                    self._rewind(exc)
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
                    return self._letter(item.message, envelope.type, error, attempt)
                time.sleep(self.retry_backoff_s * attempt)
            else:
                EVENTS_CONSUMED.labels(self.group, envelope.type).inc()
                HANDLER_DURATION.labels(self.group, envelope.type).observe(
                    time.perf_counter() - started
                )
                return None
        return None

    def _handle_once(self, item: _Work) -> None:
        envelope = item.envelope
        event_id = str(envelope.event_id)
        p = self.processed
        try:
            with self.sessions.begin() as session:
                if self._seen(session, event_id):
                    EVENTS_REDELIVERED.labels(self.group, envelope.type).inc()
                    return
                item.call(session, {})
                session.execute(
                    p.insert().values(
                        consumer_group=self.group,
                        event_id=event_id,
                        processed_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            # Another consumer of the group recorded this event first: its effect stands.
            with self.sessions() as session:
                if not self._seen(session, event_id):
                    raise

    def _rewind(self, exc: Exception) -> None:
        """The database is unreachable: no message is at fault, so none is retried to
        death. ``run_once`` rewinds the subscription, whose next poll starts again from
        the committed positions, and the worker loop waits and tries again."""
        log.warning("consumer %s: database unavailable (%s); will resume", self.group, exc)
        raise DatabaseUnavailable(str(exc)) from exc

    def _seen(self, session: Session, event_id: str) -> bool:
        p = self.processed
        query = select(p.c.event_id).where(
            p.c.consumer_group == self.group, p.c.event_id == event_id
        )
        return session.execute(query).first() is not None

    def _letter(self, message: Message, event_type: str, error: str, attempts: int) -> DeadLetter:
        EVENTS_DEAD_LETTERED.labels(self.group, event_type).inc()
        log.error("consumer %s: dead-lettered %s: %s", self.group, message.position, error)
        return DeadLetter(
            source_topic=message.topic,
            source_key=message.key,
            source_position=message.position,
            consumer_group=self.group,
            error=error[:2000],
            attempts=attempts,
            original_b64=base64.b64encode(message.value).decode(),
            failed_at=datetime.now(UTC),
        )

    def _publish_dead_letters(self, letters: list[DeadLetter]) -> None:
        if letters:
            self.bus.publish(
                [
                    Record(DEAD_LETTER_TOPIC, letter.source_key, letter.model_dump_json().encode())
                    for letter in letters
                ]
            )

    def _report_lag(self) -> None:
        try:
            for topic, lag in self.subscription.lag().items():
                CONSUMER_LAG.labels(self.group, topic).set(lag)
        except Exception:  # lag is best effort: never let it stop consumption
            log.debug("consumer %s: lag unavailable", self.group, exc_info=True)
