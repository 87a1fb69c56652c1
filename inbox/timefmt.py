"""Times for people: stored in UTC, shown in the clinic's timezone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "America/New_York"


def _zone(tz: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz or DEFAULT_TIMEZONE)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def local(dt: datetime | None, tz: str | None = None) -> datetime | None:
    if dt is None:
        return None
    return dt.astimezone(_zone(tz))


def list_time(dt: datetime | None, tz: str | None = None) -> str:
    """9:41 AM today, 'Tue' this week, 'Nov 3' before that."""
    if dt is None:
        return ""
    value = local(dt, tz)
    now = datetime.now(UTC).astimezone(value.tzinfo)
    if value.date() == now.date():
        return value.strftime("%-I:%M %p")
    if now - value < timedelta(days=6):
        return value.strftime("%a")
    return value.strftime("%b %-d")


def clock(dt: datetime | None, tz: str | None = None) -> str:
    return local(dt, tz).strftime("%-I:%M %p") if dt else ""


def day_label(dt: datetime | None, tz: str | None = None) -> str:
    if dt is None:
        return ""
    value = local(dt, tz)
    today = datetime.now(UTC).astimezone(value.tzinfo).date()
    if value.date() == today:
        return "Today"
    if value.date() == today - timedelta(days=1):
        return "Yesterday"
    return value.strftime("%A, %B %-d")


def long_time(dt: datetime | None, tz: str | None = None) -> str:
    """'Thu, Dec 3, 2026 at 3:00 PM'."""
    if dt is None:
        return ""
    value = local(dt, tz)
    return f"{value:%a, %b} {value.day}, {value.year} at {value:%-I:%M %p}"
