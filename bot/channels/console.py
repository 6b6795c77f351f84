"""Console channel for `hajibot chat`: read a line, print the bot's replies."""
from __future__ import annotations

import asyncio

import click

from bot.core.inbound import InboundMessage
from bot.core.pipeline import Pipeline

CHANNEL = "console"


def render(text: str, choices: list[str]) -> str:
    lines = [text]
    lines += [f"  {i}. {choice}" for i, choice in enumerate(choices, 1)]
    return "\n".join(lines)


async def run_console(pipeline: Pipeline, user_id: str) -> None:
    """Interactive loop until EOF (Ctrl-D) or 'keluar'."""
    click.echo("Ketik pesan lalu Enter. Ctrl-D untuk keluar.")
    while True:
        try:
            line = await asyncio.to_thread(input, "> ")
        except (EOFError, KeyboardInterrupt):
            click.echo("")
            return
        if not line.strip():
            continue
        message = InboundMessage(channel=CHANNEL, user_id=user_id, text=line,
                                 channel_message_id=None)
        result = await pipeline.handle(message)
        for reply in result.replies:
            click.echo(render(reply.text, list(reply.choices or [])))
        await pipeline.mark_delivered([reply.id for reply in result.replies])
