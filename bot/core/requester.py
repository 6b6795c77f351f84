"""Who is asking, for failure budgets (dialogues/throttle.py): the web chat's client address.

The address is the TCP peer, unless the peer is one of `security.trusted_proxies` (e.g. the nginx in front of
the service): then X-Forwarded-For is read from the right, skipping trusted proxies, and the first address
that is not a trusted proxy is the client. A client cannot spoof its address by sending its own
X-Forwarded-For: without a trusted proxy the header is ignored, and behind one only what the proxy appended
counts. The address is stored and compared only as a keyed hash ('ip:<hash>'); IPv6 clients are counted per
/64 (one household or phone usually owns a whole /64). The key of a (peer, X-Forwarded-For) pair is
remembered, so a client's next requests skip parsing and hashing.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
from typing import Annotated, Union

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
MAX_REMEMBERED = 4096  # requester keys kept; then forgotten all at once
MAX_REMEMBERED_HEADER = 256  # a longer X-Forwarded-For is worked out each time (keeps the cache small)


def _check_networks(value: list[str]) -> list[str]:
    for item in value:
        ipaddress.ip_network(item, strict=False)  # raises ValueError naming the bad entry
    return value


# a config list of reverse proxies (addresses or networks), checked when the config is loaded
ProxyList = Annotated[list[str], AfterValidator(_check_networks)]


class SecuritySettings(BaseModel):
    """`security:` in config.yml."""

    model_config = ConfigDict(extra="forbid")

    # addresses or networks of reverse proxies whose X-Forwarded-For is believed, e.g. [127.0.0.1, 10.0.0.0/8]
    trusted_proxies: ProxyList = []


def _address(text: str) -> Address | None:
    text = text.strip().strip('"')
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # 203.0.113.7:51234
        text = text.split(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def trusted_networks(trusted_proxies: list[str]) -> list[Network]:
    """Config entries (addresses or networks) as networks."""
    return [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]


def client_address(request: web.Request, trusted: list[Network]) -> Address | None:
    """The client's address: the peer, or the last untrusted hop of X-Forwarded-For behind a trusted proxy."""
    peer = _address(request.remote or "")
    if peer is None or not any(peer in network for network in trusted):
        return peer
    hops = [h for line in request.headers.getall("X-Forwarded-For", []) for h in line.split(",")]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return peer  # a malformed hop: believe nothing left of it
        if not any(address in network for network in trusted):
            return address
    return peer


class RequesterKeys:
    """Turns a web request into the requester key of its client address."""

    def __init__(self, trusted_proxies: list[str], secret: str | None = None) -> None:
        self.trusted = trusted_networks(trusted_proxies)
        self.secret = (secret or "hajibot-requester").encode()
        self._keys: dict[tuple[str | None, tuple[str, ...]], str | None] = {}

    def client_address(self, request: web.Request) -> Address | None:
        return client_address(request, self.trusted)

    def key(self, address: Address | None) -> str | None:
        if address is None:
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
            text = str(ipaddress.ip_network(f"{address}/64", strict=False))
        else:
            text = str(address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else address)
        return "ip:" + hmac.new(self.secret, text.encode(), hashlib.sha256).hexdigest()[:32]

    def for_request(self, request: web.Request) -> str | None:
        # without trusted proxies the header is never read, so it does not split the cache either
        seen = (request.remote, tuple(request.headers.getall("X-Forwarded-For", ())) if self.trusted else ())
        try:
            return self._keys[seen]
        except KeyError:
            pass
        key = self.key(self.client_address(request))
        if sum(map(len, seen[1])) <= MAX_REMEMBERED_HEADER:
            if len(self._keys) >= MAX_REMEMBERED:
                self._keys.clear()
            self._keys[seen] = key
        return key
