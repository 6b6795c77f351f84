"""Channel settings (the `channels:` section of config.yml). Tokens come from the environment."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TelegramSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    base_url: str = Field("https://api.telegram.org/bot",
                          description="Bot API URL; the token is appended (or put {token} where it goes)")
    base_file_url: str = "https://api.telegram.org/file/bot"
    webhook_path: str = "/telegram/webhook"
    rate_per_second: float = Field(30.0, gt=0, description="messages per second, all chats together")
    rate_per_chat_per_second: float = Field(1.0, gt=0, description="messages per second to one chat")
    burst_per_chat: int = Field(1, ge=1, description="messages to one chat sent back to back before spacing")
    polling_timeout_seconds: int = Field(30, ge=0, le=50, description="getUpdates long-poll timeout")
    request_timeout_seconds: float = Field(30.0, gt=0)


class WhatsAppTemplate(BaseModel):
    """An approved Twilio Content template and how to fill its variables.

    Variable values are format strings: {text} (the message), {office_name}, {name} (the user's name).
    """

    model_config = ConfigDict(extra="forbid")

    content_sid: str = Field(pattern=r"^HX[0-9a-fA-F]{32}$")
    variables: dict[str, str] = Field(default_factory=dict)
    max_variable_chars: int = Field(1000, ge=1, description="each variable is cut to this length")


class WhatsAppSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    from_number: str = Field("", description="Twilio WhatsApp sender, e.g. whatsapp:+6281234567890")
    messaging_service_sid: str = Field("", description="Send through a Messaging Service (MG...) instead")
    public_url: str = Field("", description="Public base URL Twilio calls, used to validate signatures")
    api_base_url: str = Field("", description="Override Twilio's API base URL (tests use a local fake)")
    webhook_path: str = "/whatsapp/webhook"
    status_callback_path: str = "/whatsapp/status"
    messages_per_second: float = Field(
        80.0, gt=0, description="per-sender throughput (MPS): 80 is WhatsApp's default, raise to what was granted")
    messaging_tier: Literal[250, 1000, 2000, 10000, 100000, "unlimited"] = Field(
        250, description="the number's messaging limit: unique people per rolling 24 hours messaged outside "
                         "their customer-service window (WhatsApp Manager shows it); broadcasts are spread "
                         "over days to stay within it")
    window_hours: float = Field(24.0, gt=0, description="WhatsApp customer-service window")
    media_url_minutes: float = Field(60.0, gt=0, le=7 * 24 * 60,
                                     description="how long a signed link to a file we send (Twilio fetches it) works")
    templates: dict[str, WhatsAppTemplate] = Field(
        default_factory=dict,
        description="purpose -> approved template; 'notification' is used outside the 24-hour window, "
                    "'pilgrim_update' for personal updates after a registry import (else 'notification'), "
                    "'quick_reply_2' / 'quick_reply_3' render 2 or 3 choices as buttons")
    request_timeout_seconds: float = Field(30.0, gt=0)


class WebChatSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_text_chars: int = Field(4096, ge=1, le=100_000,
                                description="longest message text accepted (as Telegram); longer ones are refused")
    session_days: int = Field(180, ge=1, le=3650, description="a browser's chat session cookie lasts this long")
    secure_cookies: bool = Field(False, description="Set the Secure flag on the session cookie (true behind HTTPS)")
    history_messages: int = Field(100, ge=10, le=1000, description="messages shown when the page is (re)opened")


class ChannelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webchat: WebChatSettings = WebChatSettings()
    telegram: TelegramSettings = TelegramSettings()
    whatsapp: WhatsAppSettings = WhatsAppSettings()
    outbox_max_attempts: int = Field(8, ge=1)
