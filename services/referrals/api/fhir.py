"""FHIR R4 referral intake: ``POST /fhir/ServiceRequest`` from GP systems.

The message is mapped (services/referrals/fhir.py) to the same ``ReferralIn`` as the JSON
intake and goes through the same use case (``intake.submit_referral``), duplicates
included. Every refusal is a FHIR
``OperationOutcome`` whose issues name the FHIRPath of the offending element.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from services.referrals.api.deps import Caller, Outbox, Places, Policy, Session
from services.referrals.fhir import (
    FhirInvalid,
    Issue,
    expression_for,
    operation_outcome,
    referral_fields,
)
from services.referrals.intake import submit_referral
from services.referrals.schemas import ReferralIn
from shared.routes import OneHopRoute
from shared.web import DomainError

router = APIRouter(prefix="/fhir", tags=["fhir"], route_class=OneHopRoute)
FHIR_JSON = "application/fhir+json"
_ACCEPTED_TYPES = (FHIR_JSON, "application/json")


async def _raw_body(request: Request) -> bytes:
    return await request.body()


def _outcome(status_code: int, issues: list[Issue]) -> JSONResponse:
    return JSONResponse(operation_outcome(issues), status_code=status_code, media_type=FHIR_JSON)


@router.post(
    "/ServiceRequest",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A ServiceRequest with a contained Patient and Consent, or a "
            "transaction/collection Bundle holding them",
            "content": {FHIR_JSON: {"schema": {"type": "object"}}},
        }
    },
)
def receive_service_request(
    caller: Caller,
    session: Session,
    outbox: Outbox,
    places: Places,
    policy: Policy,
    raw: Annotated[bytes, Depends(_raw_body)],
    content_type: Annotated[str, Header()] = "",
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    """Refer a person with an HL7 FHIR R4 ServiceRequest (SNOMED CT 871731000000106)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in _ACCEPTED_TYPES:
        return _outcome(
            415,
            [
                Issue(
                    "not-supported", f"send {FHIR_JSON}, not {media_type or 'no content type'}", ""
                )
            ],
        )
    try:
        doc = json.loads(raw)
        body = ReferralIn.model_validate(referral_fields(doc))
    except RecursionError:
        return _outcome(400, [Issue("structure", "the body is nested too deeply", "")])
    except FhirInvalid as exc:
        return _outcome(422, exc.issues)
    except ValidationError as exc:
        return _outcome(422, _issues_of(exc))
    except ValueError as exc:
        return _outcome(400, [Issue("structure", f"the body is not JSON: {exc}", "")])
    try:
        created, answer = submit_referral(
            session, outbox, places, policy, caller, body, idempotency_key
        )
    except DomainError as exc:
        return _outcome(exc.status_code, [Issue("processing", exc.message, "")])
    return JSONResponse(
        answer,
        status_code=201 if created else 200,
        headers={"Location": f"/referrals/{answer['id']}"},
    )


def _issues_of(exc: ValidationError) -> list[Issue]:
    """The JSON intake's complaints, pointed back at the FHIR elements they came from."""
    issues = []
    for err in exc.errors():
        reason = str(err["msg"]).removeprefix("Value error, ")
        field = str(err["loc"][0]) if err["loc"] else reason.split(":", 1)[0]
        reason = reason.removeprefix(f"{field}: ")
        path = expression_for(field)
        issues.append(Issue("invalid", f"{path}: {reason}", path))
    return issues
