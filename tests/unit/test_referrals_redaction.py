"""Free text leaves the referrals service without the person's names or identifiers."""

from __future__ import annotations

from datetime import date

from services.referrals.redaction import Person, redact

MARGARET = Person("Margaret", "Okafor-Smith", date(1948, 3, 2))


def test_the_persons_names_become_markers_in_any_case_and_as_parts():
    text = "margaret lonely; Mrs OKAFOR-SMITH's daughter; the Smith family; Okafor's garden"
    assert redact(text, MARGARET) == (
        "[name] lonely; Mrs [name]'s daughter; the [name] family; [name]'s garden"
    )


def test_nhs_numbers_phones_emails_postcodes_and_the_birth_date_become_markers():
    text = (
        "NHS 943 476 5919 / 9434765919, mobile 07700 900123, home (020) 7946 0018, "
        "+44 7700 900123, m.okafor@example.com, DA5 1GP or da51gp, DOB 02/03/1948, 1948-03-02"
    )
    assert redact(text, MARGARET) == (
        "NHS [NHS number] / [NHS number], mobile [phone], home [phone], "
        "[phone], [email], [postcode] or [postcode], DOB [date of birth], [date of birth]"
    )


def test_what_matching_needs_is_left_alone():
    text = "78F lonely since husband d. in March 2024, walks 5 km twice a week, likes gardening"
    assert redact(text, MARGARET) == text
    assert redact("Mark likes the May fair", Person("May", "Jones")) == "Mark likes the [name] fair"
