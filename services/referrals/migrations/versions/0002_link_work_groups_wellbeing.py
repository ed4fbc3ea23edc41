"""link work: assignment, flags, contact attempts, wellbeing, group responses

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("referrals_referrals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assigned_to", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("flagged", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("flag_reason", sa.Text(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_referrals_referrals_assigned_to"), ["assigned_to"], unique=False
        )

    with op.batch_alter_table("referrals_connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organisation_id", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("group_response", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("group_response_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("group_responded_by", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("group_responded_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_referrals_connections_organisation_id"),
            ["organisation_id"],
            unique=False,
        )

    op.create_table(
        "referrals_contact_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("referral_id", sa.String(length=64), nullable=False),
        sa.Column("attempted_on", sa.Date(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["referral_id"], ["referrals_referrals.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("referrals_contact_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_referrals_contact_attempts_referral_id"), ["referral_id"], unique=False
        )

    op.create_table(
        "referrals_wellbeing",
        sa.Column("referral_id", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("ons4", sa.JSON(), nullable=False),
        sa.Column("swemwbs", sa.JSON(), nullable=True),
        sa.Column("swemwbs_metric", sa.Float(), nullable=True),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["referral_id"], ["referrals_referrals.id"]),
        sa.PrimaryKeyConstraint("referral_id", "stage"),
    )


def downgrade() -> None:
    op.drop_table("referrals_wellbeing")
    with op.batch_alter_table("referrals_contact_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referrals_contact_attempts_referral_id"))
    op.drop_table("referrals_contact_attempts")
    with op.batch_alter_table("referrals_connections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referrals_connections_organisation_id"))
        batch_op.drop_column("group_responded_at")
        batch_op.drop_column("group_responded_by")
        batch_op.drop_column("group_response_reason")
        batch_op.drop_column("group_response")
        batch_op.drop_column("organisation_id")
    with op.batch_alter_table("referrals_referrals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referrals_referrals_assigned_to"))
        batch_op.drop_column("flag_reason")
        batch_op.drop_column("flagged")
        batch_op.drop_column("assigned_at")
        batch_op.drop_column("assigned_to")
