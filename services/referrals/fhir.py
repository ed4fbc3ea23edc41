"""HL7 FHIR R4 referral intake: a ``ServiceRequest`` for social prescribing, turned into the
same fields as the JSON intake. Pure: no I/O, no framework imports.

What is accepted (R4, validated with the R4B models of fhir.resources, which are
R4-compatible for these resources):

- a ``ServiceRequest`` with the ``Patient`` (and ``Consent``) as contained resources,
  ``subject`` referencing ``#<patient id>``; or
- a ``Bundle`` of type ``transaction`` or ``collection`` holding one ``ServiceRequest``,
  the ``Patient`` its ``subject`` references by ``fullUrl`` (or ``Patient/<id>``), and the
  ``Consent``.

The ``ServiceRequest`` must be ``status`` active and carry the SNOMED CT code
871731000000106 "Referral to social prescribing service" in ``code``. Needs come from
``note.text`` and ``reasonCode`` (text or coding display); ``priority`` routine -> routine,
urgent -> soon, asap/stat -> urgent.

Consent: a ``Consent`` resource (contained, or in the Bundle) with ``status`` active
records the person's consent to the referral; consent to share their contact details
with the chosen group is a ``provision`` of type ``permit`` whose ``action`` includes the
code ``disclose`` (http://terminology.hl7.org/CodeSystem/consentaction).

The referring practice is never taken from the message: it is the caller's, from the
token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from services.referrals.domain import NEED_CATEGORIES

__all__ = [
    "NHS_NUMBER_SYSTEM",
    "SNOMED",
    "SOCIAL_PRESCRIBING_DECLINED",
    "SOCIAL_PRESCRIBING_REFERRAL",
    "FhirInvalid",
    "Issue",
    "expression_for",
    "operation_outcome",
    "referral_fields",
]

SNOMED = "http://snomed.info/sct"
SOCIAL_PRESCRIBING_REFERRAL = ("871731000000106", "Referral to social prescribing service")
SOCIAL_PRESCRIBING_DECLINED = ("871711000000103", "Social prescribing declined")
NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
CONSENT_ACTION_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentaction"

_PRIORITY = {"routine": "routine", "urgent": "soon", "asap": "urgent", "stat": "urgent"}
_GENDER = {"female": "female", "male": "male"}  # other/unknown: not recorded

#: The JSON intake's field -> where it came from in the FHIR message.
_FIELD_PATHS = {
    "given_name": "Patient.name.given",
    "family_name": "Patient.name.family",
    "nhs_number": f"Patient.identifier.where(system='{NHS_NUMBER_SYSTEM}').value",
    "birth_date": "Patient.birthDate",
    "gender": "Patient.gender",
    "postcode": "Patient.address.postalCode",
    "phone": "Patient.telecom.where(system='phone').value",
    "email": "Patient.telecom.where(system='email').value",
    "preferred_contact": "Patient.telecom.rank",
    "needs": "ServiceRequest.note.text",
    "urgency": "ServiceRequest.priority",
    "consent_to_refer": "Consent.status",
    "consent_to_share": "Consent.provision.action",
}


@dataclass(frozen=True)
class Issue:
    code: str  # FHIR issue-type: invalid, required, structure, not-supported, ...
    diagnostics: str
    expression: str


class FhirInvalid(ValueError):
    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(i.diagnostics for i in issues))
        self.issues = issues


def expression_for(field: str) -> str:
    """The FHIRPath a JSON-intake field was mapped from."""
    return _FIELD_PATHS.get(field.split(".", 1)[0], "ServiceRequest")


def operation_outcome(issues: list[Issue]) -> dict:
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": i.code,
                "diagnostics": i.diagnostics,
                "expression": [i.expression],
            }
            for i in issues
        ],
    }


def referral_fields(doc: Any) -> dict[str, Any]:
    """The JSON intake's fields from a FHIR ServiceRequest or Bundle; ``FhirInvalid`` if
    the message is not a valid social prescribing referral."""
    if not isinstance(doc, dict) or "resourceType" not in doc:
        raise FhirInvalid([Issue("structure", "not a FHIR resource: no resourceType", "")])
    kind = doc["resourceType"]
    if kind == "ServiceRequest":
        request = _validated("ServiceRequest", doc, "ServiceRequest")
        found = _contained(request)
    elif kind == "Bundle":
        request, found = _from_bundle(doc)
    else:
        raise FhirInvalid(
            [Issue("not-supported", f"expected a ServiceRequest or a Bundle, not {kind}", kind)]
        )
    _check_request(request)
    patient = _subject(request, found)
    return {
        **_patient_fields(patient),
        **_needs(request),
        **_consent(found.get("Consent", [])),
    }


# --- parsing ---------------------------------------------------------------------------


def _model(kind: str):
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(kind)


def _validated(kind: str, doc: dict, where: str):
    try:
        return _model(kind).model_validate(doc)
    except ValidationError as exc:
        issues = []
        for err in exc.errors()[:10]:
            path = _fhirpath(err["loc"])
            reason = str(err["msg"]).removeprefix("Value error, ")
            code = "required" if err["type"] == "missing" else "invalid"
            expression = f"{where}.{path}" if path else where
            issues.append(Issue(code, f"{expression}: {reason}", expression))
        raise FhirInvalid(issues) from exc


def _fhirpath(loc: tuple) -> str:
    """``("contained", 0, "birthDate")`` -> ``contained[0].birthDate``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part != "resourceType":
            path += f".{part}" if path else str(part)
    return path


def _contained(request) -> dict[str, list]:
    found: dict[str, list] = {}
    for resource in request.contained or []:
        found.setdefault(resource.get_resource_type(), []).append(resource)
    return found


def _from_bundle(doc: dict):
    bundle = _validated("Bundle", doc, "Bundle")
    if bundle.type not in ("transaction", "collection"):
        raise FhirInvalid(
            [Issue("invalid", "Bundle.type must be transaction or collection", "Bundle.type")]
        )
    found: dict[str, list] = {}
    for entry in bundle.entry or []:
        if entry.resource is None:
            continue
        resource = entry.resource
        found.setdefault(resource.get_resource_type(), []).append(resource)
        if entry.fullUrl:
            found.setdefault("#urls", []).append((entry.fullUrl, resource))
    requests = found.get("ServiceRequest", [])
    if len(requests) != 1:
        raise FhirInvalid(
            [
                Issue(
                    "required" if not requests else "invalid",
                    f"the Bundle must hold exactly one ServiceRequest, not {len(requests)}",
                    "Bundle.entry.resource.ofType(ServiceRequest)",
                )
            ]
        )
    request = requests[0]
    for kind, resources in _contained(request).items():
        found.setdefault(kind, []).extend(resources)
    return request, found


def _check_request(request) -> None:
    if request.status != "active":
        raise FhirInvalid(
            [
                Issue(
                    "invalid",
                    f"ServiceRequest.status must be active, not {request.status!r}",
                    "ServiceRequest.status",
                )
            ]
        )
    codings = request.code.coding if request.code and request.code.coding else []
    code, display = SOCIAL_PRESCRIBING_REFERRAL
    if not any(c.system == SNOMED and c.code == code for c in codings):
        raise FhirInvalid(
            [
                Issue(
                    "required" if not codings else "invalid",
                    f"ServiceRequest.code must carry SNOMED CT {code} '{display}'",
                    "ServiceRequest.code.coding",
                )
            ]
        )


def _subject(request, found: dict[str, list]):
    reference = request.subject.reference if request.subject else None
    if not reference:
        raise FhirInvalid(
            [
                Issue(
                    "required",
                    "ServiceRequest.subject must reference the Patient",
                    "ServiceRequest.subject",
                )
            ]
        )
    for url, resource in found.get("#urls", []):
        if url == reference and resource.get_resource_type() == "Patient":
            return resource
    wanted = reference.removeprefix("#").removeprefix("Patient/")
    for patient in found.get("Patient", []):
        if patient.id == wanted:
            return patient
    raise FhirInvalid(
        [
            Issue(
                "required",
                f"ServiceRequest.subject {reference!r} names no Patient in the message "
                "(contain it, or include it in the Bundle)",
                "ServiceRequest.subject.reference",
            )
        ]
    )


# --- mapping ---------------------------------------------------------------------------


def _missing(field: str, what: str) -> FhirInvalid:
    path = _FIELD_PATHS[field]
    return FhirInvalid([Issue("required", f"{path}: {what}", path)])


def _patient_fields(patient) -> dict[str, Any]:
    nhs = next(
        (i.value for i in patient.identifier or [] if i.system == NHS_NUMBER_SYSTEM and i.value),
        None,
    )
    if nhs is None:
        raise _missing("nhs_number", f"an identifier with system {NHS_NUMBER_SYSTEM} is required")
    names = patient.name or []
    name = next((n for n in names if n.use == "official"), names[0] if names else None)
    if name is None or not name.given:
        raise _missing("given_name", "the Patient's given name is required")
    if not name.family:
        raise _missing("family_name", "the Patient's family name is required")
    if patient.birthDate is None:
        raise _missing("birth_date", "the Patient's date of birth is required")
    addresses = patient.address or []
    address = next((a for a in addresses if a.use == "home" and a.postalCode), None)
    address = address or next((a for a in addresses if a.postalCode), None)
    if address is None:
        raise _missing("postcode", "the Patient's postcode is required")
    return {
        "given_name": name.given[0],
        "family_name": name.family,
        "nhs_number": nhs,
        "birth_date": patient.birthDate,
        "gender": _GENDER.get(patient.gender or ""),
        "postcode": address.postalCode,
        **_contact(patient.telecom or []),
    }


def _contact(telecom: list) -> dict[str, Any]:
    active = [t for t in telecom if t.value and (t.period is None or t.period.end is None)]
    phone = next((t.value for t in active if t.system in ("phone", "sms")), None)
    email = next((t.value for t in active if t.system == "email"), None)
    ranked = sorted((t for t in active if t.rank), key=lambda t: t.rank)
    preferred = {"phone": "phone", "sms": "text", "email": "email"}.get(
        ranked[0].system if ranked else "", "phone" if phone else "email" if email else "letter"
    )
    return {"phone": phone, "email": email, "preferred_contact": preferred}


def _needs(request) -> dict[str, Any]:
    parts = [n.text for n in request.note or [] if n.text]
    categories = []
    for reason in request.reasonCode or []:
        label = reason.text or next((c.display for c in reason.coding or [] if c.display), None)
        if label:
            parts.append(label)
            if label.strip().lower() in NEED_CATEGORIES:  # a pick-list category, verbatim
                categories.append(label.strip().lower())
    if not parts:
        raise _missing("needs", "describe the person's needs in note.text or reasonCode")
    return {
        "needs": "\n".join(parts),
        "need_categories": categories[:10],
        "urgency": _PRIORITY.get(request.priority or "routine", "routine"),
    }


def _consent(consents: list) -> dict[str, Any]:
    active = [c for c in consents if c.status == "active"]
    if not active:
        raise _missing(
            "consent_to_refer",
            "an active Consent (contained or in the Bundle) recording the person's consent "
            "to the referral is required",
        )
    share = False
    for consent in active:
        provision = consent.provision
        if provision is None or provision.type != "permit":
            continue
        for action in provision.action or []:
            if any(
                c.system == CONSENT_ACTION_SYSTEM and c.code == "disclose"
                for c in action.coding or []
            ):
                share = True
    return {"consent_to_refer": True, "consent_to_share": share}
