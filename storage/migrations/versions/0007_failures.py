"""partial indexes on failed identity checks (dialogues/throttle.py counts them before every check)

Revision ID: 0007_failures
Revises: 0006_planner
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0007_failures'
down_revision = '0006_planner'
branch_labels = None
depends_on = None

INDEXES = {
    'ix_verification_failures_at': ['at'],
    'ix_verification_failures_subject': ['subject', 'at'],
    'ix_verification_failures_conversation': ['conversation_id', 'at'],
    'ix_verification_failures_requester': ['requester', 'at'],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, 'verification_attempts', columns, sqlite_where=sa.text('success IS 0'),
                        postgresql_where=sa.text('success IS false'))


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name='verification_attempts')
