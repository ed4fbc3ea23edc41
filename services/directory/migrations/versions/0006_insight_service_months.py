"""insight read model: the capacity ledger per service and month, kept by the events

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 02:20:00

Demand's places taken and provider responsiveness read monthly sums per service instead
of every connection of the period (a scan of the whole ledger at a million referrals).
The tables are filled from ``directory_connections`` here, and kept by the events after.
"""

import datetime as dt
from collections import Counter

import sqlalchemy as sa
from alembic import op

from services.directory.readmodel import ledger_contributions, month_of

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ledger = op.create_table(
        "insight_connections",
        sa.Column("connection_id", sa.String(64), primary_key=True),
        sa.Column("service_id", sa.String(100), nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organisation_id", sa.String(100)),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.Column("accepted", sa.Boolean()),
        sa.Column("outcome", sa.String(30)),
    )
    months = op.create_table(
        "insight_service_months",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("service_id", sa.String(100), primary_key=True),
        sa.Column("measure", sa.String(20), primary_key=True),
        sa.Column("bucket", sa.Integer(), primary_key=True),
        sa.Column("organisation_id", sa.String(100)),
        sa.Column("n", sa.Integer(), nullable=False),
    )
    bind = op.get_bind()
    found = bind.execute(
        sa.text(
            "SELECT connection_id, service_id, mode, confirmed_on, confirmed_at,"
            " organisation_id, answered_at, accepted, outcome FROM directory_connections"
        )
    ).all()
    rows, sums, organisations = [], Counter(), {}
    for c in found:
        confirmed = _moment(c.confirmed_at) or _moment(c.confirmed_on)
        row = {
            "connection_id": c.connection_id,
            "service_id": c.service_id,
            "mode": c.mode,
            "month": month_of(confirmed),
            "confirmed_at": confirmed,
            "organisation_id": c.organisation_id,
            "answered_at": _moment(c.answered_at),
            "accepted": c.accepted,
            "outcome": c.outcome,
        }
        rows.append(row)
        for key, n in ledger_contributions(_Row(row)).items():
            sums[key] += n
            organisations[key] = organisations.get(key) or c.organisation_id
    if rows:
        op.bulk_insert(ledger, rows)
    if sums:
        names = ("month", "service_id", "measure", "bucket")
        op.bulk_insert(
            months,
            [
                {**dict(zip(names, k, strict=True)), "organisation_id": organisations[k], "n": n}
                for k, n in sums.items()
            ],
        )


def _moment(value):
    """A stored date or time (SQLite hands back text) as an aware datetime, or None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class _Row:
    def __init__(self, values: dict) -> None:
        self.__dict__.update(values)


def downgrade() -> None:
    op.drop_table("insight_service_months")
    op.drop_table("insight_connections")
