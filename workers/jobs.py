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
    from inbox.services import delivery

    job = get_current_job()
    final = job is None or not job.retries_left
    with _get_app().app_context():
        status = delivery.deliver(message_id, final_attempt=final)
        delivery.deliver_waiting()  # the texts queued behind it, in this job
        return status


def sweep() -> dict:
    """Every minute: webhooks a dead web process held but never processed, texts left
    behind by a dead worker or a Redis outage, and long inbound texts whose missing part
    never came."""
    from inbox.services import hook_delivery, inbound, intake, outbox

    with _get_app().app_context():
        webhooks = intake.drain()
        intake.prune()
        result = outbox.sweep_outbox()
        flushed = inbound.flush_stale_parts()
        hook_delivery.sweep()
        return {**result.__dict__, "incomplete_texts": flushed, "webhooks": webhooks}


def send_reminders() -> dict:
    from inbox.services import reminders

    with _get_app().app_context():
        return reminders.send_due().__dict__


def release_number(number_id: int) -> str:
    from inbox.services import inbox_settings

    with _get_app().app_context():
        return inbox_settings.release(number_id)


def charge_month() -> int:
    from inbox.services import billing

    with _get_app().app_context():
        return billing.charge_month()


def send_email(to: str, subject: str, text: str, html: str) -> None:
    """One email (a password link) over SMTP; raises so RQ retries with backoff."""
    from inbox.services import mail

    with _get_app().app_context():
        mail.deliver(to, subject, text, html)


def request_password_reset(email: str, ip: str | None = None, user_agent: str | None = None):
    """ "Forgot password?": issue and send the link if the email has a login (see
    services.links.request_reset); the web request only queued this."""
    from inbox.services import links

    with _get_app().app_context():
        return links.request_reset(email, ip, user_agent)


def import_csv(import_id: int) -> dict:
    """Patients › Import: the rows (patients or appointments) of one uploaded CSV, in bulk
    batches."""
    from inbox.services import imports

    with _get_app().app_context():
        return imports.run(import_id)


def deliver_webhooks() -> dict:
    """Event webhooks out: every due delivery, signed; the next run is queued for the
    next retry (services.hook_delivery)."""
    from inbox.services import hook_delivery

    with _get_app().app_context():
        return hook_delivery.deliver_due().__dict__
