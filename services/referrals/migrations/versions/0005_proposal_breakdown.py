"""proposals keep their score's breakdown (MatchesProposed v3)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("referrals_proposals") as batch:
        batch.add_column(sa.Column("breakdown", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("referrals_proposals") as batch:
        batch.drop_column("breakdown")
