"""Broadcast schedule arithmetic (no database): how long a broadcast takes and, when WhatsApp's messaging tier
is smaller than the audience outside the 24-hour window, which day batches it is spread over.

WhatsApp limits the *unique people* a number may message outside their customer-service window in any
rolling 24 hours (the messaging tier: 250, 2,000, 10,000, 100,000 or unlimited). People who wrote to us within
the window, and people already messaged outside it in the last 24 hours (by any broadcast or update), cost
nothing new. The first batch gets what is left of the tier now; each later batch gets the whole tier and starts
24 hours after the previous batch's planned end (by then every message of the previous batch, and every one
sent before the plan, has left the rolling window). Channels send side by side, each at its own rate.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

WHATSAPP = "whatsapp"
DAY = timedelta(hours=24)
TIERS = (250, 1000, 2000, 10_000, 100_000)


@dataclass(frozen=True)
class Limits:
    """Messages per second per channel (None or absent: no limit) and WhatsApp's tier (None: unlimited)."""

    rates: dict[str, float | None] = field(default_factory=dict)
    tier: int | None = None
    window_hours: float = 24.0

    def seconds(self, channel: str, n: int) -> float:
        rate = self.rates.get(channel)
        return n / rate if rate and n > 0 else 0.0


@dataclass(frozen=True)
class AudienceSplit:
    """Recipients per channel; of the WhatsApp ones, how many are outside the window and would be new people
    in the tier's 24-hour count (`whatsapp_new`); `used` = unique people already messaged outside the window in
    the last 24 hours (or reserved by other broadcasts for the next 24 hours)."""

    per_channel: dict[str, int]
    whatsapp_new: int = 0
    used: int = 0

    @property
    def total(self) -> int:
        return sum(self.per_channel.values())


@dataclass
class Batch:
    day: int
    starts_at: datetime
    recipients: int  # all channels
    tier_quota: int  # WhatsApp recipients counted against the tier in this batch
    seconds: float
    capacity: int | None = None  # the most tier-counted recipients this batch may take (None: unlimited)
    assigned: int = 0  # tier rows given to this batch so far (the worker fills it while creating rows)

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(seconds=self.seconds)


@dataclass
class Plan:
    start: datetime
    batches: list[Batch]
    per_channel: dict[str, int]
    tier: int | None
    used: int
    rates: dict[str, float | None]
    window_hours: float = 24.0
    window_cutoff: datetime | None = None  # a WhatsApp chat that wrote after this is inside its window

    @property
    def total(self) -> int:
        return sum(b.recipients for b in self.batches)

    @property
    def days(self) -> int:
        return len(self.batches)

    @property
    def finish(self) -> datetime:
        return self.batches[-1].ends_at if self.batches else self.start

    @property
    def seconds(self) -> float:
        return (self.finish - self.start).total_seconds()

    @property
    def tier_left_now(self) -> int | None:
        return None if self.tier is None else max(0, self.tier - self.used)

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "tier": self.tier, "used": self.used, "rates": self.rates,
                "per_channel": self.per_channel, "window_hours": self.window_hours,
                "window_cutoff": self.window_cutoff.isoformat() if self.window_cutoff else None,
                "batches": [{**asdict(b), "starts_at": b.starts_at.isoformat()} for b in self.batches]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        batches = [Batch(**{**b, "starts_at": datetime.fromisoformat(b["starts_at"])}) for b in data["batches"]]
        cutoff = data.get("window_cutoff")
        return cls(datetime.fromisoformat(data["start"]), batches, dict(data["per_channel"]), data["tier"],
                   int(data["used"]), dict(data["rates"]), float(data.get("window_hours", 24.0)),
                   datetime.fromisoformat(cutoff) if cutoff else None)

    # filling the batches with rows --------------------------------------------------------------
    def assign(self, n: int) -> list[int]:
        """Day indexes for `n` more tier-counted rows, in order: the first batch with room; when the audience grew
        beyond the plan, new batches are added (a full tier each, 24 hours after the last one's end)."""
        days: list[int] = []
        for _ in range(n):
            batch = next((b for b in self.batches if b.capacity is None or b.assigned < b.capacity), None)
            if batch is None:
                last = self.batches[-1]
                batch = Batch(last.day + 1, last.ends_at + DAY, 0, 0, 0.0, self.tier)
                self.batches.append(batch)
            if batch.assigned >= batch.tier_quota:  # more than planned: the audience grew since
                batch.tier_quota += 1
                batch.recipients += 1
            batch.assigned += 1
            days.append(batch.day)
        return days


def plan(audience: AudienceSplit, limits: Limits, start: datetime) -> Plan:
    """The schedule of a broadcast to `audience` starting at `start`."""
    per_channel = {ch: n for ch, n in audience.per_channel.items() if n > 0}
    wa_total = per_channel.get(WHATSAPP, 0)
    new = min(audience.whatsapp_new, wa_total)
    if limits.tier is None:
        first_quota, later = new, []
    else:
        first_quota = min(new, max(0, limits.tier - audience.used))
        rest = new - first_quota
        later = [limits.tier] * (rest // limits.tier) + ([rest % limits.tier] if rest % limits.tier else [])
    first_counts = {**per_channel}
    if WHATSAPP in first_counts:
        first_counts[WHATSAPP] = wa_total - (new - first_quota)
    first_seconds = max((limits.seconds(ch, n) for ch, n in first_counts.items()), default=0.0)
    first_capacity = None if limits.tier is None else max(0, limits.tier - audience.used)
    batches = [Batch(0, start, sum(first_counts.values()), first_quota, first_seconds, first_capacity)]
    for quota in later:
        previous = batches[-1]
        batches.append(Batch(previous.day + 1, previous.ends_at + DAY, quota, quota,
                             limits.seconds(WHATSAPP, quota), limits.tier))
    return Plan(start, batches, per_channel, limits.tier, audience.used, dict(limits.rates), limits.window_hours)


def window_cutoff(limits: Limits, start: datetime, whatsapp_recipients: int) -> datetime:
    """A chat whose last message came after this is still inside its customer-service window when the first
    batch's WhatsApp sends end (so its message costs no tier): the window less the first batch's longest run."""
    return start - timedelta(hours=limits.window_hours) + timedelta(
        seconds=math.ceil(limits.seconds(WHATSAPP, whatsapp_recipients)))
