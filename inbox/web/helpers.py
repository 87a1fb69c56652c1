"""Template filters and globals shared by every page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from flask_login import current_user

from ..services import phones
from ..services.segments import MAX_SEGMENTS

STATUS_WORDS = {
    "queued": "Queued",
    "sending": "Sending…",
    "sent": "Sent",
    "delivered": "Delivered",
    "failed": "Failed",
    "unknown": "Not confirmed",
    "received": "Received",
}


def _zone(tz: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz or current_app.config.get("DEFAULT_TIMEZONE", "America/New_York"))
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


def register_template_helpers(app: Flask) -> None:
    app.jinja_env.filters["phone"] = phones.display
    app.jinja_env.filters["list_time"] = list_time
    app.jinja_env.filters["clock"] = clock
    app.jinja_env.filters["day_label"] = day_label
    app.jinja_env.globals["STATUS_WORDS"] = STATUS_WORDS
    app.jinja_env.globals["MAX_SEGMENTS"] = MAX_SEGMENTS

    @app.context_processor
    def nav_context():
        if not current_user.is_authenticated or not current_user.can_use_inbox:
            return {"nav_unread": None}
        if not current_user.account.inbox_enabled:
            return {"nav_unread": None}
        from ..services.conversations import unread_count

        return {"nav_unread": unread_count(current_user)}
