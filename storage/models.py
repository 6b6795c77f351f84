"""SQLAlchemy ORM models. The schema itself is created only by Alembic migrations."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON, BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer, MetaData, String, Text,
    UniqueConstraint, text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

IdType = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class AwareDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime stored; use timezone-aware UTC")
        # SQLite keeps the wall time and drops the offset: store every moment as UTC (a due date computed in
        # office time, 16.00 WIB, would otherwise read back as 16.00 UTC)
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: AwareDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class Conversation(Base):
    """One chat with one user on one channel; holds the dialogue state."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "channel_user_id"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(20))
    channel_user_id: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    mode: Mapped[str] = mapped_column(String(20), default="bot")  # bot | waiting_staff | staff
    handoff_since: Mapped[datetime | None] = mapped_column()
    handoff_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    subscribed: Mapped[bool] = mapped_column(Boolean, default=False)
    subscribed_at: Mapped[datetime | None] = mapped_column()
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)  # user blocked the bot / invalid number
    pilgrim_id: Mapped[int | None] = mapped_column(ForeignKey("pilgrims.id"))
    last_inbound_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    messages: Mapped[list["Message"]] = relationship(back_populates="conversation", lazy="raise")


class Message(Base):
    """An inbound or outbound message. Outbound rows are the outbox."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "direction", "channel_message_id", name="uq_messages_channel_msg"),
        Index("ix_messages_conv_dir_status", "conversation_id", "direction", "status"),
        Index("ix_messages_outbox", "direction", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    channel_message_id: Mapped[str | None] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    choices: Mapped[list[Any]] = mapped_column(default=list)
    # inbound: received | processed | failed ;
    # outbound: pending | sending | sent | delivered | read | failed | undeliverable | maybe_sent (a send was
    # interrupted by a crash: the platform may have delivered it; staff decide whether to resend)
    status: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    attempted_at: Mapped[datetime | None] = mapped_column()  # when the last send attempt started (outbox)
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    intent: Mapped[str | None] = mapped_column(String(50))
    intent_confidence: Mapped[float | None] = mapped_column()
    sender: Mapped[str] = mapped_column(String(20), default="user")  # user | bot | staff | broadcast
    # inbound: who sent it besides the conversation (InboundMessage.requester), for failure budgets
    requester: Mapped[str | None] = mapped_column(String(100))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    processed_at: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()

    conversation: Mapped[Conversation] = relationship(back_populates="messages", lazy="raise")


class Pilgrim(Base):
    """A row of the office's porsi registry."""

    __tablename__ = "pilgrims"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    nomor_porsi: Mapped[str] = mapped_column(String(10), unique=True)
    nama: Mapped[str] = mapped_column(String(200))
    nik: Mapped[str] = mapped_column(String(16), index=True)
    tanggal_lahir: Mapped[date] = mapped_column(Date)
    jenis_kelamin: Mapped[str] = mapped_column(String(1))
    kab_kota: Mapped[str] = mapped_column(String(100))
    provinsi: Mapped[str] = mapped_column(String(100))
    kecamatan: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(40))
    estimasi_tahun: Mapped[int | None] = mapped_column(Integer)
    bank: Mapped[str | None] = mapped_column(String(100))
    tanggal_daftar: Mapped[date | None] = mapped_column(Date)
    transfer_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TicketSequence(Base):
    """Per-prefix, per-year counter for ticket codes such as PBT-2026-00042."""

    __tablename__ = "ticket_sequences"

    prefix: Mapped[str] = mapped_column(String(10), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Case(Base):
    """An application (pembatalan, pelimpahan, pendaftaran) handed to the back office."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    ticket: Mapped[str] = mapped_column(String(20), unique=True)
    service: Mapped[str] = mapped_column(String(30), index=True)
    variant: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(30), index=True, default="submitted")
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    pilgrim_id: Mapped[int | None] = mapped_column(ForeignKey("pilgrims.id"))
    nomor_porsi: Mapped[str | None] = mapped_column(String(10), index=True)
    applicant_name: Mapped[str | None] = mapped_column(String(200))
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    assigned_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column()
    first_staff_action_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    # service-level clock (dialogues/service_level.py): current stage, its start and due time, expected completion
    sla_stage: Mapped[str | None] = mapped_column(String(40))
    sla_stage_started_at: Mapped[datetime | None] = mapped_column()
    sla_stage_due_at: Mapped[datetime | None] = mapped_column(index=True)
    sla_due_at: Mapped[datetime | None] = mapped_column()
    # the clock stands still while the case waits for the pilgrim (service_levels.pause_statuses); when they
    # answer, the due dates move by the working days it waited
    sla_paused_at: Mapped[datetime | None] = mapped_column()

    documents: Mapped[list["CaseDocument"]] = relationship(back_populates="case", lazy="raise",
                                                           order_by="CaseDocument.id")


class CaseDocument(Base):
    """One file for one checklist item of a case (an item may have several pages/files)."""

    __tablename__ = "case_documents"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    item_key: Mapped[str] = mapped_column(String(60))
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    page_count: Mapped[int] = mapped_column(Integer, default=1)
    # active content found when the file was checked (a PDF's javascript, launch, embedded_files ...)
    warnings: Mapped[list[Any] | None] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="received")  # received | accepted | rejected | replaced
    reject_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # OCR of identity documents (bot/docread): reading | read | failed; NULL = not read (yet)
    ocr_status: Mapped[str | None] = mapped_column(String(12), index=True)
    ocr_at: Mapped[datetime | None] = mapped_column()
    ocr: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))  # niks, name, text, seconds

    case: Mapped[Case | None] = relationship(back_populates="documents", lazy="raise")


class VerificationAttempt(Base):
    """Identity checks on a porsi; used to lock out enumeration."""

    __tablename__ = "verification_attempts"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    nomor_porsi: Mapped[str] = mapped_column(String(10), index=True)  # "" for ticket checks
    # what was checked: the porsi number or the ticket (dialogues/throttle.py counts failures per subject)
    subject: Mapped[str | None] = mapped_column(String(40), index=True)
    # who asked, besides the conversation: 'ip:<hash>' (web chat), 'tg:<user id>', 'wa:<phone>'
    requester: Mapped[str | None] = mapped_column(String(100), index=True)
    success: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    # Failures only (migration 0007_failures): dialogues/throttle.py counts failures per scope before every
    # check; with the plain indexes it read every attempt of the window, successes included (2.8 ms at 5,000).
    __table_args__ = tuple(
        Index(f"ix_verification_failures_{name}", *columns, sqlite_where=text("success IS 0"),
              postgresql_where=text("success IS false"))
        for name, columns in (("at", ("at",)), ("subject", ("subject", "at")),
                              ("conversation", ("conversation_id", "at")), ("requester", ("requester", "at"))))


class Appointment(Base):
    """A booked visit to the office in one of the configured weekly slots."""

    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    slot_start: Mapped[datetime] = mapped_column(index=True)
    purpose: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="booked")  # booked | cancelled | done
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (  # one active booking per case (a partial unique index; migration 0005_replies)
        Index("uq_appointments_case_booked", "case_id", unique=True, sqlite_where=text("status = 'booked'"),
              postgresql_where=text("status = 'booked'")),
    )


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))  # admin | petugas
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditLog(Base):
    """Who did what, when, to which case or conversation."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))  # staff:<username> | bot | system | cli
    action: Mapped[str] = mapped_column(String(60))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


# --- back office (issue 6) -------------------------------------------------------------------------

class StaffSession(Base):
    """A logged-in staff browser. Only a keyed hash of the cookie value is stored."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ApiToken(Base):
    """A bearer token for the integration API, scoped read or write. Only its hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    scope: Mapped[str] = mapped_column(String(10))  # read | write
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()


class WebhookDelivery(Base):
    """One outgoing webhook event; retried with back-off until the receiver answers 2xx."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    event: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()


# broadcast tables live in their own module (issue 7); imported here so metadata and Alembic see them
from storage import broadcast_models as _broadcast_models  # noqa: E402,F401


# --- satisfaction survey (SKM, PermenPANRB 14/2017) -------------------------------------------------

class SkmSurvey(Base):
    """The survey of one closed case: offered at most once (unique case), then answered, partly or not."""

    __tablename__ = "skm_surveys"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    service: Mapped[str] = mapped_column(String(30), index=True)
    status: Mapped[str] = mapped_column(String(20), default="offered")  # offered | started | completed | stopped | declined | lapsed
    offered_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column()


class SkmAnswer(Base):
    """One element's score (1..4) of one case's survey."""

    __tablename__ = "skm_answers"
    __table_args__ = (UniqueConstraint("case_id", "element", name="uq_skm_answers_case_element"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("skm_surveys.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    service: Mapped[str] = mapped_column(String(30))
    element: Mapped[str] = mapped_column(String(40))
    score: Mapped[int] = mapped_column(Integer)
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)


# proactive personal updates after a registry import (issue 15)
from storage import update_models as _update_models  # noqa: E402,F401
