"""Imports run as jobs, so the page can show how far one has got: services read so far out
of the total, then the report.

A job runs in a thread of its own with its own database session and transaction (the
import commits whole, as the synchronous ``POST /imports`` does). Jobs are kept in the
memory of the process that runs them, the last ``KEEP`` of them: the page polls the
directory instance it uploaded to, and a restart forgets jobs (their imports stay
committed or were never committed). One import runs at a time.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from services.directory.exchange import Source
from services.directory.importer import import_directory
from shared.bus.outbox import Outbox

__all__ = ["ImportJob", "ImportJobs"]

KEEP = 20


@dataclass
class ImportJob:
    id: str
    file: str
    total: int | None
    started_by: str
    started_at: datetime
    state: str = "waiting"  # waiting | importing | done | failed
    done: int = 0
    report: dict | None = None
    error: str | None = None
    finished: threading.Event = field(default_factory=threading.Event, repr=False)

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "file": self.file,
            "state": self.state,
            "done": self.done,
            "total": self.total,
            "started_at": self.started_at.isoformat(),
            "report": self.report,
            "error": self.error,
        }


class ImportJobs:
    def __init__(self, sessions: sessionmaker[Session], outbox: Outbox) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._jobs: OrderedDict[str, ImportJob] = OrderedDict()
        self._lock = threading.Lock()
        self._one_at_a_time = threading.Lock()

    def start(self, source: Source, file: str, started_by: str, merge: bool) -> ImportJob:
        job = ImportJob(
            id=uuid.uuid4().hex,
            file=file,
            total=source.total,
            started_by=started_by,
            started_at=datetime.now(UTC),
        )
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP:
                self._jobs.popitem(last=False)
        thread = threading.Thread(
            target=self._run, args=(job, source, merge), name=f"import-{job.id[:8]}", daemon=True
        )
        thread.start()
        return job

    def get(self, job_id: str) -> ImportJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _run(self, job: ImportJob, source: Source, merge: bool) -> None:
        def advance(n: int) -> None:
            job.done += n

        try:
            with self._one_at_a_time:
                job.state = "importing"
                with self._sessions.begin() as session:
                    report = import_directory(
                        session, self._outbox, source, merge=merge, progress=advance
                    )
            job.report = report.as_dict()
            job.total = job.done if job.total is None else job.total
            job.state = "done"
        except Exception as exc:  # the page says what went wrong; nothing was committed
            job.error = f"{type(exc).__name__}: {exc}"[:300]
            job.state = "failed"
        finally:
            job.finished.set()
