"""cases: service-level clock (current stage start and due time, expected completion)

Revision ID: 0005_sla
Revises: 0005_stalls
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import storage.models


revision = '0005_sla'
down_revision = '0005_replies'  # chained at merge: hardening, stalls, oracle, replies, sla
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cases') as batch:
        batch.add_column(sa.Column('sla_stage', sa.String(length=40), nullable=True))
        batch.add_column(sa.Column('sla_stage_started_at', storage.models.AwareDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('sla_stage_due_at', storage.models.AwareDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('sla_due_at', storage.models.AwareDateTime(timezone=True), nullable=True))
        batch.create_index('ix_cases_sla_stage_due_at', ['sla_stage_due_at'])


def downgrade() -> None:
    with op.batch_alter_table('cases') as batch:
        batch.drop_index('ix_cases_sla_stage_due_at')
        batch.drop_column('sla_due_at')
        batch.drop_column('sla_stage_due_at')
        batch.drop_column('sla_stage_started_at')
        batch.drop_column('sla_stage')
