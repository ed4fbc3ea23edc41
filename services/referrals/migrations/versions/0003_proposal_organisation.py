"""proposals remember the service's organisation (MatchesProposed v2)

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("referrals_proposals") as batch:
        batch.add_column(sa.Column("organisation_id", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("referrals_proposals") as batch:
        batch.drop_column("organisation_id")
