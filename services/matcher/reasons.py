"""The words of a proposal's reasons: what the person said and what the service says that
answers it, then the practical facts (distance, delivery, language, access, places, times)
and any soft mismatch, each a line a link worker reads in a second."""

from __future__ import annotations

import math

from services.matcher.columns import BUSY, GENTLE, QUIET, TALKING, THERAPY, VIGOROUS
from services.matcher.eligibility import is_reported, is_stale, referral_route_note
from services.matcher.evidence import Evidence
from services.matcher.preferences import Preferences
from services.matcher.records import PHYSICAL_ACCESS, MatchRequest, Need, ServiceRecord
from services.matcher.vocabulary import ConceptMatch, Vocabulary

__all__ = ["fit_reasons", "need_reason"]


def need_reason(vocabulary: Vocabulary, need: Need, match: ConceptMatch | Evidence | None) -> str:
    concept = vocabulary.concepts[need.hit.concept]
    said = f'"{need.hit.phrase}" → {concept.label}'
    if match is None:
        return said
    evidence = []
    if match.terms:
        evidence.append("service says " + ", ".join(f'"{t}"' for t in match.terms[:3]))
    if match.category:
        evidence.append(f"category {match.category}")
    return said + (": " + "; ".join(evidence) if evidence else "")


def fit_reasons(
    record: ServiceRecord,
    request: MatchRequest,
    prefs: Preferences,
    distance: float,
    schedule_bonus: float,
    traits: int = 0,
) -> list[str]:
    reasons = []
    remote_modes = [m for m in record.delivery if m != "in_person"]
    if not math.isnan(distance):
        where = f" ({record.ward})" if record.ward else ""
        reasons.append(f"{distance:.1f} km away{where}")
    if remote_modes:
        prefix = "also " if not math.isnan(distance) else ""
        reasons.append(
            prefix + "delivered by " + "/".join(remote_modes).replace("home", "home visit")
        )
    if prefs.remote > 0 and not remote_modes:
        reasons.append("soft mismatch: in person only, but the person may not manage to get out")
    spoken = {lang.lower() for lang in request.languages} - {"english"}
    offered = {lang.lower(): lang for lang in record.languages}
    shared = [offered[s] for s in spoken if s in offered]
    if shared:
        reasons.append("speaks " + ", ".join(sorted(shared)))
    elif spoken:
        reasons.append("soft mismatch: no " + "/".join(sorted(spoken)) + " speakers listed")
    if request.accessibility_needs:
        have = {a.lower() for a in record.accessibility}
        missing = [
            a
            for a in request.accessibility_needs
            if a.lower() not in have
            and not (a in PHYSICAL_ACCESS and "in_person" not in record.delivery)
        ]
        met = [a for a in request.accessibility_needs if a not in missing]
        if met:
            reasons.append("accessibility: " + ", ".join(met))
        if missing:
            reasons.append("soft mismatch: no " + ", ".join(missing) + " listed")
    if schedule_bonus > 1.0:
        reasons.append(f"runs at times that suit ({record.schedule})")
    places = record.places_left
    if places is not None and places <= 0:
        reasons.append("full this week: waiting list")
    elif record.places_free is not None:
        # not how many: beside the public places a week, that would tell how many people
        # were connected this week, a count too small to share when only a few were
        reasons.append("places free this week")
    elif places is not None:
        reasons.append(f"{places} places a week")
    note = referral_route_note(record.referral_route)
    if note:
        reasons.append(note)
    if prefs.gentle and traits & VIGOROUS:
        reasons.append(
            "soft mismatch: a vigorous activity, and their health suggests a gentle start"
        )
    elif prefs.gentle and traits & GENTLE:
        reasons.append("a gentle pace that suits their health")
    if prefs.no_talking and traits & TALKING:
        reasons.append("soft mismatch: built around talking, and they would rather not")
    elif prefs.no_therapy and traits & THERAPY:
        reasons.append("soft mismatch: counselling or therapy, which they have declined")
    if prefs.quiet and traits & BUSY:
        reasons.append("soft mismatch: a busy, noisy setting, and they find those hard")
    elif prefs.quiet and traits & QUIET:
        reasons.append("a small, quiet setting that suits them")
    if record.temporarily_closed:
        reasons.append("temporarily closed: ranked lower")
    if is_reported(record):
        reasons.append(
            f"{record.open_reports} people report it out of date or closed: ranked lower"
            " until it is checked"
        )
    if is_stale(record, request.today):
        reasons.append(f"details last confirmed {record.last_confirmed}: may be out of date")
    return reasons
