"""The message back to the GP: PRSB sections, SNOMED CT codes, and codes only without
consent to share."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fhir.resources.R4B.composition import Composition

from services.referrals.gp_message import ConnectionSummary, GpMessageInput, compose
from services.referrals.wellbeing import WellbeingRecord, change

ONS4_FIRST = {"life_satisfaction": 3, "worthwhile": 4, "happiness": 3, "anxiety": 8}
ONS4_LATER = {"life_satisfaction": 7, "worthwhile": 6, "happiness": 6, "anxiety": 3}


def message(**overrides) -> GpMessageInput:
    values = {
        "referral_id": "r1",
        "nhs_number": "9434765919",
        "practice_ods": "G83001",
        "referred_on": date(2025, 3, 1),
        "closed_on": datetime(2025, 6, 1, 10, tzinfo=UTC),
        "consent_to_share": True,
        "needs_text": "lonely since husband died, loves gardening",
        "need_categories": ("social connection",),
        "connections": (
            ConnectionSummary("Bexley Garden Club", "referral", "attended"),
            ConnectionSummary("Bereavement Cafe", "signposting", None),
        ),
        "closed_reason": "settled into the garden club",
        "wellbeing_change": change(
            WellbeingRecord("first_contact", ONS4_FIRST, (2,) * 7),
            WellbeingRecord("follow_up", ONS4_LATER, (3,) * 7),
        ),
        "link_worker_team": "community-connect",
    }
    values.update(overrides)
    return GpMessageInput(**values)


def test_the_message_has_the_prsb_sections_and_the_referral_code():
    out = compose(message())
    composition = Composition.model_validate(out["fhir"])
    assert composition.type.coding[0].code == "871731000000106"
    assert [s.title for s in composition.section] == [
        "Needs and concerns",
        "Support offered",
        "Outcomes",
        "Wellbeing",
    ]
    assert composition.subject.identifier.value == "9434765919"
    text = out["text"]
    assert "Bexley Garden Club (referral)" in text
    assert "lonely since husband died" in text
    assert "ONS4 anxiety: 8 -> 3 (-5, improved)" in text
    assert "SWEMWBS metric score: 15.32 -> 19.25 (+3.93)" in text
    assert out["codes_only"] is False


def test_without_consent_to_share_the_message_is_codes_only():
    out = compose(message(consent_to_share=False))
    everything = str(out["fhir"]) + out["text"]
    for private in ("Garden Club", "Bereavement Cafe", "lonely", "settled into"):
        assert private not in everything
    assert out["codes_only"] is True
    needs = out["fhir"]["section"][0]
    assert needs["emptyReason"]["coding"][0]["code"] == "withheld"
    outcome_codes = out["fhir"]["section"][2]["code"]["coding"]
    assert [c["code"] for c in outcome_codes] == ["attended"]


def test_declining_everything_is_coded_as_social_prescribing_declined():
    out = compose(
        message(
            connections=(ConnectionSummary("Walking group", "referral", "declined_by_patient"),),
            wellbeing_change=None,
        )
    )
    assert out["code"]["code"] == "871711000000103"
    assert out["fhir"]["type"]["coding"][0]["display"] == "Social prescribing declined"
    assert "Wellbeing was not measured" in out["text"]


def test_the_overall_outcome_claims_nothing_nobody_recorded():
    unrecorded = (ConnectionSummary("Walking group", "referral", None),)
    assert "Overall: no outcome recorded" in compose(message(connections=unrecorded))["text"]

    text = compose(message())["text"]  # attended at one, nothing recorded at the other
    assert "- Overall: attended\n" not in text
    assert "Overall: attended (1 of 2 connections with no outcome recorded)" in text
    assert "Bereavement Cafe: not recorded" in text

    codes_only = compose(message(consent_to_share=False))["text"]
    assert "Overall: attended (1 of 2 connections with no outcome recorded)" in codes_only
