"""groups close the loop: the link worker's summary for the group, and who recorded an
outcome (a link worker or the group)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("referrals_connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("summary_for_group", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("outcome_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("outcome_by_role", sa.String(length=30), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("referrals_connections", schema=None) as batch_op:
        batch_op.drop_column("outcome_by_role")
        batch_op.drop_column("outcome_by")
        batch_op.drop_column("summary_for_group")
