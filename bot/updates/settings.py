"""Settings of proactive personal updates (the `updates:` section of config.yml)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bot.broadcast.settings import ChannelRate


def _default_rates() -> dict[str, ChannelRate]:
    # handed to the outbox at most this fast, so the chats' own replies (same outbox, same channel limits) never
    # wait behind a long queue of updates: WhatsApp's default sender MPS is 1, half of it is left for replies
    return {"whatsapp": ChannelRate(per_second=0.5, burst=1), "telegram": ChannelRate(per_second=5, burst=5),
            "webchat": ChannelRate(per_second=50, burst=50)}


class UpdateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rates: dict[str, ChannelRate] = Field(default_factory=_default_rates,
                                          description="Per-channel pace at which confirmed updates enter the outbox")
    poll_seconds: float = Field(2.0, gt=0, description="How often the sender looks for confirmed updates")
    idle_poll_seconds: float = Field(
        10.0, gt=0, description="How often it looks when no batch is being sent (a batch confirmed in this "
                                "process wakes it at once; this is for other processes)")
    batch_size: int = Field(200, ge=1, description="Updates handed to the outbox per pass at most")
    worker_enabled: bool = Field(True, description="Run the update sender inside `hajibot serve`")
