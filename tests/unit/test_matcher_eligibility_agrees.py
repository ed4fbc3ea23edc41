"""The hard constraints have two forms, one record at a time (``eligibility_problem``,
``delivery_allowed``) and vectorised over the index's columns (``eligible``): they must give
the same answer for every person in every labelled set against every service."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from services.matcher.directory_entries import service_from_directory
from services.matcher.eligibility import delivery_allowed, eligibility_problem, eligible
from services.matcher.evaluate import directory_services, request_from_referral
from services.matcher.records import DELIVERY_MODES
from services.matcher.service_table import ServiceTable
from services.matcher.vocabulary import Vocabulary
from tests.unit.test_matcher_quality import SETS

WAYS = [(), ("phone",), ("online", "home"), ("in_person",), DELIVERY_MODES]


@pytest.mark.parametrize(("directory", "referrals"), [pytest.param(*s[1:3], id=s[0]) for s in SETS])
def test_the_scalar_and_vectorised_hard_constraints_agree(directory, referrals):
    if not directory.exists() or not referrals.exists():
        pytest.skip(f"{directory.name} or {referrals.name} is not here")
    records = [
        service_from_directory(s, o)
        for s, o in directory_services(json.loads(directory.read_text(encoding="utf-8")))
    ]
    table = ServiceTable(Vocabulary.load_default())
    table.extend(records)
    cols = table.columns.arrays(len(table.records))
    slots = np.arange(len(table.records), dtype=np.int32)
    live = [table.records[slot] for slot in slots]  # a repeated id keeps its last version
    people = 0
    for line in referrals.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        request = request_from_referral(json.loads(line))
        variants = [replace(request, delivery_modes=w) for w in WAYS]
        variants += [replace(request, age=None), replace(request, gender=None)]
        for person in variants:
            vectorised = eligible(cols, slots, person)
            for slot, record in enumerate(live):
                scalar = record is not None and (
                    eligibility_problem(record, person.age, person.gender) is None
                    and delivery_allowed(record, person.delivery_modes)
                )
                assert bool(vectorised[slot]) == scalar, (record and record.id, person.age)
            people += 1
    assert people
