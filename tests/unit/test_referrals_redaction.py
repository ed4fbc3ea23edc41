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


def test_a_name_is_found_in_any_case_the_pattern_matches_even_where_casefold_differs():
    # the quick "could the name be in the text?" check must never miss a match
    # re.IGNORECASE would make: the Turkish dotted and dotless I, the Kelvin sign...
    assert (
        redact("\u0130van and \u0131van came", Person("Ivan", "Jones")) == "[name] and [name] came"
    )
    assert redact("\u212aate rang", Person("Kate", "Jones")) == "[name] rang"
    assert redact("\u017fam rang", Person("Sam", "Jones")) == "[name] rang"


def test_the_quick_check_folds_every_letter_the_pattern_matches_in_any_case():
    import re

    from services.referrals.redaction import _fold

    cased = [
        chr(i)
        for i in [*range(0x20, 0x600), 0x1E9E, 0x212A, 0x212B, 0x2126]
        if chr(i).lower() != chr(i) or chr(i).upper() != chr(i)
    ]
    missed = [
        (a, b)
        for a in cased
        for b in cased
        if re.fullmatch(re.escape(a), b, re.IGNORECASE) and _fold(a) not in _fold(b)
    ]
    assert missed == []


def test_a_birth_date_is_looked_for_only_where_its_year_could_be():
    assert redact("seen 2/3/48 and 02.03.1948", MARGARET) == (
        "seen [date of birth] and [date of birth]"
    )
