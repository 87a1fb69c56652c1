from __future__ import annotations

from flask import Flask
from rq import get_current_job

_app: Flask | None = None


def _get_app() -> Flask:
    """One app per worker process, created on first use (after fork)."""
    global _app
    if _app is None:
        from inbox import create_app

        _app = create_app()
    return _app


def send_message(message_id: int) -> str:
    from inbox.services import messaging

    job = get_current_job()
    final = job is None or not job.retries_left
    with _get_app().app_context():
        return messaging.deliver(message_id, final_attempt=final)


def release_number(number_id: int) -> str:
    from inbox.services import inbox_settings

    with _get_app().app_context():
        return inbox_settings.release(number_id)


def charge_month() -> int:
    from inbox.services import billing

    with _get_app().app_context():
        return billing.charge_month()
