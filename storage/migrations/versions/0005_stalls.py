"""case documents: warnings about active content (scripts, actions, embedded files in PDFs)

Revision ID: 0005_stalls
Revises: 0005_hardening
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0005_stalls'
down_revision = '0005_hardening'  # chained after main's 0005 (merged first)
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('case_documents') as batch_op:
        batch_op.add_column(sa.Column('warnings', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('case_documents') as batch_op:
        batch_op.drop_column('warnings')
