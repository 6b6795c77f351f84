"""Sign-in throttling: growing delays per account name and per client IP instead of a hard lock.

Each key (an account name, known or not, and a client IP) counts failed sign-ins. After `free` failures
the next attempt must wait 1, 2, 4 ... seconds, capped. The account's cap is short (the real
officer from another place waits at most that long, so a stranger cannot lock the admin out), the IP's cap
is long (one address guessing many passwords or names is slowed to a crawl). Attempts made while waiting
are refused without checking the password and do not count. A success clears the account and the IP.
Counters live in this process (bounded, forgotten after an idle hour); with several workers each keeps its own.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from aiohttp import web

from bot.backoffice.settings import BackofficeSettings
from bot.core.requester import client_address, trusted_networks

MAX_KEYS = 50_000
FORGET_AFTER_SECONDS = 3600.0


@dataclass
class _Entry:
    failures: int
    not_before: float
    last: float


class LoginThrottle:
    def __init__(self, settings: BackofficeSettings) -> None:
        self.settings = settings
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    def _keys(self, account: str, ip: str) -> list[tuple[tuple[str, str], int, float]]:
        s = self.settings
        return [(("account", account), s.login_free_failures_account, s.login_max_delay_account_seconds),
                (("ip", ip), s.login_free_failures_ip, s.login_max_delay_ip_seconds)]

    def _get(self, key: tuple[str, str], now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and now - entry.last > FORGET_AFTER_SECONDS and now >= entry.not_before:
            del self._entries[key]
            return None
        return entry

    def wait_seconds(self, account: str, ip: str, now: float) -> float:
        """Seconds before this account may be tried from this IP (0: now)."""
        waits = [0.0]
        for key, _, _ in self._keys(account, ip):
            entry = self._get(key, now)
            if entry is not None:
                waits.append(entry.not_before - now)
        return max(waits)

    def failed(self, account: str, ip: str, now: float) -> None:
        for key, free, cap in self._keys(account, ip):
            entry = self._get(key, now) or _Entry(0, now, now)
            entry.failures += 1
            entry.last = now
            over = entry.failures - free
            entry.not_before = now + (min(cap, 2.0 ** over) if over >= 0 else 0.0)
            self._entries[key] = entry
            self._entries.move_to_end(key)
        while len(self._entries) > MAX_KEYS:
            self._entries.popitem(last=False)

    def succeeded(self, account: str, ip: str) -> None:
        for key, _, _ in self._keys(account, ip):
            self._entries.pop(key, None)

    def clear_account(self, account: str) -> None:
        """An admin reset the password: the account's delay ends (IPs keep theirs)."""
        self._entries.pop(("account", account), None)


def client_ip(request: web.Request, trusted_proxies: list[str]) -> str:
    """The client's address (bot/requester.py: X-Forwarded-For only from a trusted reverse proxy)."""
    address = client_address(request, trusted_networks(trusted_proxies))
    return str(address) if address is not None else (request.remote or "")[:64]
