"""A query parameter that takes one value is refused when given twice (FastAPI would keep
the last); one that takes a list may be repeated."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Query
from fastapi.testclient import TestClient

from shared.web import add_common


def _paging(page: int = 1) -> int:
    return page


def _client() -> TestClient:
    app = FastAPI()
    add_common(app, "test")

    @app.get("/things")
    def things(
        ids: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
        q: str | None = None,
        page: Annotated[int, Depends(_paging)] = 1,
    ) -> dict:
        return {"ids": ids, "q": q, "page": page}

    return TestClient(app)


def test_a_list_parameter_may_be_repeated():
    answer = _client().get("/things", params=[("ids", "a"), ("ids", "b"), ("q", "x")])
    assert answer.status_code == 200
    assert answer.json() == {"ids": ["a", "b"], "q": "x", "page": 1}


def test_a_single_valued_parameter_given_twice_is_refused_naming_it():
    for name in ("q", "page"):  # the route's own, and a dependency's
        answer = _client().get("/things", params=[(name, "1"), (name, "2")])
        assert answer.status_code == 422
        assert answer.json()["field"] == name
        assert answer.json()["detail"] == (
            f"{name}: give this query parameter once (it was given 2 times)"
        )
