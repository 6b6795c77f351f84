"""failure budgets: who asked (requester) and what was checked (subject) on verification attempts; the
requester key of inbound messages

Revision ID: 0005_oracle
Revises: 0005_stalls
Create Date: 2026-12-01 16:50:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0005_oracle'
down_revision = '0005_stalls'  # chained after main's 0005 migrations
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('verification_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('requester', sa.String(length=100), nullable=True))
        batch_op.create_index(batch_op.f('ix_verification_attempts_subject'), ['subject'], unique=False)
        batch_op.create_index(batch_op.f('ix_verification_attempts_requester'), ['requester'], unique=False)
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requester', sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('requester')
    with op.batch_alter_table('verification_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verification_attempts_requester'))
        batch_op.drop_index(batch_op.f('ix_verification_attempts_subject'))
        batch_op.drop_column('requester')
        batch_op.drop_column('subject')
