"""Proactive personal updates (issue 15): when a registry import changes a linked pilgrim's status or estimated
year, that pilgrim's verified chats are told, once, after staff saw the counts and confirmed. See README.md."""
