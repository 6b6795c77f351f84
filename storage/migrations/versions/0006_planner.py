"""broadcast planner: the stored schedule of a broadcast and each WhatsApp row's day batch within the tier;
the service-level clock's pause while a case waits for the pilgrim (cases.sla_paused_at)

Revision ID: 0006_planner
Revises: 0006_proactive
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import storage.models


revision = '0006_planner'
down_revision = '0006_proactive'  # chained at merge: ocr, proactive, planner
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('broadcasts') as batch:
        batch.add_column(sa.Column('plan', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('planned_at', storage.models.AwareDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('broadcast_deliveries') as batch:
        batch.add_column(sa.Column('tier_day', sa.Integer(), nullable=True))
    op.create_index('ix_broadcast_deliveries_tier', 'broadcast_deliveries', ['channel', 'tier_day', 'sent_at'])
    with op.batch_alter_table('cases') as batch:
        batch.add_column(sa.Column('sla_paused_at', storage.models.AwareDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cases') as batch:
        batch.drop_column('sla_paused_at')
    op.drop_index('ix_broadcast_deliveries_tier', table_name='broadcast_deliveries')
    with op.batch_alter_table('broadcast_deliveries') as batch:
        batch.drop_column('tier_day')
    with op.batch_alter_table('broadcasts') as batch:
        batch.drop_column('planned_at')
        batch.drop_column('plan')
