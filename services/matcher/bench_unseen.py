"""The matcher's latency for a referral text it has never seen (``bench.py``'s second row).

The bench cycles through the ~30 dev referrals, so caches keyed on what a referral says are
warm from the second lap on and flatter the warm row. Here they are emptied before every timed
ranking (outside the clock):

- the reading of the referral's text (``referral_text._read``) and the needs weighed from it
  (``needs.read_needs``);
- the spelling corrections of its unknown words (``spelling._correct_spelling``,
  ``_english_correction``, ``spelling_likeness``);
- the services' explanations for the concepts asked for (``ServiceTable._explained``) and the
  records decoded for them (``SlotRecords._decoded``).

Left warm, as in any running replica: the word stems (``spelling.stem``, filled by the
directory's own text) and the service-side caches (category labels, the batch reader).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from services.matcher import needs, referral_text, spelling
from services.matcher.ranking import MatchIndex, MatchRequest

REFERRAL_CACHES = (
    needs.read_needs,
    referral_text._read,
    spelling._correct_spelling,
    spelling._english_correction,
    spelling.spelling_likeness,
)


def forget_referrals(index: MatchIndex) -> None:
    """Empty every cache a repeated referral text would find warm."""
    for cache in REFERRAL_CACHES:
        cache.cache_clear()
    index.table._explained = {}
    index.table.records._decoded = {}


def timed_unseen(
    index: MatchIndex, requests: Sequence[tuple[MatchRequest, dict]]
) -> tuple[list[float], list[list[str]], int]:
    """Latencies and rankings with the referral caches emptied before each ranking, and how
    many rankings read their text afresh (a miss in ``_read``; all of them, if it worked)."""
    latencies, rankings, fresh = [], [], 0
    for request, _ in requests:
        forget_referrals(index)
        misses = referral_text._read.cache_info().misses
        start = time.perf_counter()
        rankings.append([p.service_id for p in index.rank(request).proposals])
        latencies.append(time.perf_counter() - start)  # timed as the warm row is
        fresh += referral_text._read.cache_info().misses > misses
    return latencies, rankings, fresh
