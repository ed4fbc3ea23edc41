"""insight read model: monthly cells, referral journeys, need phrases; connection timings

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("directory_connections") as batch:
        batch.add_column(sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("organisation_id", sa.String(100), nullable=True))
        batch.add_column(sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("accepted", sa.Boolean(), nullable=True))

    op.create_table(
        "insight_referrals",
        sa.Column("referral_id", sa.String(64), primary_key=True),
        sa.Column("practice", sa.String(10), nullable=False),
        sa.Column("ward", sa.String(100), nullable=False),
        sa.Column("month", sa.String(7), nullable=False, index=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("gp_categories", sa.JSON(), nullable=False),
        sa.Column("matched", sa.Boolean(), nullable=False),
        sa.Column("no_service", sa.Boolean(), nullable=False),
        sa.Column("contacted_at", sa.DateTime(timezone=True)),
        sa.Column("connected_at", sa.DateTime(timezone=True)),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.Column("signposted", sa.Boolean(), nullable=False),
        sa.Column("referred_on", sa.Boolean(), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("attended", sa.Boolean(), nullable=False),
        sa.Column("did_not_attend", sa.Boolean(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("wellbeing", sa.JSON()),
    )
    op.create_table(
        "insight_referral_categories",
        sa.Column("referral_id", sa.String(64), primary_key=True),
        sa.Column("category", sa.String(100), primary_key=True),
        sa.Column("unmet", sa.Boolean(), nullable=False),
        sa.Column("no_place", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "insight_cells",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("measure", sa.String(40), primary_key=True),
        sa.Column("category", sa.String(100), primary_key=True),
        sa.Column("ward", sa.String(100), primary_key=True),
        sa.Column("practice", sa.String(10), primary_key=True),
        sa.Column("bucket", sa.Integer(), primary_key=True),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
    )
    op.create_table(
        "insight_phrases",
        sa.Column("referral_id", sa.String(64), primary_key=True),
        sa.Column("phrase", sa.String(200), primary_key=True),
        sa.Column("group_label", sa.String(200), nullable=False, index=True),
        sa.Column("ward", sa.String(100), nullable=False),
        sa.Column("month", sa.String(7), nullable=False, index=True),
    )
    op.create_table(
        "insight_phrase_groups",
        sa.Column("phrase", sa.String(200), primary_key=True),
        sa.Column("group_label", sa.String(200), nullable=False),
    )
    op.create_index(
        "ix_directory_connections_confirmed_at", "directory_connections", ["confirmed_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_directory_connections_confirmed_at", "directory_connections")
    for table in (
        "insight_phrase_groups",
        "insight_phrases",
        "insight_cells",
        "insight_referral_categories",
        "insight_referrals",
    ):
        op.drop_table(table)
    with op.batch_alter_table("directory_connections") as batch:
        for column in ("accepted", "answered_at", "organisation_id", "confirmed_at"):
            batch.drop_column(column)
