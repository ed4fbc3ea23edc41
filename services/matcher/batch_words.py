"""The words of many service texts at once, as stem ids: the fast split the batch build
(``service_batch.py``) relies on. Each distinct word is read once, as ``service_words`` reads
a token (abbreviations expanded, boundaries kept, stemmed), and remembered: a directory's
vocabulary is a few tens of thousands of words however many services use them. Splitting is
``bytes.translate`` and ``bytes.split`` over the whole batch, the look-up a ``map`` over a
dict, both C loops; a text with a form the fast split reads differently ("w/o", "c/o", an
initial such as "J.", a curly apostrophe) is read by ``service_words`` itself instead."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from services.matcher.spelling import _BOUNDARY, _TOKEN_RE
from services.matcher.vocabulary import Vocabulary

__all__ = ["OTHER", "BatchWords"]

OTHER = 1  # the stem id of every word no service phrase uses (0 separates texts)
_SEPARATOR = "qqzxtextendxzqq"  # a word no text contains (checked), between the texts
_PUNCTUATION = tuple(bytes([c]) for c in b'+&.,;:!?()"/')
_KEEP = b"abcdefghijklmnopqrstuvwxyz0123456789'"
_SPACES = bytes(c if c in _KEEP or bytes([c]) in _PUNCTUATION else 32 for c in range(256))
# the letters beyond ASCII whose lower case holds an ASCII letter ("İ" is "i" and a dot,
# the Kelvin sign "k"; a test reads every code point)
ASCII_LOWER = ("\u0130", "\u212a")
_INITIAL = re.compile(rb"(?:^|')[a-z]$")  # a word whose last letter may be an initial


class _WordIds(dict):
    """Each word's id, a word not seen before read (``BatchWords._word``) as it is first
    looked up: the look-up of a batch's words is one ``map`` with no set of them built first."""

    __slots__ = ("read",)

    def __missing__(self, raw: bytes) -> int:
        return self.read(raw)


class BatchWords:
    def __init__(self, vocabulary: Vocabulary, stem_ids: dict[str, int]) -> None:
        """``stem_ids``: the ids of the stems service phrases use (from 2); any other stem
        is ``OTHER``, as no phrase can match it."""
        self.vocabulary = vocabulary
        self._stem_ids = stem_ids
        # words seen so far: each distinct word's stem ids, back to back
        self._words = _WordIds()
        self._words.read = self._word
        self._word_start: list[int] = []
        self._word_length: list[int] = []
        self._word_stems: list[int] = []
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._word(_SEPARATOR.encode())  # word 0: the separator, stem 0
        self._word_stems[0] = 0
        self._dot, self._slash = self._word(b"."), self._word(b"/")
        self._initials = np.zeros(1, dtype=bool)

    def _word(self, raw: bytes) -> int:
        """The id of a word from the fast split (letters, digits and apostrophes, or one
        punctuation mark), reading it as ``service_words`` reads a token."""
        found = self._words.get(raw)
        if found is not None:
            return found
        text = raw.decode("ascii")
        pieces = _TOKEN_RE.findall(text) if "'" in text else [text]
        stems = [s for piece in pieces for s in self._stems_of(piece)]
        self._words[raw] = len(self._word_start)
        self._word_start.append(len(self._word_stems))
        self._word_length.append(len(stems))
        self._word_stems.extend(self._stem_ids.get(s, OTHER) for s in stems)
        self._arrays = None
        return self._words[raw]

    def _stems_of(self, raw: str) -> list[str]:
        vocabulary = self.vocabulary
        expanded = vocabulary._service_expansions.get(raw)
        if expanded is not None:
            return list(expanded)
        if raw in _BOUNDARY:
            return [raw]
        stemmed = vocabulary._stem(raw.replace("'", "").replace("\u2019", ""))
        return [stemmed] if stemmed else []

    def _word_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._arrays is None:
            self._arrays = (
                np.array(self._word_start, dtype=np.int64),
                np.array(self._word_length, dtype=np.int64),
                np.array(self._word_stems, dtype=np.int64),
            )
            initial = [_INITIAL.search(w) is not None for w in self._words]
            self._initials = np.array(initial, dtype=bool)
        return self._arrays

    def stems(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Stem ids of all the texts back to back, 0 between texts, and where each text's
        stems start (one more entry than texts, for the end)."""
        joined = f" {_SEPARATOR} ".join(texts)
        # bytes.lower lowers only ASCII letters and every other byte becomes a space below,
        # so Unicode lower-casing (slow on a batch) changes the words only for the two
        # letters whose lower case is ASCII ("İ", the Kelvin sign), and only those texts
        if not joined.isascii() and any(letter in joined for letter in ASCII_LOWER):
            wide = [t if t.isascii() else t.lower() for t in texts]
            lowered = f" {_SEPARATOR} ".join(wide).encode().lower()
        else:
            lowered = joined.encode().lower()
        spaced = lowered.translate(_SPACES)
        for mark in _PUNCTUATION:
            if mark in spaced:
                spaced = spaced.replace(mark, b" " + mark + b" ")
        words = spaced.split()
        ids = np.fromiter(map(self._words.__getitem__, words), dtype=np.int64, count=len(words))
        start, length, flat = self._word_arrays()
        ends = np.flatnonzero(ids == 0)
        if len(ends) != len(texts) - 1:  # a text used the separator word: read one by one
            return self._one_by_one(texts, set(range(len(texts))), None)
        text_of = np.cumsum(ids == 0)
        # forms the fast split reads differently: "w/o", "c/o", an initial such as "J."
        odd = ids == self._slash
        odd[:-1] |= self._initials[ids[:-1]] & (ids[1:] == self._dot)
        unusual = set(np.unique(text_of[odd]).tolist())
        if "\u2019" in joined:
            unusual |= {i for i, t in enumerate(texts) if "\u2019" in t}
        counts = length[ids]
        positions = np.repeat(start[ids] - np.cumsum(counts) + counts, counts)
        stems = flat[positions + np.arange(len(positions))]
        bounds = np.concatenate(([0], np.flatnonzero(stems == 0) + 1, [len(stems) + 1]))
        if unusual:
            return self._one_by_one(texts, unusual, (stems, bounds))
        return stems, bounds

    def _one_by_one(self, texts, which: set[int], fast) -> tuple[np.ndarray, np.ndarray]:
        """The texts in ``which`` read by ``service_words`` itself, the rest from ``fast``."""
        pieces: list[np.ndarray] = []
        for i, text in enumerate(texts):
            if i in which or fast is None:
                words = self.vocabulary.service_words(text or "")
                piece = np.array([self._stem_ids.get(w, OTHER) for w in words], dtype=np.int64)
            else:
                stems, bounds = fast
                piece = stems[bounds[i] : bounds[i + 1] - 1]
            pieces.append(piece)
            pieces.append(np.zeros(1, dtype=np.int64))
        stems = np.concatenate(pieces)[:-1] if pieces else np.zeros(0, dtype=np.int64)
        bounds = np.concatenate(([0], np.flatnonzero(stems == 0) + 1, [len(stems) + 1]))
        return stems, bounds
