"""Which channel plug-ins run: web chat always, Telegram and WhatsApp when enabled in config."""
from __future__ import annotations

from bot.core.channel import ChannelPlugin
from bot.channels.webchat import WebChatChannel
from bot.channels.webchat_session import ChatSessions
from bot.config import Settings
from bot.core.pipeline import Pipeline
from bot.core.requester import RequesterKeys
from storage.db import Database
from storage.files import FileStore


def build_channels(settings: Settings, pipeline: Pipeline, db: Database, files: FileStore,
                   only: tuple[str, ...] = ()) -> dict[str, ChannelPlugin]:
    config = settings.config.channels
    sessions = ChatSessions(settings.secrets.session_key, config.webchat.session_days)
    requesters = RequesterKeys(settings.config.security.trusted_proxies, settings.secrets.session_key)
    channels: dict[str, ChannelPlugin] = {
        "webchat": WebChatChannel(pipeline, db, config.webchat, sessions, requesters)}
    if config.telegram.enabled:
        from bot.channels.telegram import TelegramChannel

        channels["telegram"] = TelegramChannel(settings, pipeline, db, files)
    if config.whatsapp.enabled:
        from bot.channels.whatsapp import WhatsAppChannel

        channels["whatsapp"] = WhatsAppChannel(settings, pipeline, db, files)
    if only:
        channels = {name: c for name, c in channels.items() if name in only}
    return channels
