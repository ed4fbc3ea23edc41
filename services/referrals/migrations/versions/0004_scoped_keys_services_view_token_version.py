"""idempotency keys per practice, the directory's services view, token versions

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "referrals_idempotency_keys",
        sa.Column("practice_ods", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("referral_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["referral_id"], ["referrals_referrals.id"]),
        sa.PrimaryKeyConstraint("practice_ods", "key"),
    )
    # Keys sent before were global; they stay with the practice that sent them. Their
    # bodies were not hashed: an empty hash matches any retry.
    op.execute(
        "INSERT INTO referrals_idempotency_keys "
        "(practice_ods, key, request_hash, referral_id, created_at) "
        "SELECT practice_ods, idempotency_key, '', id, created_at FROM referrals_referrals "
        "WHERE idempotency_key IS NOT NULL"
    )
    with op.batch_alter_table("referrals_referrals") as batch:
        batch.drop_column("idempotency_key")
    op.create_table(
        "referrals_services",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("organisation_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("places_free", sa.Integer(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("referrals_users") as batch:
        batch.add_column(
            sa.Column("token_version", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("referrals_connections") as batch:
        batch.add_column(
            sa.Column("waiting_list", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("referrals_connections") as batch:
        batch.drop_column("waiting_list")
    with op.batch_alter_table("referrals_users") as batch:
        batch.drop_column("token_version")
    op.drop_table("referrals_services")
    with op.batch_alter_table("referrals_referrals") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(length=200), nullable=True))
    op.drop_table("referrals_idempotency_keys")
