"""FHIR R4 intake: a social prescribing ServiceRequest becomes the JSON intake's fields."""

from __future__ import annotations

import copy
from datetime import date

import pytest

from services.referrals.fhir import FhirInvalid, operation_outcome, referral_fields

PATIENT = {
    "resourceType": "Patient",
    "id": "pat",
    "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}],
    "name": [{"use": "official", "family": "Okafor", "given": ["Margaret"]}],
    "gender": "female",
    "birthDate": "1948-03-02",
    "address": [{"use": "home", "postalCode": "DA5 1GP"}],
    "telecom": [
        {"system": "phone", "value": "020 7946 0018", "rank": 1},
        {"system": "email", "value": "m.okafor@example.org"},
    ],
}
CONSENT = {
    "resourceType": "Consent",
    "id": "consent",
    "status": "active",
    "scope": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                "code": "patient-privacy",
            }
        ]
    },
    "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
    "patient": {"reference": "#pat"},
    "provision": {
        "type": "permit",
        "action": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentaction",
                        "code": "disclose",
                    }
                ]
            }
        ],
    },
}


def service_request(**overrides) -> dict:
    """A valid ServiceRequest with its Patient and Consent contained."""
    doc = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "priority": "urgent",
        "code": {
            "coding": [
                {
                    "system": "http://snomed.info/sct",
                    "code": "871731000000106",
                    "display": "Referral to social prescribing service",
                }
            ]
        },
        "subject": {"reference": "#pat"},
        "contained": [copy.deepcopy(PATIENT), copy.deepcopy(CONSENT)],
        "supportingInfo": [{"reference": "#consent"}],
        "reasonCode": [{"text": "social isolation"}],
        "note": [{"text": "lonely since husband died in March, loves gardening"}],
    }
    doc.update(overrides)
    return doc


def bundle() -> dict:
    request = service_request(
        subject={"reference": "urn:uuid:11111111-1111-1111-1111-111111111111"}
    )
    request["contained"] = []
    patient = copy.deepcopy(PATIENT)
    del patient["id"]
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:22222222-2222-2222-2222-222222222222",
                "resource": request,
                "request": {"method": "POST", "url": "ServiceRequest"},
            },
            {
                "fullUrl": "urn:uuid:11111111-1111-1111-1111-111111111111",
                "resource": patient,
                "request": {"method": "POST", "url": "Patient"},
            },
            {"resource": copy.deepcopy(CONSENT), "request": {"method": "POST", "url": "Consent"}},
        ],
    }


def test_a_contained_patient_maps_to_the_json_intake():
    fields = referral_fields(service_request())
    assert fields == {
        "given_name": "Margaret",
        "family_name": "Okafor",
        "nhs_number": "9434765919",
        "birth_date": date(1948, 3, 2),
        "gender": "female",
        "postcode": "DA5 1GP",
        "phone": "020 7946 0018",
        "email": "m.okafor@example.org",
        "preferred_contact": "phone",
        "needs": "lonely since husband died in March, loves gardening\nsocial isolation",
        "need_categories": [],  # free text, not a pick-list category
        "urgency": "soon",
        "consent_to_refer": True,
        "consent_to_share": True,
    }


def test_a_bundle_references_the_patient_by_full_url():
    fields = referral_fields(bundle())
    assert fields["nhs_number"] == "9434765919"
    assert fields["consent_to_share"] is True


def test_consent_without_disclose_does_not_share_contact_details():
    doc = service_request()
    doc["contained"][1]["provision"]["action"] = []
    assert referral_fields(doc)["consent_to_share"] is False


def _issue(doc) -> dict:
    with pytest.raises(FhirInvalid) as info:
        referral_fields(doc)
    return operation_outcome(info.value.issues)["issue"][0]


def test_the_social_prescribing_code_is_required():
    issue = _issue(
        service_request(code={"coding": [{"system": "http://snomed.info/sct", "code": "123"}]})
    )
    assert issue["severity"] == "error"
    assert issue["code"] == "invalid"
    assert issue["expression"] == ["ServiceRequest.code.coding"]
    assert "871731000000106" in issue["diagnostics"]


def test_a_missing_nhs_number_names_the_element():
    doc = service_request()
    doc["contained"][0]["identifier"] = []
    issue = _issue(doc)
    assert issue["code"] == "required"
    assert issue["expression"][0].startswith("Patient.identifier")


def test_without_an_active_consent_the_referral_is_refused():
    doc = service_request()
    doc["contained"][1]["status"] = "inactive"
    assert _issue(doc)["expression"] == ["Consent.status"]


def test_structurally_invalid_fhir_names_the_path():
    doc = service_request()
    doc["contained"][0]["birthDate"] = "02/03/1948"
    issue = _issue(doc)
    assert issue["code"] == "invalid"
    assert issue["expression"] == ["ServiceRequest.contained[0].birthDate"]


def test_other_resources_and_unresolved_subjects_are_refused():
    assert _issue({"resourceType": "Observation"})["code"] == "not-supported"
    assert _issue(service_request(subject={"reference": "#nobody"}))["expression"] == [
        "ServiceRequest.subject.reference"
    ]


def test_reason_codes_on_the_pick_list_become_need_categories():
    fields = referral_fields(
        service_request(reasonCode=[{"text": "Bereavement"}, {"text": "feeling low"}])
    )
    assert fields["need_categories"] == ["bereavement"]
    assert "feeling low" in fields["needs"]
