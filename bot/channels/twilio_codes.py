"""Twilio's WhatsApp error codes that decide what happens to a message (https://www.twilio.com/docs/api/errors).
Plain data, so the broadcast receipts read them without loading the twilio library (a channel that is off)."""
from __future__ import annotations

UNREACHABLE_CODES = {21211, 21214, 21610, 21612, 21614, 63003, 63024}  # invalid / unsubscribed / not on WhatsApp
OUTSIDE_WINDOW_CODES = {63016}  # free-form message outside the 24-hour window
RETRY_CODES = {20429, 63018, 63038}  # rate limited (account, sender, daily limit)
