"""proactive personal updates: registry imports and one update row per changed pilgrim's verified chat

Revision ID: 0006_proactive
Revises: 0006_ocr
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import storage.models


revision = '0006_proactive'
down_revision = '0006_ocr'  # chained at merge: ocr, proactive
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
WHEN = storage.models.AwareDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'registry_imports',
        sa.Column('id', ID, primary_key=True, autoincrement=True),
        sa.Column('actor', sa.String(100), nullable=False),
        sa.Column('source', sa.String(20), nullable=False),
        sa.Column('file_sha256', sa.String(64), nullable=False),
        sa.Column('rows_read', sa.Integer(), nullable=False),
        sa.Column('imported', sa.Integer(), nullable=False),
        sa.Column('changes', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(20), nullable=False),
        sa.Column('confirmed_by', sa.String(100), nullable=True),
        sa.Column('confirmed_at', WHEN, nullable=True),
        sa.Column('finished_at', WHEN, nullable=True),
        sa.Column('created_at', WHEN, nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_registry_imports'),
    )
    op.create_index('ix_registry_imports_status', 'registry_imports', ['status'])
    op.create_table(
        'pilgrim_updates',
        sa.Column('id', ID, primary_key=True, autoincrement=True),
        sa.Column('import_id', ID, sa.ForeignKey('registry_imports.id',
                                                 name='fk_pilgrim_updates_import_id_registry_imports'), nullable=False),
        sa.Column('pilgrim_id', ID, sa.ForeignKey('pilgrims.id', name='fk_pilgrim_updates_pilgrim_id_pilgrims'),
                  nullable=False),
        sa.Column('conversation_id', ID, sa.ForeignKey('conversations.id',
                                                       name='fk_pilgrim_updates_conversation_id_conversations'),
                  nullable=False),
        sa.Column('channel', sa.String(20), nullable=False),
        sa.Column('old_status', sa.String(40), nullable=True),
        sa.Column('new_status', sa.String(40), nullable=True),
        sa.Column('old_year', sa.Integer(), nullable=True),
        sa.Column('new_year', sa.Integer(), nullable=True),
        sa.Column('kinds', sa.String(100), nullable=False),
        sa.Column('status', sa.String(20), nullable=False),
        sa.Column('skip_reason', sa.String(40), nullable=True),
        sa.Column('message_id', ID, nullable=True),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('updated_at', WHEN, nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_pilgrim_updates'),
        sa.UniqueConstraint('import_id', 'pilgrim_id', 'conversation_id', name='uq_pilgrim_updates_change'),
    )
    op.create_index('ix_pilgrim_updates_import_id', 'pilgrim_updates', ['import_id'])
    op.create_index('ix_pilgrim_updates_pilgrim_id', 'pilgrim_updates', ['pilgrim_id'])
    op.create_index('ix_pilgrim_updates_conversation_id', 'pilgrim_updates', ['conversation_id'])
    op.create_index('ix_pilgrim_updates_due', 'pilgrim_updates', ['status', 'channel', 'id'])


def downgrade() -> None:
    op.drop_index('ix_pilgrim_updates_due', table_name='pilgrim_updates')
    op.drop_index('ix_pilgrim_updates_conversation_id', table_name='pilgrim_updates')
    op.drop_index('ix_pilgrim_updates_pilgrim_id', table_name='pilgrim_updates')
    op.drop_index('ix_pilgrim_updates_import_id', table_name='pilgrim_updates')
    op.drop_table('pilgrim_updates')
    op.drop_index('ix_registry_imports_status', table_name='registry_imports')
    op.drop_table('registry_imports')
