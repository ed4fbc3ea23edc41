"""Link workers' decisions as labelled cases, in the evaluation format.

Each confirmed connection is a grade-2 label (the service the link worker chose, whether
the matcher proposed it or not); declined proposals are listed with their reasons and
get no label. So the matcher's quality can be measured on real decisions:

    python -m services.matcher.decisions --output cases.jsonl
    python -m services.matcher.evaluate --directory dir.json --referrals cases.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.matcher import store

__all__ = ["labelled_cases", "main"]


def labelled_cases(proposals: Iterable, decisions: Iterable) -> list[dict]:
    """One case per referral with at least one confirmed connection."""
    by_referral: dict[str, list] = defaultdict(list)
    for decision in decisions:
        by_referral[decision.referral_id].append(decision)
    cases = []
    for row in proposals:
        mine = by_referral.get(row.referral_id, [])
        confirmed = [d for d in mine if d.decision == "confirmed"]
        if not confirmed:
            continue
        profile = row.profile
        cases.append(
            {
                "id": row.referral_id,
                "age": profile.get("age"),
                "gender": profile.get("gender"),
                "ward": profile.get("ward"),
                "postcode": profile.get("postcode_district"),
                "lat": profile.get("lat"),
                "lon": profile.get("lon"),
                "languages": profile.get("languages", []),
                "accessibility_needs": profile.get("accessibility_needs", []),
                "needs": profile.get("needs_text", ""),
                "relevant": {d.service_id: 2 for d in confirmed},
                "ineligible_traps": [],
                "unmet_need": None,
                "proposed": [p["service_id"] for p in row.proposals],
                "chosen_instead": [d.service_id for d in confirmed if not d.was_proposed],
                "declined": [
                    {"service_id": d.service_id, "reason": d.reason}
                    for d in mine
                    if d.decision == "declined"
                ],
            }
        )
    return cases


def export(session: Session) -> list[dict]:
    proposals = session.execute(select(store.proposals).order_by(store.proposals.c.proposed_at))
    decisions = session.execute(select(store.decisions).order_by(store.decisions.c.id))
    return labelled_cases(list(proposals), list(decisions))


def main(argv: list[str] | None = None) -> int:
    from shared.db import make_engine, make_session_factory
    from shared.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m services.matcher.decisions")
    parser.add_argument("--output", default="-", help="JSON Lines file (default: stdout)")
    args = parser.parse_args(argv)
    engine = make_engine(Settings().database_url)
    with make_session_factory(engine)() as session:
        cases = export(session)
    lines = "".join(json.dumps(case) + "\n" for case in cases)
    if args.output == "-":
        sys.stdout.write(lines)
    else:
        Path(args.output).write_text(lines)
    print(f"{len(cases)} labelled cases", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
