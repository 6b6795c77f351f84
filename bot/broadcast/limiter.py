"""Per-channel token buckets for the fan-out, on a clock given by the caller (tests use a fake one)."""
from __future__ import annotations

from dataclasses import dataclass

from bot.broadcast.settings import ChannelRate


@dataclass
class _Bucket:
    rate: float
    burst: int
    tokens: float
    at: float
    hold_until: float = 0.0


class ChannelLimiter:
    """`available(channel, now)` tokens may be spent now; a 429 holds the whole channel for retry_after.
    Channels without a configured rate are not limited."""

    def __init__(self, rates: dict[str, ChannelRate]) -> None:
        self.rates = rates
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, channel: str, now: float) -> _Bucket | None:
        rate = self.rates.get(channel)
        if rate is None:
            return None
        bucket = self._buckets.get(channel)
        if bucket is None:
            bucket = self._buckets[channel] = _Bucket(rate.per_second, rate.burst, float(rate.burst), now)
        elapsed = max(0.0, now - bucket.at)
        bucket.tokens = min(float(bucket.burst), bucket.tokens + elapsed * bucket.rate)
        bucket.at = now
        return bucket

    def available(self, channel: str, now: float, cap: int) -> int:
        """Whole tokens available now, at most `cap`."""
        bucket = self._bucket(channel, now)
        if bucket is None:
            return cap
        if now < bucket.hold_until:
            return 0
        return max(0, min(cap, int(bucket.tokens + 1e-9)))

    def take(self, channel: str, n: int, now: float) -> None:
        bucket = self._bucket(channel, now)
        if bucket is not None:
            bucket.tokens -= n

    def hold(self, channel: str, until: float, now: float) -> None:
        """The platform said 'too many requests': send nothing on this channel before `until`."""
        bucket = self._bucket(channel, now)
        if bucket is not None:
            bucket.hold_until = max(bucket.hold_until, until)
            bucket.tokens = min(bucket.tokens, 0.0)

    def wait(self, channel: str, now: float) -> float:
        """Seconds until one token is available (0: now)."""
        bucket = self._bucket(channel, now)
        if bucket is None:
            return 0.0
        if now < bucket.hold_until:
            return bucket.hold_until - now
        return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / bucket.rate
