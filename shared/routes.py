"""One thread-pool hop per request for the services' plain (``def``) endpoints.

FastAPI runs a ``def`` endpoint in its thread pool, and then, because the endpoint was
not a coroutine, validates its answer against the response model in the thread pool
again: two hand-offs between the event loop and a worker thread per request, each a
wake-up and a wait for the GIL. ``OneHopRoute`` gives FastAPI a coroutine that runs the
endpoint in the thread pool itself, so the answer is validated on the event loop that
sends it. The endpoint's signature, annotations and docs are the original's
(``functools.wraps``; FastAPI reads them through ``__wrapped__``).

    router = APIRouter(route_class=OneHopRoute)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

__all__ = ["OneHopRoute", "in_thread_pool"]


def in_thread_pool(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """A coroutine that runs ``endpoint`` in the thread pool (coroutines are left as
    they are)."""
    if inspect.iscoroutinefunction(endpoint) or inspect.isgeneratorfunction(endpoint):
        return endpoint

    @functools.wraps(endpoint)
    async def run(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(endpoint, *args, **kwargs)

    return run


class OneHopRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, in_thread_pool(endpoint), **kwargs)
