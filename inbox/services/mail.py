"""Email: password links, sent by RQ jobs through SMTP (Flask-Mailman), plain text and HTML.

With no MAIL_SERVER configured nothing is sent: whoever made the link is shown it to copy
(the CLI prints it), and the forgot-password flow logs it in development."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis
from flask import current_app, render_template
from flask_mailman import EmailMultiAlternatives
from rq import Retry

from ..broker import get_queue
from ..extensions import mail

log = logging.getLogger(__name__)

# A mail server that is down or refuses for a while: tried again for about an hour.
MAIL_RETRY = Retry(max=6, interval=[10, 30, 60, 300, 900, 1800])


def configured() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str


def render(template: str, to: str, subject: str, **context: object) -> Email:
    """templates/email/<template>.txt and .html, with the same context."""
    return Email(
        to=to,
        subject=subject,
        text=render_template(f"email/{template}.txt", subject=subject, **context),
        html=render_template(f"email/{template}.html", subject=subject, **context),
    )


def queue(email: Email) -> bool:
    """Hand the email to a worker, retried with backoff. False if Redis refused it."""
    try:
        get_queue().enqueue(
            "workers.jobs.send_email",
            email.to,
            email.subject,
            email.text,
            email.html,
            retry=MAIL_RETRY,
            result_ttl=0,  # the body holds a password link: keep it no longer than needed
            failure_ttl=24 * 3600,
        )
    except redis.RedisError:
        log.warning("could not queue an email (%s)", email.subject)
        return False
    return True


def deliver(to: str, subject: str, text: str, html: str) -> None:
    """The job: one email over SMTP, with the settings read now. Raises on failure (the job
    is retried)."""
    cfg = current_app.config
    connection = mail.get_connection(
        backend="smtp",
        host=cfg["MAIL_SERVER"],
        port=cfg["MAIL_PORT"],
        username=cfg.get("MAIL_USERNAME") or None,
        password=cfg.get("MAIL_PASSWORD") or None,
        use_tls=cfg.get("MAIL_USE_TLS", False),
        use_ssl=cfg.get("MAIL_USE_SSL", False),
        timeout=cfg.get("MAIL_TIMEOUT", 10),
    )
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=cfg["MAIL_DEFAULT_SENDER"],
        to=[to],
        connection=connection,
    )
    message.attach_alternative(html, "text/html")
    message.send()
    log.info("sent an email (%s)", subject)
