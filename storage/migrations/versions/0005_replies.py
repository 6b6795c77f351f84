"""one active booking per case

Revision ID: 0005_replies
Revises: 0005_stalls
Create Date: 2026-12-01 17:00:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0005_replies'
down_revision = '0005_oracle'  # chained at merge: hardening, stalls, oracle, replies
branch_labels = None
depends_on = None

ACTIVE = sa.text("status = 'booked'")


def upgrade() -> None:
    # Older data may hold several booked visits for one case (an invitation never cancelled the previous one):
    # keep the latest, cancel the others, then let the database refuse a second active booking.
    op.execute("""
        UPDATE appointments SET status = 'cancelled'
        WHERE status = 'booked' AND case_id IS NOT NULL AND id < (
            SELECT MAX(a2.id) FROM appointments a2 WHERE a2.case_id = appointments.case_id AND a2.status = 'booked')
    """)
    op.create_index('uq_appointments_case_booked', 'appointments', ['case_id'], unique=True,
                    sqlite_where=ACTIVE, postgresql_where=ACTIVE)


def downgrade() -> None:
    op.drop_index('uq_appointments_case_booked', table_name='appointments')
