"""Reading referral English more closely (issue 13, understanding): what a threat is, which
sense of a verb is meant, and which capitalised words are names of places. Each test reads
short texts written for it, never a labelled set's ids."""

from services.matcher.vocabulary import Vocabulary

VOCABULARY = Vocabulary.load_default()


def needs(text: str) -> set[str]:
    return {h.concept for h in VOCABULARY.extract(text)}


# ---- a threat to leave is strain in a relationship, not abuse ---------------------------


def test_a_threat_to_leave_is_relationship_strain_not_abuse():
    for text in (
        "Drinking too much, wife threatening to leave.",
        "Husband has threatened to leave her if she doesn't stop gambling.",
        "Partner threatens to walk out most weeks.",
    ):
        read = needs(text)
        assert "relationship" in read, text
        assert "domestic_abuse" not in read, text


def test_threats_of_harm_are_still_abuse():
    for text in (
        "Ex-partner keeps threatening her.",
        "Husband threatened to hurt her if she leaves.",
        "Threatening messages from her ex, frightened at home.",
    ):
        assert "domestic_abuse" in needs(text), text
