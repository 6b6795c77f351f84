"""Channel settings (the `channels:` section of config.yml). Tokens come from the environment."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TelegramSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    webhook_path: str = "/telegram/webhook"
    rate_per_second: float = Field(30.0, gt=0)
    rate_per_chat_per_second: float = Field(1.0, gt=0)


class WhatsAppSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    from_number: str = Field("", description="Twilio WhatsApp sender, e.g. whatsapp:+6281234567890")
    public_url: str = Field("", description="Public base URL Twilio calls, used to validate signatures")
    api_base_url: str = Field("", description="Override Twilio's API base URL (tests use a local fake)")
    webhook_path: str = "/whatsapp/webhook"
    status_callback_path: str = "/whatsapp/status"
    messages_per_second: float = Field(1.0, gt=0)
    templates: dict[str, str] = Field(default_factory=dict, description="purpose -> approved Content SID")


class ChannelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    telegram: TelegramSettings = TelegramSettings()
    whatsapp: WhatsAppSettings = WhatsAppSettings()
    outbox_max_attempts: int = Field(8, ge=1)
