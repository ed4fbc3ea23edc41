"""OneHopRoute: a plain endpoint runs in the thread pool, its answer is validated on the
event loop (FastAPI's own route validates it in the thread pool a second time)."""

from __future__ import annotations

import inspect
import threading

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, field_validator

from shared.routes import OneHopRoute

seen: dict[str, int] = {}


async def on_the_loop() -> None:
    seen["loop"] = threading.get_ident()


class Answer(BaseModel):
    value: int

    @field_validator("value")
    @classmethod
    def note(cls, v: int) -> int:
        seen["validated"] = threading.get_ident()
        return v


def _app(route_class) -> TestClient:
    router = APIRouter(route_class=route_class)

    @router.get("/thing/{n}", response_model=Answer)
    def thing(n: int, _=Depends(on_the_loop)) -> dict:
        """A thing."""
        seen["endpoint"] = threading.get_ident()
        return {"value": n}

    app = FastAPI()
    app.include_router(router)
    return TestClient(app)


def test_the_endpoint_runs_in_the_pool_and_its_answer_is_validated_on_the_loop():
    seen.clear()
    with _app(OneHopRoute) as client:
        assert client.get("/thing/7").json() == {"value": 7}
        assert client.get("/thing/x").status_code == 422  # parameters as before
    assert seen["endpoint"] != seen["loop"]
    assert seen["validated"] == seen["loop"]


def test_fastapis_own_route_validates_in_the_pool_again():
    seen.clear()
    with _app(APIRoute) as client:
        client.get("/thing/7")
    assert seen["validated"] != seen["loop"]


def test_the_endpoint_keeps_its_signature_and_docs():
    with _app(OneHopRoute) as client:
        operation = client.get("/openapi.json").json()["paths"]["/thing/{n}"]["get"]
    assert operation["summary"] == "Thing" and operation["description"] == "A thing."
    assert [p["name"] for p in operation["parameters"]] == ["n"]


def test_every_referrals_api_route_answers_in_one_hop():
    from services.referrals.app import create_app

    plain = [
        r.path
        for r in create_app().routes
        if isinstance(r, APIRoute)
        and r.include_in_schema
        and not inspect.iscoroutinefunction(r.dependant.call)
    ]
    assert plain == []
