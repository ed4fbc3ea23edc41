"""What clients send to the referrals API: validated at the edge, with a reason per field."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from services.referrals.domain import (
    NEED_CATEGORIES,
    age_on,
    is_valid_nhs_number,
    normalise_postcode,
)
from shared.validation import line, text

Gender = Literal["female", "male", "non-binary"]
Label = line(60, 1)  # a language, an accessibility need, a category
OLDEST_AGE = 120


def _known_categories(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    cleaned = [v.strip().lower() for v in values]
    unknown = [v for v in cleaned if v not in NEED_CATEGORIES]
    if unknown:
        raise ValueError(
            f"not on the pick-list: {', '.join(unknown)}; choose from: {', '.join(NEED_CATEGORIES)}"
        )
    return cleaned


class ReferralIn(BaseModel):
    """A referral as GP practice staff send it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "given_name": "Margaret",
                    "family_name": "Okafor",
                    "nhs_number": "9434765919",
                    "birth_date": "1948-03-02",
                    "gender": "female",
                    "postcode": "DA5 1GP",
                    "phone": "020 7946 0018",
                    "preferred_contact": "phone",
                    "languages": ["English"],
                    "accessibility_needs": ["step_free"],
                    "needs": "lonley since husband d. in March, likes gardening",
                    "need_categories": ["social connection", "bereavement"],
                    "urgency": "routine",
                    "consent_to_refer": True,
                    "consent_to_share": True,
                }
            ]
        },
    )
    given_name: line(100, 1)
    family_name: line(100, 1)
    nhs_number: line(20) = Field(description="10 digits with a valid Modulus 11 check digit")
    birth_date: date = Field(description=f"The person is 18 to {OLDEST_AGE}")
    gender: Gender | None = None
    postcode: line(16) = Field(description="A UK postcode; outside the area is accepted")
    phone: line(40) | None = None
    email: EmailStr | None = None
    preferred_contact: Literal["phone", "email", "letter", "text"] = "phone"
    languages: list[Label] = Field(default_factory=lambda: ["English"], max_length=10)
    accessibility_needs: list[Label] = Field(default_factory=list, max_length=10)
    delivery_modes: list[Literal["in_person", "phone", "online", "home"]] = Field(
        default_factory=list,
        max_length=4,
        description="What the person can take part in; empty = any",
    )
    needs: text(4000, 3) = Field(description="In the referrer's words")
    need_categories: list[Label] = Field(default_factory=list, max_length=10)
    urgency: Literal["routine", "soon", "urgent"] = "routine"
    consent_to_refer: bool = Field(strict=True, description="The person agreed to this referral")
    consent_to_share: bool = Field(
        False,
        strict=True,
        description="The person agreed their contact details go to the chosen group",
    )

    @field_validator("need_categories")
    @classmethod
    def _categories(cls, value: list[str]) -> list[str]:
        return _known_categories(value)

    @field_validator("nhs_number")
    @classmethod
    def _nhs_number(cls, value: str) -> str:
        digits = value.replace(" ", "").replace("-", "")
        if not is_valid_nhs_number(digits):
            raise ValueError("not a valid NHS number (10 digits, Modulus 11 check digit)")
        return digits

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, value: str) -> str:
        normal = normalise_postcode(value)
        if normal is None:
            raise ValueError("not a UK postcode")
        return normal

    @field_validator("birth_date")
    @classmethod
    def _adult(cls, value: date) -> date:
        if value > date.today():
            raise ValueError("is in the future")
        age = age_on(value, date.today())
        if age < 18:
            raise ValueError("social prescribing here is for adults: the person must be 18+")
        if age > OLDEST_AGE:
            raise ValueError(f"the person would be {age}: check the year (oldest {OLDEST_AGE})")
        return value

    @model_validator(mode="after")
    def _consent_and_contact(self) -> ReferralIn:
        if not self.consent_to_refer:
            raise ValueError(
                "consent_to_refer: the person's recorded consent is required to refer them"
            )
        if self.preferred_contact in ("phone", "text") and not self.phone:
            raise ValueError("phone: needed when the preferred contact is phone or text")
        if self.preferred_contact == "email" and not self.email:
            raise ValueError("email: needed when the preferred contact is email")
        return self


class NeedsEdit(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"needs": "lonely since wife died; now also behind on rent", "urgency": "soon"}
            ]
        },
    )
    needs: text(4000, 3) | None = None
    need_categories: list[Label] | None = Field(None, max_length=10)
    languages: list[Label] | None = Field(None, max_length=10)
    accessibility_needs: list[Label] | None = Field(None, max_length=10)
    delivery_modes: list[Literal["in_person", "phone", "online", "home"]] | None = Field(
        None, max_length=4
    )
    urgency: Literal["routine", "soon", "urgent"] | None = None

    @field_validator("need_categories")
    @classmethod
    def _categories(cls, value: list[str] | None) -> list[str] | None:
        return _known_categories(value)


class ConnectionIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"service_id": "svc-grief-cafe", "mode": "referral"}]},
    )
    service_id: line(100, 1) = Field(description="A directory service")
    mode: Literal["signposting", "referral"] = Field(
        description="signposting: information given; referral: the group is asked to take them on"
    )
    waiting_list: bool = Field(
        False,
        strict=True,
        description="Put the person on the waiting list of a service that is full, "
        "temporarily closed or withdrawn (refused otherwise, with the reason)",
    )
    summary_for_group: text(1000) | None = Field(
        None,
        description="What the group needs to know to help, in the link worker's words "
        "(the group never sees the GP's referral text)",
    )
    service_name: line(300) | None = Field(
        None, description="Ignored: the name comes from the directory"
    )
    organisation_id: line(100) | None = Field(
        None,
        description="Optional check: refused unless it is the service's own organisation "
        "in the directory, which is where the connection's organisation always comes from",
    )


class DeclineIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"service_ids": ["svc-knit-natter"], "reason": "does not want a group"}]
        },
    )
    service_ids: list[line(100, 1)] | None = Field(
        None, max_length=50, description="Omit to decline all proposals"
    )
    reason: text(1000, 3)


class OutcomeIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"outcome": "attended"}]}
    )
    outcome: Literal[
        "attended", "did_not_attend", "declined_by_patient", "no_capacity", "completed"
    ]


class CloseIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "connected and attending; follow-up done"}]},
    )
    reason: text(1000, 3)


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}]})
    link_worker_id: line(64) | None = Field(None, description="Omit to take the referral yourself")


class ContactAttemptIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"date": "2026-11-20", "method": "phone", "result": "no_answer"}]
        },
    )
    date: date
    method: Literal["phone", "email", "letter", "text", "in_person"]
    result: Literal["reached", "no_answer", "left_message", "wrong_number", "declined"]

    @field_validator("date")
    @classmethod
    def _not_future(cls, value: date) -> date:
        if value > date.today():
            raise ValueError("is in the future")
        return value


class WellbeingIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "stage": "first_contact",
                    "ons4": {"life_satisfaction": 3, "worthwhile": 4, "happiness": 3, "anxiety": 8},
                    "swemwbs": [2, 2, 1, 2, 3, 2, 3],
                }
            ]
        },
    )
    stage: Literal["first_contact", "follow_up"]
    ons4: dict[line(40), Any] = Field(
        max_length=10, description="life_satisfaction, worthwhile, happiness, anxiety: 0-10 each"
    )
    swemwbs: list[Any] | None = Field(
        None, max_length=20, description="The 7 SWEMWBS items, 1-5 each"
    )


class GroupResponseIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "we have a place on Thursday afternoons"}]},
    )
    reason: text(1000) | None = None
    because_full: bool = Field(
        False,
        strict=True,
        description="Declining because the service is full: the answer offers to update its"
        " places in the directory, so it stops being proposed",
    )


class GroupOutcomeIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"outcome": "attended"}]}
    )
    outcome: Literal["attended", "did_not_attend", "completed"]
