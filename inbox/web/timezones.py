"""The timezone a time is shown in when it has no clinic of its own."""

from __future__ import annotations

from flask import g

from ..services.audit import account_timezone


def account_tz(account_id: int) -> str:
    """The account's timezone for times with no clinic of their own (a setting, a bill, an
    unknown sender's conversation), read once per request."""
    known = g.setdefault("account_tz", {})
    if account_id not in known:
        known[account_id] = account_timezone(account_id)
    return known[account_id]
