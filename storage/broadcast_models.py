"""Broadcast announcements (issue 7): the broadcast, one delivery row per recipient, opt-outs and the
chat a staff member uses for test sends. Imported at the end of storage/models.py so Alembic sees them."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, IdType, utcnow

# Broadcast.status: draft -> pending_approval -> scheduled -> running <-> paused -> completed | cancelled
BROADCAST_STATES = ("draft", "pending_approval", "scheduled", "running", "paused", "completed", "cancelled")
# BroadcastDelivery.status: pending -> sending -> sent -> delivered -> read | failed | skipped
DELIVERY_STATES = ("pending", "sending", "sent", "delivered", "read", "failed", "skipped")


class Broadcast(Base):
    """One announcement to a segment of the audience."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    template_key: Mapped[str | None] = mapped_column(String(60))
    attachment: Mapped[dict[str, Any] | None] = mapped_column()  # {sha256, content_type, filename, size}
    segment: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    created_by: Mapped[str] = mapped_column(String(100))  # staff:<username> | cli
    created_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    approved_by: Mapped[str | None] = mapped_column(String(100))
    approved_at: Mapped[datetime | None] = mapped_column()
    scheduled_at: Mapped[datetime | None] = mapped_column()  # None: as soon as it is scheduled
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    audience_cursor: Mapped[int] = mapped_column(IdType, default=0)  # last conversation id turned into a row
    audience_done: Mapped[bool] = mapped_column(Boolean, default=False)
    total: Mapped[int] = mapped_column(Integer, default=0)  # delivery rows created so far
    # the schedule made when sending starts (bot/broadcast/planner.py Plan.to_json): day batches within
    # WhatsApp's messaging tier; the rows of a later day wait (next_attempt_at) until its start
    plan: Mapped[dict[str, Any] | None] = mapped_column()
    planned_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class BroadcastDelivery(Base):
    """One recipient of one broadcast; the unique key makes the audience idempotent."""

    __tablename__ = "broadcast_deliveries"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "conversation_id", name="uq_broadcast_deliveries_recipient"),
        Index("ix_broadcast_deliveries_claim", "broadcast_id", "channel", "status", "id"),
        Index("ix_broadcast_deliveries_provider", "channel", "provider_message_id"),
        Index("ix_broadcast_deliveries_due", "broadcast_id", "status", "next_attempt_at"),
        Index("ix_broadcast_deliveries_tier", "channel", "tier_day", "sent_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    channel: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()  # back-off (pending) or lease end (sending)
    worker: Mapped[str | None] = mapped_column(String(60))
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime | None] = mapped_column()
    # the plan's day batch of a WhatsApp row that counts against the messaging tier (a new person messaged
    # outside the 24-hour window); None: it costs no tier (other channel, inside the window, already messaged)
    tier_day: Mapped[int | None] = mapped_column(Integer)


class BroadcastOptout(Base):
    """A conversation that asked not to receive broadcasts (STOP / BERHENTI / unsubscribe)."""

    __tablename__ = "broadcast_optouts"

    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(40))  # keyword:<KEYWORD> | unsubscribe | staff


class StaffChatLink(Base):
    """The chat where a staff member receives test sends of a broadcast."""

    __tablename__ = "staff_chat_links"

    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
