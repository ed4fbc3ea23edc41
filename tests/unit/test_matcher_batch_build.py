"""Building the index in batches (``service_batch.py``) gives exactly the table that
upserting the services one by one gives: the same columns, posting lists (in the same
order, so ties rank the same), cells, ward sums and slots, on every directory we hold."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from services.matcher.batch_words import ASCII_LOWER
from services.matcher.bench import synthetic_services
from services.matcher.evaluate import directory_services
from services.matcher.ranking import service_from_directory
from services.matcher.service_batch import reader_for
from services.matcher.service_table import ServiceTable
from services.matcher.vocabulary import Vocabulary
from tests.unit.test_matcher_quality import BEXLEY, DEMO, MILLTOWN, THAMESFORD

VOCABULARY = Vocabulary.load_default()
DIRECTORIES = [BEXLEY, DEMO, THAMESFORD, MILLTOWN]


def _services(path: Path):
    directory = json.loads(path.read_text(encoding="utf-8"))
    return [service_from_directory(s, o) for s, o in directory_services(directory)]


def _one_by_one(services) -> ServiceTable:
    table = ServiceTable(VOCABULARY)
    for service in services:
        table.upsert(service)
    return table


def _batched(services) -> ServiceTable:
    table = ServiceTable(VOCABULARY)
    table.extend(services)
    return table


def _assert_same(a: ServiceTable, b: ServiceTable) -> None:
    for name in a.columns.__dataclass_fields__:
        x, y = getattr(a.columns, name), getattr(b.columns, name)
        assert x.size == y.size, name
        assert np.array_equal(x.data[: x.size], y.data[: y.size], equal_nan=True), name
    assert set(a._postings) == set(b._postings)
    for key, posting in a._postings.items():
        assert np.array_equal(posting.view[0], b._postings[key].view[0]), key
        assert np.array_equal(posting.view[1], b._postings[key].view[1]), key
    assert {c: list(s) for c, s in a._cells_of_concept.items()} == {
        c: list(s) for c, s in b._cells_of_concept.items()
    }
    assert a._ward_sums == b._ward_sums
    assert a._slot_of == b._slot_of
    assert a._dead == b._dead


@pytest.mark.parametrize("path", DIRECTORIES, ids=lambda p: p.parent.name)
def test_a_directory_read_in_a_batch_is_indexed_as_one_by_one(path):
    if not path.exists():
        pytest.skip(f"{path} is not here")
    services = _services(path)
    _assert_same(_one_by_one(services), _batched(services))


def test_the_synthetic_national_directory_is_indexed_as_one_by_one():
    if not BEXLEY.exists():
        pytest.skip(f"{BEXLEY} is not here")
    services, _ = synthetic_services(_services(BEXLEY), 3000, seed=11)
    _assert_same(_one_by_one(services), _batched(services))


def test_texts_the_fast_split_reads_differently_are_read_as_service_words_reads_them():
    if not BEXLEY.exists():
        pytest.skip(f"{BEXLEY} is not here")
    base = _services(BEXLEY)[:6]
    odd = [
        "Coffee w/o the fuss, c/o St Mary's: a walk & talk.",
        "Run by J. Smith (retired nurse), e.g. chair yoga, w/ tea.",
        "The carers\u2019 caf\u00e9 \u2013 a space for carers' wellbeing; 'quiet' garden.",
        "Mon/Wed: qqzxtextendxzqq knit and natter, rock'n'roll dancing; 'x. ok",
        "Bereavement support, hearing loss group, run by volunteers 'c. ok",
        "",
    ]
    services = [
        replace(
            s,
            id=f"odd-{i}",
            description=text,
            keywords=(text,) if i % 2 else (),
            open_reports=i,  # two or more: reported
            genders=("female",) if i == 2 else s.genders,
        )
        for i, (s, text) in enumerate(zip(base, odd, strict=True))
    ]
    _assert_same(_one_by_one(services), _batched(services))
    reader = reader_for(VOCABULARY)
    for texts in (odd[:3] + odd[4:], odd):  # the second holds the separator word itself
        stems, bounds = reader.words.stems(texts)
        for i, text in enumerate(texts):
            words = VOCABULARY.service_words(text)
            expected = [reader._stem_ids.get(w, 1) for w in words]
            assert stems[bounds[i] : bounds[i + 1] - 1].tolist() == expected, text
    scores = reader.read(services).scores
    for row, service in enumerate(services):
        described = ServiceTable(VOCABULARY).describe(service)
        expected = np.zeros(len(reader.concepts))
        for concept, match in described.items():
            expected[reader.concepts.index(concept)] = match.score
        assert np.array_equal(scores[row], expected), service.description


def test_a_service_listed_twice_in_a_batch_keeps_its_last_version():
    if not BEXLEY.exists():
        pytest.skip(f"{BEXLEY} is not here")
    services = _services(BEXLEY)[:20]
    again = [replace(s, places_free=0) for s in services[:5]]
    listed = services + again
    a, b = _one_by_one(listed), _batched(listed)
    _assert_same(a, b)
    assert len(b) == 20 and b.get(services[0].id).places_free == 0


def test_texts_beyond_ascii_are_lower_cased_as_service_words_reads_them():
    beyond = [chr(c) for c in range(128, 0x110000) if c < 0xD800 or c > 0xDFFF]
    assert [c for c in beyond if any(ord(x) < 128 for x in c.lower())] == list(ASCII_LOWER)
    reader = reader_for(VOCABULARY)
    texts = [
        "CAFÉ SOCIAL \u2013 Über friendly, MEN'S SHED",
        "\u0130ZM\u0130R knit group, 5 \u212aM walk",
        "plain ascii walking football",
        "WÄLKING FOOTBALL and BEREAVEMENT café",
    ]
    for batch in (texts, texts[2:3] + texts[3:], texts[:1] + texts[2:]):
        stems, bounds = reader.words.stems(batch)
        for i, text in enumerate(batch):
            expected = [reader._stem_ids.get(w, 1) for w in VOCABULARY.service_words(text)]
            assert stems[bounds[i] : bounds[i + 1] - 1].tolist() == expected, text
