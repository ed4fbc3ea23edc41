"""Wellbeing measures: ONS4 (and optionally SWEMWBS) recorded by link workers at first
contact and at follow-up, and the change between them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session as OrmSession

from services.referrals import audit, store
from services.referrals import wellbeing as measures
from services.referrals.access import ensure_open, load_referral, take_if_unassigned
from services.referrals.api.deps import Caller, Outbox, ReferralId, Session
from services.referrals.schemas import WellbeingIn
from shared.auth import Role, require
from shared.events import WellbeingChanged
from shared.routes import OneHopRoute
from shared.web import Conflict, Unprocessable

router = APIRouter(tags=["link workers"], route_class=OneHopRoute)


@router.post("/referrals/{referral_id}/wellbeing", status_code=201)
def record_wellbeing(
    referral_id: ReferralId, body: WellbeingIn, caller: Caller, session: Session, outbox: Outbox
) -> dict:
    """Record ONS4 (and optionally SWEMWBS) at first contact or at follow-up."""
    require(caller, Role.LINK_WORKER)
    try:
        ons4 = measures.validate_ons4(body.ons4)
        items = None if body.swemwbs is None else measures.validate_swemwbs(body.swemwbs)
    except measures.InvalidMeasure as exc:
        raise Unprocessable(
            str(exc), field=exc.field, errors=[{"field": exc.field, "reason": exc.reason}]
        ) from exc
    with session.begin():
        row = load_referral(session, caller, referral_id, lock=True)
        ensure_open(row)
        stages = set(store.wellbeing_records(session, referral_id))
        if body.stage in stages:
            raise Conflict(f"wellbeing at {body.stage} is already recorded for this referral")
        if body.stage == "follow_up" and "first_contact" not in stages:
            raise Conflict("record wellbeing at first_contact before the follow_up")
        store.add_wellbeing(
            session,
            referral_id,
            body.stage,
            ons4,
            list(items) if items else None,
            measures.swemwbs_metric(items) if items else None,
            caller.user_id,
        )
        audit.record(session, caller, referral_id, "wellbeing", detail=body.stage)
        take_if_unassigned(session, caller, row)
        changed = measures.change_of(store.wellbeing_records(session, referral_id))
        if changed is not None:  # reports get the changes only, never the scores
            metric = changed["swemwbs_metric"]
            outbox.add(
                session,
                WellbeingChanged(
                    referral_id=referral_id,
                    **{item: v["difference"] for item, v in changed["ons4"].items()},
                    swemwbs_metric=metric["difference"] if metric else None,
                ),
            )
        return _view(session, referral_id)


@router.get("/referrals/{referral_id}/wellbeing")
def get_wellbeing(referral_id: ReferralId, caller: Caller, session: Session) -> dict:
    require(caller, Role.LINK_WORKER, Role.PRACTICE_STAFF)
    with session.begin():
        load_referral(session, caller, referral_id)
        audit.record(session, caller, referral_id, "read", detail="wellbeing")
        return _view(session, referral_id)


def _view(session: OrmSession, referral_id: str) -> dict:
    records = store.wellbeing_records(session, referral_id)
    out: dict[str, Any] = {}
    for stage in measures.STAGES:
        record = records.get(stage)
        out[stage] = (
            None
            if record is None
            else {
                "ons4": dict(record.ons4),
                "swemwbs": list(record.swemwbs) if record.swemwbs else None,
                "swemwbs_metric": record.swemwbs_metric,
            }
        )
    out["change"] = measures.change_of(records)
    return out
