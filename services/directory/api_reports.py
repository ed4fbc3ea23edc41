"""Commissioners' reports over HTTP, as JSON or CSV (``?format=csv``).

Each report takes a period: a preset (``this_month``, ``last_quarter``,
``last_12_months``) or ``from`` and ``to`` dates, which snap to whole months. The
figures and the privacy rule are in ``insights.py``.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.directory import insights
from shared.auth import Principal, Role, principal_from_request, require
from shared.web import Unprocessable

__all__ = ["router", "to_csv"]

router = APIRouter(tags=["reports"])
EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)
Caller = Annotated[Principal, Depends(principal_from_request)]
ReportName = Literal[
    "demand", "gaps", "emerging-needs", "outcomes", "funnel", "waiting-times", "responsiveness"
]


def _period(preset: str | None, start: date | None, end: date | None) -> insights.Period:
    try:
        return insights.period_for(date.today(), preset, start, end)
    except insights.PeriodError as exc:
        raise Unprocessable(str(exc), field=exc.field) from exc


@router.get(
    "/reports/{name}",
    responses={
        200: {
            "content": {
                "application/json": {},
                "text/csv": {"schema": {"type": "string"}, "description": "format=csv"},
            }
        }
    },
)
def report(
    name: ReportName,
    request: Request,
    caller: Caller,
    preset: Literal["this_month", "last_quarter", "last_12_months"] | None = None,
    start: Annotated[date | None, Query(alias="from", ge=EARLIEST, le=LATEST)] = None,
    end: Annotated[date | None, Query(alias="to", ge=EARLIEST, le=LATEST)] = None,
    format: Literal["json", "csv"] = "json",
):
    """One report for a period, compared with the period before; small counts suppressed."""
    require(caller, Role.COMMISSIONER, Role.LINK_WORKER)
    period = _period(preset, start, end)
    threshold = request.app.state.settings.small_number_threshold
    with request.app.state.sessions() as session:
        body = insights.run_report(name, session, period, threshold)
    if format == "csv":
        filename = f"{name}-{period.first:%Y-%m}-to-{period.last:%Y-%m}.csv"
        return Response(
            to_csv(body),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return body


@router.get("/responsiveness")
def responsiveness_of_services(
    request: Request,
    caller: Caller,
    service_id: Annotated[list[str], Query(max_length=50)],
) -> dict:
    """How each service usually answers referrals, over the last 12 months: shown to
    link workers beside each proposal."""
    require(caller, Role.LINK_WORKER, Role.COMMISSIONER)
    threshold = request.app.state.settings.small_number_threshold
    with request.app.state.sessions() as session:
        found = insights.service_responsiveness(session, date.today(), threshold, service_id)
    return {"services": found, "suppression_threshold": threshold}


@router.get("/wards")
def wards(caller: Caller) -> dict:
    """The borough's wards and their centres, for the dashboard's ward map."""
    centroids = insights.ward_centroids()
    return {"wards": {name: {"lat": lat, "lon": lon} for name, (lat, lon) in centroids.items()}}


SUPPRESSED = "suppressed"


def _cell(value) -> str:
    if isinstance(value, dict) and "suppressed" in value:
        return SUPPRESSED if value["suppressed"] else str(value["value"])
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(_flat_item(v) for v in value)
    return str(value)


def _flat_item(value) -> str:
    if isinstance(value, dict):
        return " ".join(_cell(v) for v in value.values())
    return str(value)


def to_csv(body: dict) -> str:
    """Every table of a report, one after another, each row tagged with its table; a
    nested ``by_ward`` becomes one column per ward."""
    out = io.StringIO()
    writer = csv.writer(out)
    period = body["period"]
    writer.writerow(["report", body["report"], "from", period["from"], "to", period["to"]])
    for table, rows in body["tables"].items():
        flat = []
        for row in rows:
            line = {}
            for key, value in row.items():
                if isinstance(value, dict) and "suppressed" not in value:
                    line.update({f"{key}: {k}": v for k, v in value.items()})
                else:
                    line[key] = value
            flat.append(line)
        columns = list(dict.fromkeys(k for line in flat for k in line))
        writer.writerow(["table", *columns])
        for line in flat:
            writer.writerow([table, *(_cell(line.get(c)) for c in columns)])
    return out.getvalue()
