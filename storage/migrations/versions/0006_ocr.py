"""OCR of identity documents: what was read on a KTP/KK photo (bot/docread)

Revision ID: 0006_ocr
Revises: 0005_skm
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import storage.models


revision = '0006_ocr'
down_revision = '0005_skm'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('case_documents') as batch:
        batch.add_column(sa.Column('ocr_status', sa.String(12), nullable=True))
        batch.add_column(sa.Column('ocr_at', storage.models.AwareDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('ocr', sa.JSON(none_as_null=True), nullable=True))
        batch.create_index('ix_case_documents_ocr_status', ['ocr_status'])


def downgrade() -> None:
    with op.batch_alter_table('case_documents') as batch:
        batch.drop_index('ix_case_documents_ocr_status')
        batch.drop_column('ocr')
        batch.drop_column('ocr_at')
        batch.drop_column('ocr_status')
