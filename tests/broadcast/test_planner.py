"""The schedule arithmetic: per-channel throughput, WhatsApp's messaging tier spread over day batches, people
already messaged in the last 24 hours, mixed channels, a growing audience, the stored form, and the duration
text the officer reads."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.broadcast.planner import DAY, AudienceSplit, Limits, Plan, plan, window_cutoff
from bot.broadcast.texts import duration, number

START = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)
RATES = {"telegram": 30.0, "whatsapp": 80.0, "webchat": None}


def test_telegram_alone_at_thirty_per_second():
    result = plan(AudienceSplit({"telegram": 3000}), Limits(RATES, tier=250), START)
    assert result.days == 1 and result.seconds == 100 and result.finish == START + timedelta(seconds=100)
    assert result.batches[0].recipients == 3000 and result.batches[0].tier_quota == 0


def test_web_chat_has_no_limit():
    result = plan(AudienceSplit({"webchat": 50_000}), Limits(RATES, tier=250), START)
    assert result.days == 1 and result.seconds == 0


def test_whatsapp_within_the_tier_takes_one_day_at_the_number_throughput():
    result = plan(AudienceSplit({"whatsapp": 2000}, whatsapp_new=2000), Limits(RATES, tier=2000), START)
    assert result.days == 1 and result.seconds == 25  # 2,000 at 80/s
    assert result.tier_left_now == 2000


def test_mixed_channels_over_the_tier_are_spread_over_days():
    audience = AudienceSplit({"telegram": 600, "whatsapp": 1000, "webchat": 40}, whatsapp_new=1000)
    result = plan(audience, Limits(RATES, tier=250), START)
    first, *later = result.batches
    assert first.recipients == 600 + 250 + 40 and first.tier_quota == 250
    assert first.seconds == 20  # Telegram's 600 at 30/s is the longest run; the channels send side by side
    assert [b.tier_quota for b in later] == [250, 250, 250] and [b.recipients for b in later] == [250, 250, 250]
    # each later batch starts 24 h after the previous one ended: the rolling window has let go of it
    assert later[0].starts_at == START + timedelta(seconds=20) + DAY
    assert later[1].starts_at == later[0].starts_at + timedelta(seconds=250 / 80) + DAY
    assert result.total == 1640 and result.days == 4
    assert result.finish == later[2].starts_at + timedelta(seconds=250 / 80)


def test_people_already_messaged_use_up_todays_tier():
    # 3,500 WhatsApp recipients: 500 wrote to us within the window (free), 3,000 would be new people;
    # 1,500 others were messaged outside their window in the last 24 hours (other broadcasts, updates)
    audience = AudienceSplit({"whatsapp": 3500}, whatsapp_new=3000, used=1500)
    result = plan(audience, Limits(RATES, tier=2000), START)
    assert result.tier_left_now == 500
    assert [(b.recipients, b.tier_quota) for b in result.batches] == [(1000, 500), (2000, 2000), (500, 500)]


def test_tier_used_up_sends_only_the_free_ones_today():
    audience = AudienceSplit({"whatsapp": 300, "telegram": 10}, whatsapp_new=260, used=400)
    result = plan(audience, Limits(RATES, tier=250), START)
    assert [(b.recipients, b.tier_quota) for b in result.batches] == [(50, 0), (250, 250), (10, 10)]
    assert result.tier_left_now == 0


@pytest.mark.parametrize("tier", [250, 2000, 10_000, 100_000])
def test_every_tier_gives_the_ceiling_of_the_audience_over_the_tier(tier):
    people = 123_456
    result = plan(AudienceSplit({"whatsapp": people}, whatsapp_new=people), Limits(RATES, tier=tier), START)
    assert result.days == -(-people // tier)
    assert all(b.tier_quota <= tier for b in result.batches) and result.total == people


def test_unlimited_tier_is_one_day():
    result = plan(AudienceSplit({"whatsapp": 200_000}, whatsapp_new=200_000, used=5),
                  Limits(RATES, tier=None), START)
    assert result.days == 1 and result.seconds == 2500 and result.tier_left_now is None


def test_rows_fill_the_batches_in_order_and_a_grown_audience_gets_another_day():
    result = plan(AudienceSplit({"whatsapp": 400}, whatsapp_new=400, used=150), Limits(RATES, tier=250), START)
    assert [b.tier_quota for b in result.batches] == [100, 250, 50]
    days = result.assign(400)
    assert days == [0] * 100 + [1] * 250 + [2] * 50
    days = result.assign(300)  # 300 more people joined the segment after the plan was made
    assert days == [2] * 200 + [3] * 100
    assert [b.assigned for b in result.batches] == [100, 250, 250, 100]
    assert result.batches[3].starts_at == result.batches[2].ends_at + DAY


def test_plan_survives_the_json_round_trip():
    result = plan(AudienceSplit({"whatsapp": 600, "telegram": 5}, whatsapp_new=600), Limits(RATES, tier=250), START)
    result.window_cutoff = START - timedelta(hours=23)
    result.assign(300)
    again = Plan.from_json(result.to_json())
    assert again == result


def test_window_cutoff_leaves_room_for_the_first_batch():
    limits = Limits(RATES, tier=250)
    # 8,000 WhatsApp messages at 80/s take 100 s: a chat counts as inside its window only if it stays open
    assert window_cutoff(limits, START, 8000) == START - timedelta(hours=24) + timedelta(seconds=100)


@pytest.mark.parametrize("seconds,text", [(0.2, "segera (kurang dari 1 detik)"), (20, "20 detik"),
                                          (125, "2 menit 5 detik"), (3600, "1 jam"), (3725, "1 jam 2 menit"),
                                          (90_000, "1 hari 1 jam"), (2 * 86400 + 59, "2 hari")])
def test_duration_text(seconds, text):
    assert duration(seconds) == text


def test_numbers_use_the_indonesian_separator():
    assert number(100_000) == "100.000" and number(250) == "250"


def test_limits_come_from_the_channel_settings():
    from types import SimpleNamespace

    from bot.broadcast.settings import BroadcastSettings
    from bot.broadcast.tier import limits_for
    from bot.channels.settings import ChannelSettings

    def config(**whatsapp):
        return SimpleNamespace(channels=ChannelSettings.model_validate({"whatsapp": whatsapp}),
                               broadcast=BroadcastSettings())

    limits = limits_for(config())
    assert limits.rates == {"telegram": 30, "whatsapp": 80} and limits.tier == 250 and limits.window_hours == 24
    assert limits.rates.get("webchat") is None  # web chat: no platform limit
    limits = limits_for(config(messaging_tier="unlimited", messages_per_second=20))
    assert limits.tier is None and limits.rates["whatsapp"] == 20  # the number's throughput caps the broadcast
    with pytest.raises(ValueError):
        config(messaging_tier=300)
