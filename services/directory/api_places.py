"""A group's places in one click: "places left" (with its places a week), "waiting list" or
"full", without sending the whole entry.

Saving republishes the service (``ServiceUpserted``) in the same transaction: the matcher
stops proposing a full service and offers a waiting-list one only after services with
places, flagged; answers can be changed at any time. Saying how many places there are is
not an assurance of the whole entry, so ``assured_date`` does not move.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import update

from services.directory import store
from services.directory.api import editable_service, service_out
from services.directory.handlers import publish_service
from shared.auth import Caller
from shared.events import TakingPeople

router = APIRouter(tags=["directory"])


class PlacesIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"taking": "places_left", "capacity_per_week": 12},
                {"taking": "waiting_list"},
                {"taking": "full"},
            ]
        },
    )
    taking: TakingPeople
    capacity_per_week: int | None = Field(
        None,
        ge=0,
        le=100_000,
        description="With places_left: places each week (left out: unchanged; null: no"
        " fixed number).",
    )

    @model_validator(mode="after")
    def _places(self) -> PlacesIn:
        if self.capacity_per_week is not None and self.taking != "places_left":
            raise ValueError("capacity_per_week: give places a week only with places_left")
        return self


@router.post("/services/{service_id}/places")
def set_places(service_id: str, body: PlacesIn, request: Request, caller: Caller) -> dict:
    """The group says it has places left, keeps a waiting list, or is full."""
    changes: dict = {"taking": body.taking, "updated_at": store.now()}
    if "capacity_per_week" in body.model_fields_set:
        changes["capacity_per_week"] = body.capacity_per_week
    with request.app.state.sessions.begin() as session:
        editable_service(session, caller, service_id)
        session.execute(
            update(store.services).where(store.services.c.id == service_id).values(**changes)
        )
        publish_service(session, request.app.state.outbox, service_id, date.today())
        return service_out(
            session, store.get_service(session, service_id), request.app.state.settings
        )
