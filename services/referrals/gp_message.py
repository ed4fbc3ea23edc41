"""The message back to the referring GP practice when a referral closes, in the sections
of the PRSB Social Prescribing Information Standard: needs and concerns, support offered,
outcomes, and the change in wellbeing. Pure: no I/O, no framework imports.

Two forms of one content: a FHIR R4 ``Composition`` (type SNOMED CT 871731000000106
"Referral to social prescribing service", or 871711000000103 "Social prescribing
declined" when the person turned everything down) and a plain-text summary.

When the person did not consent to share, the message is codes only: no needs text, no
service names, no free text from anyone; just the coded outcome, modes and scores.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date, datetime

from services.referrals.domain import best_outcome, person_declined
from services.referrals.fhir import (
    NHS_NUMBER_SYSTEM,
    ODS_SYSTEM,
    SNOMED,
    SOCIAL_PRESCRIBING_DECLINED,
    SOCIAL_PRESCRIBING_REFERRAL,
)

__all__ = ["ConnectionSummary", "GpMessageInput", "compose"]

OUTCOME_SYSTEM = "https://social-prescribing.example/CodeSystem/connection-outcome"
MODE_SYSTEM = "https://social-prescribing.example/CodeSystem/connection-mode"
WITHHELD = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
            "code": "withheld",
            "display": "Information Withheld",
        }
    ]
}


@dataclass(frozen=True)
class ConnectionSummary:
    service_name: str
    mode: str
    outcome: str | None


@dataclass(frozen=True)
class GpMessageInput:
    referral_id: str
    nhs_number: str
    practice_ods: str
    referred_on: date
    closed_on: datetime
    consent_to_share: bool
    needs_text: str
    need_categories: tuple[str, ...]
    connections: tuple[ConnectionSummary, ...]
    contact_results: tuple[str, ...] = ()
    closed_reason: str | None = None
    wellbeing_change: dict | None = None
    link_worker_team: str = ""


def compose(m: GpMessageInput) -> dict:
    """``{"code", "codes_only", "fhir", "text"}`` for the referral's closing message."""
    declined = person_declined([c.outcome for c in m.connections], m.contact_results)
    code, display = SOCIAL_PRESCRIBING_DECLINED if declined else SOCIAL_PRESCRIBING_REFERRAL
    sections = _sections(m)
    return {
        "code": {"system": SNOMED, "code": code, "display": display},
        "codes_only": not m.consent_to_share,
        "fhir": _composition(m, code, display, sections),
        "text": _text(m, display, sections),
    }


def _sections(m: GpMessageInput) -> list[tuple[str, list[str] | None]]:
    """(title, lines) per PRSB section; lines None when withheld for want of consent."""
    share = m.consent_to_share
    needs = [m.needs_text, *(f"Category: {c}" for c in m.need_categories)] if share else None
    support = [
        f"{c.service_name} ({c.mode})" if share else f"A community service ({c.mode})"
        for c in m.connections
    ] or ["No connection was made."]
    outcomes = [
        f"{c.service_name if share else c.mode}: {c.outcome or 'not recorded'}"
        for c in m.connections
    ]
    outcomes.append(f"Overall: {_overall(m.connections)}")
    if share and m.closed_reason:
        outcomes.append(f"Closed: {m.closed_reason}")
    return [
        ("Needs and concerns", needs),
        ("Support offered", support),
        ("Outcomes", outcomes),
        ("Wellbeing", _wellbeing_lines(m.wellbeing_change)),
    ]


def _overall(connections: tuple[ConnectionSummary, ...]) -> str:
    """The best recorded outcome, never more: connections nobody recorded are counted,
    not assumed to have gone as well as the best one."""
    outcome = best_outcome(c.outcome for c in connections)
    missing = sum(1 for c in connections if c.outcome is None)
    if outcome is None:
        return "no outcome recorded"
    if missing:
        return f"{outcome} ({missing} of {len(connections)} connections with no outcome recorded)"
    return outcome


def _wellbeing_lines(change: dict | None) -> list[str]:
    if not change:
        return ["Wellbeing was not measured at both first contact and follow-up."]
    lines = []
    for item, c in change["ons4"].items():
        direction = "improved" if c["improved"] else "no improvement"
        label = item.replace("_", " ")
        lines.append(f"ONS4 {label}: {c['from']} -> {c['to']} ({c['difference']:+d}, {direction})")
    if change.get("swemwbs_metric"):
        s = change["swemwbs_metric"]
        lines.append(
            f"SWEMWBS metric score: {s['from']:.2f} -> {s['to']:.2f} ({s['difference']:+.2f})"
        )
    return lines


def _composition(m: GpMessageInput, code: str, display: str, sections) -> dict:
    from fhir.resources.R4B.composition import Composition

    doc = {
        "resourceType": "Composition",
        "id": m.referral_id,
        "status": "final",
        "type": {"coding": [{"system": SNOMED, "code": code, "display": display}]},
        "subject": {"identifier": {"system": NHS_NUMBER_SYSTEM, "value": m.nhs_number}},
        "date": m.closed_on.isoformat(),
        "author": [{"display": f"Social prescribing link worker service {m.link_worker_team}"}],
        "title": f"Social prescribing: {display}",
        "custodian": {"identifier": {"system": ODS_SYSTEM, "value": m.practice_ods}},
        "section": [_section(title, lines) for title, lines in sections],
    }
    outcome_codes = [
        {"system": OUTCOME_SYSTEM, "code": c.outcome} for c in m.connections if c.outcome
    ]
    if outcome_codes:
        doc["section"][2]["code"] = {"coding": outcome_codes}
    mode_codes = [{"system": MODE_SYSTEM, "code": c.mode} for c in m.connections]
    if mode_codes:
        doc["section"][1]["code"] = {"coding": mode_codes}
    Composition.model_validate(doc)  # our own output must be valid FHIR
    return doc


def _section(title: str, lines: list[str] | None) -> dict:
    if lines is None:
        return {"title": title, "emptyReason": WITHHELD}
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return {
        "title": title,
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><ul>{items}</ul></div>',
        },
    }


def _text(m: GpMessageInput, display: str, sections) -> str:
    lines = [
        f"Social prescribing: {display}",
        f"NHS number {m.nhs_number}; referred {m.referred_on.isoformat()}; "
        f"closed {m.closed_on.date().isoformat()}",
    ]
    if not m.consent_to_share:
        lines.append("Codes only: the person did not consent to share details beyond codes.")
    for title, body in sections:
        lines.append("")
        lines.append(f"{title}:")
        for line in body or ["Withheld (no consent to share)."]:
            lines.append(f"- {line}")
    return "\n".join(lines)
