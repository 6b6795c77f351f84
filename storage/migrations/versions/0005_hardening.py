"""outbox: when the last send attempt started (exactly-once sends after a crash)

Revision ID: 0005_hardening
Revises: 0004_broadcast
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import storage.models


revision = '0005_hardening'
down_revision = '0004_broadcast'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('attempted_at', storage.models.AwareDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('attempted_at')
