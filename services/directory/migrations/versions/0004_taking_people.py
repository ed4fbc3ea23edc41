"""A group's word on its places: places left, waiting list or full

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 01:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('directory_services', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('taking', sa.String(length=20), nullable=False, server_default='places_left')
        )


def downgrade() -> None:
    with op.batch_alter_table('directory_services', schema=None) as batch_op:
        batch_op.drop_column('taking')
