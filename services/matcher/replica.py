"""The matcher's local replica of the directory: a table fed by directory events, and
the in-memory index each matcher process keeps in step with it.

The matcher never calls the directory. One consumer group writes snapshots to the
replica table (idempotently, newest revision wins); every process then applies the
change log to its own ``MatchIndex`` before ranking, so scaled-out matchers share one
replica without each re-reading the topic.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.matcher import snapshot, store
from services.matcher.ranking import (
    MatchIndex,
    MatchRequest,
    RankResult,
    ServiceRecord,
    service_from_directory,
)
from shared.events import Envelope, ServiceSnapshot, ServiceUpserted, ServiceWithdrawn

__all__ = ["LiveIndex", "on_service_upserted", "on_service_withdrawn", "record_from_snapshot"]

REFRESH_CHUNK = 500
SNAPSHOT_EVERY = 10_000  # changes applied between snapshots of the index


def record_from_snapshot(snapshot: ServiceSnapshot) -> ServiceRecord:
    data = snapshot.model_dump(mode="json")
    return service_from_directory(data, {"name": snapshot.organisation_name})


def _current_revision(session: Session, service_id: str) -> int:
    row = session.execute(
        select(store.replica_services.c.revision).where(
            store.replica_services.c.service_id == service_id
        )
    ).first()
    return row.revision if row else 0


def _write(session: Session, service_id: str, revision: int, values: dict) -> None:
    current = _current_revision(session, service_id)
    if revision <= current:
        return  # an older or repeated state: the replica already has newer
    table = store.replica_services
    if current:
        session.execute(
            table.update()
            .where(table.c.service_id == service_id)
            .values(revision=revision, **values)
        )
    else:
        session.execute(table.insert().values(service_id=service_id, revision=revision, **values))
    session.execute(store.replica_changes.insert().values(service_id=service_id))


def on_service_upserted(session: Session, event: ServiceUpserted, _env: Envelope) -> None:
    """Directory events -> replica table rows, newest revision wins."""
    snapshot = event.service.model_dump(mode="json")
    # Only active services are proposed: inactive, defunct and temporarily closed ones,
    # and those whose group says it is full, leave the index until the directory says
    # otherwise. (A waiting-list one stays, at no places free: proposed last, flagged.)
    proposable = event.service.status == "active" and event.service.taking != "full"
    _write(
        session,
        event.service.id,
        event.revision,
        {"snapshot": snapshot, "withdrawn": not proposable},
    )


def on_service_withdrawn(session: Session, event: ServiceWithdrawn, _env: Envelope) -> None:
    _write(session, event.service_id, event.revision, {"snapshot": None, "withdrawn": True})


class LiveIndex:
    """A ``MatchIndex`` kept up to date from the replica change log.

    With ``snapshots``, the index is saved there with the change-log position it includes
    every ``SNAPSHOT_EVERY`` changes, and a new process starts from the saved index and
    applies only the changes since, instead of re-reading every service."""

    def __init__(
        self,
        index: MatchIndex,
        snapshots: Path | None = None,
        snapshot_every: int = SNAPSHOT_EVERY,
    ) -> None:
        self.index = index
        self._seen = 0
        self._lock = threading.Lock()
        self._snapshots = snapshots
        self._snapshot_every = snapshot_every
        self._unsaved = 0
        #: service id -> organisation id (None: none given), for services proposed
        #: since they last changed; emptied when it grows past ORGANISATIONS_KEPT
        self._organisations: dict[str, str | None] = {}
        if snapshots is not None:
            restored = snapshot.load(snapshots, index.vocabulary)
            if restored is not None:
                table, self._seen = restored
                index.replace_table(table)

    @property
    def position(self) -> int:
        """The last replica change applied to the index."""
        return self._seen

    def save(self) -> None:
        """Write a snapshot now (no-op without a snapshot folder)."""
        with self._lock:
            self._save()

    def _save(self) -> None:
        if self._snapshots is not None:
            snapshot.save(self.index.table, self._seen, self._snapshots)
            self._unsaved = 0

    def rank(self, request: MatchRequest, top: int) -> RankResult:
        """No lock: the index's readers need none while a refresh writes (the lock only
        keeps two refreshes from applying the same changes twice)."""
        return self.index.rank(request, top=top)

    def organisations_of(self, session: Session, service_ids: list[str]) -> dict[str, str]:
        """Service id -> organisation id, for the proposals' events. Remembered until
        the service next changes: reading five snapshots back from the replica for each
        referral was an eighth of the matcher's CPU under load."""
        with self._lock:  # so a refresh cannot forget a service while it is read back
            missing = [i for i in dict.fromkeys(service_ids) if i not in self._organisations]
            if missing:
                if len(self._organisations) + len(missing) > ORGANISATIONS_KEPT:
                    self._organisations.clear()
                found = _organisations_in_replica(session, missing)
                for service_id in missing:
                    self._organisations[service_id] = found.get(service_id)
            known = self._organisations
            return {i: o for i in service_ids if (o := known.get(i))}

    def __len__(self) -> int:
        return len(self.index)

    @staticmethod
    def _rows(session: Session, ids: list[str]):
        """The replica rows of ``ids``, read in chunks: a start-up refresh of a national
        directory would otherwise put a million ids into one statement."""
        table = store.replica_services
        for start in range(0, len(ids), REFRESH_CHUNK):
            chunk = ids[start : start + REFRESH_CHUNK]
            yield from session.execute(select(table).where(table.c.service_id.in_(chunk)))

    def refresh(self, session: Session) -> int:
        """Apply replica changes since the last refresh; returns how many services changed."""
        with self._lock:
            changed = session.execute(
                select(store.replica_changes.c.seq, store.replica_changes.c.service_id)
                .where(store.replica_changes.c.seq > self._seen)
                .order_by(store.replica_changes.c.seq)
            ).all()
            if not changed:
                return 0
            ids = list(dict.fromkeys(service_id for _, service_id in changed))
            upserted = []  # each id once: the order of different services does not matter
            for row in self._rows(session, ids):
                self._organisations.pop(row.service_id, None)
                if row.withdrawn or row.snapshot is None:
                    self.index.remove(row.service_id)
                else:
                    snapshot = ServiceSnapshot.model_validate(row.snapshot)
                    upserted.append(record_from_snapshot(snapshot))
            self.index.upsert_many(upserted)
            self._seen = changed[-1].seq
            self._unsaved += len(ids)
            if self._unsaved >= self._snapshot_every:
                self._save()
            return len(ids)


#: How many services' organisations ``LiveIndex.organisations_of`` keeps at most.
ORGANISATIONS_KEPT = 50_000


def _organisations_in_replica(session: Session, service_ids: list[str]) -> dict[str, str]:
    """Service id -> organisation id, from the replica's snapshots."""
    table = store.replica_services
    rows = session.execute(
        select(table.c.service_id, table.c.snapshot).where(table.c.service_id.in_(service_ids))
    )
    return {
        service_id: snapshot["organisation_id"]
        for service_id, snapshot in rows
        if snapshot and snapshot.get("organisation_id")
    }
