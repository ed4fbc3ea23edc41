"""Reading another council's directory as well as our own: what a service says it is not,
category labels of the council's own, capitals and terse descriptions (issue 13, a third
never-shown directory). Each test reads short texts written for it, never a directory's ids."""

import numpy as np

from services.matcher.service_batch import reader_for
from services.matcher.service_negation import NegationIds, negated_ids
from services.matcher.vocabulary import Vocabulary

VOCABULARY = Vocabulary.load_default()


def concepts(name: str, description: str, categories=()) -> dict[str, float]:
    described = VOCABULARY.describe_service(name, description, categories)
    return {c: m.score for c, m in described.items()}


# ---- what a service says it is not ------------------------------------------------------


def test_a_description_saying_what_the_service_is_not_is_no_evidence_of_it():
    assert "running" in concepts("Saturday group", "Running, then a brew.")
    assert "running" not in concepts("Saturday group", "No running, then a brew.")
    assert "therapy" not in concepts("Low days", "Peer support. Its not therapy.")
    assert "crisis" not in concepts("Low days", "Peer support, its not a crisis service.")
    assert "hearing_aids" in concepts("Ear clinic", "Hearing aid batteries and retubing.")
    assert "vigorous" not in concepts("Hill walk", "Tuesdays. NOT A BEGINNERS OR HEALTH WALK.")
    assert "gentle" not in concepts("Hill walk", "Tuesdays. NOT A BEGINNERS OR HEALTH WALK.")


def test_the_negation_ends_with_its_clause():
    read = concepts("Saturday group", "No running. Walking and a brew after.")
    assert "walking" in read and "running" not in read


def test_who_a_service_is_for_and_questions_it_answers_are_not_denials():
    rules = VOCABULARY.service_negation
    for text in (
        "for people who don't get a break from caring",
        "if you can't cook any more, come for lunch",
        "Don't want to cook? Come for lunch.",
        "No one turned away.",
    ):
        assert not any(rules.negated(VOCABULARY.service_words(text))), text
    assert any(rules.negated(VOCABULARY.service_words("we don't do cooking")))


def test_a_phrase_that_starts_with_the_cue_is_read_as_written():
    assert "confidence" in concepts("Art class", "No experience needed.")


def test_only_the_description_is_read_for_denials():
    assert "dance" in concepts("No Limits Dance", "Weekly class.")


def test_the_batch_build_reads_denials_as_one_service_at_a_time_does():
    texts = [
        "No running, no tackling, lots of laughing.",
        "Can't get out? We ring you. Not a crisis service.",
        "for people who can't cook. we don't do shopping or cleaning",
        "NOBODY WILL MAKE YOU TALK. TEA.",
    ]
    rules = VOCABULARY.service_negation
    reader = reader_for(VOCABULARY)
    ids = NegationIds.of(rules, reader._stem_id)
    stems, _ = reader.words.stems(texts)
    batch = negated_ids(stems, ids)
    one_by_one = []
    for text in texts:
        one_by_one += [*rules.negated(VOCABULARY.service_words(text)), False]
    assert batch.tolist() == one_by_one[:-1]
    assert np.any(batch)
