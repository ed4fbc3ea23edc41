"""Background workers of a service process: the outbox relay and the event consumers.

Each worker is a plain loop in a daemon thread that calls one ``run_once`` until told to
stop. Consumers block in their adapter's poll, so threads are simpler than asyncio here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["Workers"]

log = logging.getLogger(__name__)


class Workers:
    def __init__(self, idle_wait_s: float = 0.2) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._closers: list[Callable[[], None]] = []
        self.idle_wait_s = idle_wait_s

    def add_loop(
        self,
        name: str,
        run_once: Callable[[], int],
        close: Callable[[], None] | None = None,
        *,
        idle_wait: bool = True,
    ) -> None:
        """Call ``run_once`` repeatedly; with ``idle_wait``, wait a little whenever it found
        nothing to do (loops whose ``run_once`` blocks while waiting pass False)."""
        wait_s = self.idle_wait_s if idle_wait else 0.0
        thread = threading.Thread(
            target=self._loop, args=(name, run_once, wait_s), name=name, daemon=True
        )
        self._threads.append(thread)
        if close:
            self._closers.append(close)

    def _loop(self, name: str, run_once: Callable[[], int], idle_wait_s: float) -> None:
        while not self._stop.is_set():
            try:
                if not run_once() and idle_wait_s:
                    self._stop.wait(idle_wait_s)
            except Exception:
                log.exception("worker %s failed; retrying in 1 s", name)
                self._stop.wait(1.0)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout_s)
        for close in self._closers:
            try:
                close()
            except Exception:
                log.exception("closing a worker failed")
