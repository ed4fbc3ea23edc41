"""The referrals HTTP API, one module per resource; ``deps.py`` holds the dependencies
every route takes (``Caller``, ``Session``, ``Outbox``).

    sign_in      POST /auth/token
    referrals    /referrals (JSON intake, lists, one referral, edits, audit, GP message)
    connections  /referrals/{id}/connections, /decline, /connections/{cid}/outcome
    link_work    /worklist, /caseload, /referrals/{id}/assign, /contact-attempts, /close
    wellbeing    /referrals/{id}/wellbeing
    groups       /group/referrals, /group/connections/{cid}
    fhir         /fhir/ServiceRequest (FHIR intake, the same use case as the JSON one)
    gp_messages  /gp-messages (which messages back the practice has not read yet)
    admin        /admin/users, /admin/audit (accounts, and the audit log searched)
"""

from __future__ import annotations

from fastapi import APIRouter

from services.referrals.api import (
    admin,
    connections,
    fhir,
    gp_messages,
    groups,
    link_work,
    referrals,
    sign_in,
    wellbeing,
)
from services.referrals.api.sign_in import login

__all__ = ["ROUTERS", "login"]

ROUTERS: tuple[APIRouter, ...] = (
    sign_in.router,
    referrals.router,
    connections.router,
    link_work.router,
    wellbeing.router,
    groups.router,
    fhir.router,
    gp_messages.router,
    admin.router,
)
