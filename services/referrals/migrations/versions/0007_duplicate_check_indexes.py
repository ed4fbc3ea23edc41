"""the duplicate check reads by index: a practice's referrals by NHS number and by date
of birth, newest first

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_referrals_practice_nhs_created",
        "referrals_referrals",
        ["practice_ods", "nhs_number", "created_at"],
    )
    op.create_index(
        "ix_referrals_practice_birth_created",
        "referrals_referrals",
        ["practice_ods", "birth_date", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_referrals_practice_birth_created", table_name="referrals_referrals")
    op.drop_index("ix_referrals_practice_nhs_created", table_name="referrals_referrals")
