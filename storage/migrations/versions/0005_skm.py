"""satisfaction survey (SKM): one survey per closed case, one answer per case and element

Revision ID: 0005_skm
Revises: 0005_sla
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import storage.models


revision = '0005_skm'
down_revision = '0005_sla'  # chained after main's 0005 migrations (hardening, stalls, oracle, replies, sla)
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'skm_surveys',
        sa.Column('id', ID, primary_key=True, autoincrement=True),
        sa.Column('case_id', ID, sa.ForeignKey('cases.id', name='fk_skm_surveys_case_id_cases'), nullable=False),
        sa.Column('conversation_id', ID, sa.ForeignKey('conversations.id',
                                                       name='fk_skm_surveys_conversation_id_conversations'),
                  nullable=False),
        sa.Column('service', sa.String(30), nullable=False),
        sa.Column('status', sa.String(20), nullable=False),
        sa.Column('offered_at', storage.models.AwareDateTime(timezone=True), nullable=False),
        sa.Column('finished_at', storage.models.AwareDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_skm_surveys'),
        sa.UniqueConstraint('case_id', name='uq_skm_surveys_case_id'),
    )
    op.create_index('ix_skm_surveys_conversation_id', 'skm_surveys', ['conversation_id'])
    op.create_index('ix_skm_surveys_service', 'skm_surveys', ['service'])
    op.create_index('ix_skm_surveys_offered_at', 'skm_surveys', ['offered_at'])
    op.create_table(
        'skm_answers',
        sa.Column('id', ID, primary_key=True, autoincrement=True),
        sa.Column('survey_id', ID, sa.ForeignKey('skm_surveys.id', name='fk_skm_answers_survey_id_skm_surveys'),
                  nullable=False),
        sa.Column('case_id', ID, sa.ForeignKey('cases.id', name='fk_skm_answers_case_id_cases'), nullable=False),
        sa.Column('service', sa.String(30), nullable=False),
        sa.Column('element', sa.String(40), nullable=False),
        sa.Column('score', sa.Integer(), nullable=False),
        sa.Column('answered_at', storage.models.AwareDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_skm_answers'),
        sa.UniqueConstraint('case_id', 'element', name='uq_skm_answers_case_element'),
    )
    op.create_index('ix_skm_answers_survey_id', 'skm_answers', ['survey_id'])


def downgrade() -> None:
    op.drop_index('ix_skm_answers_survey_id', table_name='skm_answers')
    op.drop_table('skm_answers')
    op.drop_index('ix_skm_surveys_offered_at', table_name='skm_surveys')
    op.drop_index('ix_skm_surveys_service', table_name='skm_surveys')
    op.drop_index('ix_skm_surveys_conversation_id', table_name='skm_surveys')
    op.drop_table('skm_surveys')
