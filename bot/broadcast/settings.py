"""Broadcast settings (the `broadcast:` section of config.yml)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ChannelRate(BaseModel):
    """Token bucket for one channel: `per_second` messages on average, at most `burst` back to back."""

    model_config = ConfigDict(extra="forbid")

    per_second: float = Field(gt=0)
    burst: int = Field(1, ge=1)


def _default_rates() -> dict[str, ChannelRate]:
    # Telegram allows about 30 messages/s per bot; WhatsApp: 80 per second per number by default. The
    # channel's own setting (channels.telegram.rate_per_second, channels.whatsapp.messages_per_second) caps these.
    # Web chat has no platform limit: the rate only paces the database writes.
    return {"telegram": ChannelRate(per_second=30, burst=30), "whatsapp": ChannelRate(per_second=80, burst=80),
            "webchat": ChannelRate(per_second=500, burst=500)}


class BroadcastSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    require_approval: bool = Field(
        True, description="A petugas's broadcast waits for a second officer's approval (an admin may send alone); "
                          "false: only admins can send")
    excluded_porsi_statuses: list[str] = Field(
        default_factory=lambda: ["meninggal", "wafat", "meninggal dunia", "batal", "dibatalkan", "dilimpahkan"],
        description="Registry statuses never sent to (deceased, cancelled, transferred)")
    excluded_case_services: list[str] = Field(
        default_factory=lambda: ["pembatalan", "pelimpahan"],
        description="Chats with a case of these services (unless rejected) are left out of audiences that do not "
                    "select by case status: the family of a deceased or cancelled pilgrim")
    season: dict[str, str] = Field(
        default_factory=dict, description="Current season's values for the ready-made templates: {tahun_haji}, "
                                          "{tahun_hijriah}, {tanggal_...}; empty = not announced yet")
    batch_size: int = Field(500, ge=1, description="Delivery rows created per audience step")
    rates: dict[str, ChannelRate] = Field(default_factory=_default_rates,
                                          description="Per-channel broadcast rate limits")
    max_in_flight: int = Field(64, ge=1, description="Sends in progress at once (all channels together)")
    max_in_flight_per_channel: int = Field(
        32, ge=1, description="Sends in progress at once on one channel (keep below the HTTP pool of the channel: "
                              "Telegram's is 64 connections)")
    record_every: int = Field(16, ge=1, description="Results written per transaction while a batch is sending")
    max_attempts: int = Field(6, ge=1, description="Attempts per recipient before it is marked failed")
    lease_seconds: float = Field(120, gt=0, description="A claimed row is released after this (crashed worker)")
    resend_interrupted: bool = Field(
        False, description="A row whose send was interrupted by a crash (the platform may or may not have "
                           "delivered it) is sent again (true: nobody missed, rare duplicate) or marked failed "
                           "'interrupted' for follow-up (false: never a duplicate)")
    poll_seconds: float = Field(1.0, gt=0, description="How often an idle worker looks for due broadcasts")
    idle_poll_seconds: float = Field(
        10.0, gt=0, description="How often a worker with no running or scheduled broadcast looks again (one "
                                "started in this process wakes it at once; this is for other processes)")
    worker_enabled: bool = Field(True, description="Run the fan-out worker inside `hajibot serve`")
    max_attachment_bytes: int = Field(5 * 1024 * 1024, ge=1)
