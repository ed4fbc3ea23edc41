"""Open Referral: HSDS ids and import sources, service status detail, who assured an
entry, out-of-date reports and review notices

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 21:00:00
"""
import uuid

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# The same namespace as services/directory/openreferral.py (ids must not change).
NAMESPACE = uuid.UUID("5b0c8a36-52f4-4d7e-9a53-0f3f6e2c1d71")


def upgrade() -> None:
    with op.batch_alter_table('directory_organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hsds_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('source', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('source_id', sa.String(length=300), nullable=True))
        batch_op.create_unique_constraint('uq_directory_organisations_hsds_id', ['hsds_id'])
    with op.batch_alter_table('directory_services', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reopens_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('assured_by', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('hsds_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('source', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('source_id', sa.String(length=300), nullable=True))
        batch_op.create_unique_constraint('uq_directory_services_hsds_id', ['hsds_id'])
    conn = op.get_bind()
    for table, kind in (('directory_organisations', 'organization'), ('directory_services', 'service')):
        ids = [r[0] for r in conn.execute(sa.text(f'SELECT id FROM {table}'))]
        for local_id in ids:
            conn.execute(
                sa.text(f'UPDATE {table} SET hsds_id = :h WHERE id = :i'),
                {'h': str(uuid.uuid5(NAMESPACE, f'{kind}:{local_id}')), 'i': local_id},
            )
    op.create_table('directory_service_reports',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('service_id', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('reported_by', sa.String(length=100), nullable=False),
    sa.Column('reporter_role', sa.String(length=30), nullable=False),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=100), nullable=True),
    sa.Column('resolution', sa.String(length=300), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('directory_service_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_directory_service_reports_service_id'), ['service_id'], unique=False)
    op.create_table('directory_review_notices',
    sa.Column('service_id', sa.String(length=100), nullable=False),
    sa.Column('assured_on', sa.Date(), nullable=False),
    sa.Column('noticed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('service_id', 'assured_on')
    )


def downgrade() -> None:
    op.drop_table('directory_review_notices')
    with op.batch_alter_table('directory_service_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_directory_service_reports_service_id'))
    op.drop_table('directory_service_reports')
    with op.batch_alter_table('directory_services', schema=None) as batch_op:
        batch_op.drop_constraint('uq_directory_services_hsds_id', type_='unique')
        for name in ('source_id', 'source', 'hsds_id', 'assured_by', 'reopens_on'):
            batch_op.drop_column(name)
    with op.batch_alter_table('directory_organisations', schema=None) as batch_op:
        batch_op.drop_constraint('uq_directory_organisations_hsds_id', type_='unique')
        for name in ('source_id', 'source', 'hsds_id'):
            batch_op.drop_column(name)
