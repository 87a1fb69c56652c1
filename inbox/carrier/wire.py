"""Wire <-> domain: Vonage speaks digits-only numbers and its own status codes."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_DIGITS = re.compile(r"^[1-9]\d{6,14}$")
# Vonage's usual form, read without strptime (a tenth of its cost; every inbound text).
_STAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)")


def to_wire(e164: str) -> str:
    """'+14155550100' -> '14155550100'."""
    digits = e164.removeprefix("+")
    if not _DIGITS.match(digits):
        raise ValueError(f"not an E.164 number: {e164!r}")
    return digits


def from_wire(digits: str) -> str:
    """'14155550100' -> '+14155550100'."""
    digits = (digits or "").strip().removeprefix("+")
    if not _DIGITS.match(digits):
        raise ValueError("not a carrier number")
    return "+" + digits


def parse_timestamp(value: str | None) -> datetime | None:
    """Vonage's 'YYYY-MM-DD HH:MM:SS' in UTC."""
    if not value:
        return None
    usual = _STAMP.fullmatch(value.strip())
    if usual:
        try:
            return datetime(*map(int, usual.groups()), tzinfo=UTC)
        except ValueError:
            return None  # out of range: no format below reads it either
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%y%m%d%H%M"):
        try:
            return datetime.strptime(value.strip(), fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


# SMS API response status -> (words for staff, transient?)
SEND_STATUS: dict[str, tuple[str, bool]] = {
    "1": ("Vonage is busy (throttled); trying again", True),
    "2": ("Vonage said a required field was missing", False),
    "3": ("Vonage rejected the request as invalid (check the phone number)", False),
    "4": ("Vonage rejected our API credentials", False),
    "5": ("Vonage had an internal error", True),
    "6": ("The phone number could not be routed (invalid or unsupported number)", False),
    "7": ("The phone number is barred by the carrier", False),
    "8": ("The Vonage account is barred", False),
    "9": ("The Vonage account is out of credit", False),
    "11": ("The Vonage account is not enabled for SMS over HTTP", False),
    "12": ("The message is too long", False),
    "14": ("Vonage rejected our request signature", False),
    "15": ("The sending number is not valid for SMS", False),
    "22": ("The mobile network is not supported", False),
    "23": ("The delivery-receipt URL was refused", False),
    "29": ("The destination is not allowed on a trial account", False),
    "32": ("Vonage rejected the signature settings", False),
    "33": ("The patient's number is deactivated and may not be texted", False),
}

# Delivery receipt err-code -> words for staff.
RECEIPT_ERRORS: dict[str, str] = {
    "0": "Delivered",
    "1": "Unknown error from the carrier",
    "2": "The phone was temporarily unreachable",
    "3": "The number is not active",
    "4": "The number is barred from receiving texts",
    "5": "The carrier's network failed",
    "6": "Blocked by the carrier's anti-spam filter",
    "7": "The phone's message storage is full",
    "8": "The carrier's network failed",
    "9": "The patient has opted out of texts from this number",
    "10": "The carrier rejected the message as illegal",
    "11": "The number could not be routed",
    "12": "The number is not reachable by SMS",
    "99": "The carrier reported a general error",
}
