"""Event webhooks out, the endpoints: a practice's URLs, checked when saved (https in
production, public addresses only: server-side request forgery), their secrets, their
delivery log, a test event and a resend. The views (web.integrations) and the API
(/api/v1/webhook-endpoints) call these; the events are services.event_hooks'.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from flask import current_app

from ..extensions import db
from ..models import (
    EVENT_TYPES,
    Account,
    WebhookDelivery,
    WebhookEndpoint,
    get_scoped,
    scoped,
    utcnow,
)
from ..models.hooks import EVENT_TEST
from .event_hooks import add_deliveries, new_webhook_id, payload_json, pending

LOG_PAGE = 50


class EndpointRefused(ValueError):
    """An endpoint's settings that cannot be saved; the message says why."""


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address carried inside an IPv6 one (mapped, 6to4, Teredo, NAT64) is
        # judged as itself: 2002:7f00:1:: reaches 127.0.0.1 through a 6to4 relay.
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is None and ip in _NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            ip = inner
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, resolve: bool = True) -> str:
    """The URL as it will be used, or EndpointRefused. In production (settings): https
    only, and every address the host resolves to must be public (no loopback, private,
    link-local or metadata addresses: server-side request forgery)."""
    cfg = current_app.config
    url = (url or "").strip()
    if not url:
        raise EndpointRefused("Enter the URL that should receive the events.")
    if len(url) > 2000:
        raise EndpointRefused("That URL is too long (2,000 characters at most).")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointRefused("Enter a full URL, starting with https://")
    if parts.username or parts.password:
        raise EndpointRefused("Leave the user name and password out of the URL.")
    if cfg.get("WEBHOOK_REQUIRE_HTTPS") and parts.scheme != "https":
        raise EndpointRefused("The URL must start with https:// (events carry patient data).")
    try:
        port = parts.port
    except ValueError:
        raise EndpointRefused("That URL's port is not a number.") from None
    if resolve and not cfg.get("WEBHOOK_ALLOW_PRIVATE"):
        check_host(parts.hostname, port or (443 if parts.scheme == "https" else 80))
    return url


def check_host(host: str, port: int) -> None:
    """Refuse a host that resolves to any non-public address (when saving; every try
    checks again, on the connection it makes: `public_addresses`)."""
    public_addresses(host, port)


def public_addresses(host: str, port: int, family: int = socket.AF_UNSPEC) -> list[str]:
    """The addresses `host` resolves to now, in the resolver's order; EndpointRefused if
    it resolves to none, or to any that is not public."""
    try:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise EndpointRefused(f"The host {host} could not be found.") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    private = [a for a in addresses if not is_public_address(a)]
    if not addresses or private:
        at = f" ({private[0]})" if private else ""
        raise EndpointRefused(
            f"The host {host} is a private or local address{at}; events go only to public ones."
        )
    return addresses


def _clean_events(events: Sequence[str]) -> str:
    chosen = [e for e in EVENT_TYPES if e in set(events)]
    if not chosen:
        raise EndpointRefused("Choose at least one event to send.")
    return ",".join(chosen)


def list_endpoints(account_id: int) -> list[WebhookEndpoint]:
    return list(
        db.session.scalars(scoped(WebhookEndpoint, account_id).order_by(WebhookEndpoint.id))
    )


def get_endpoint(account_id: int, endpoint_id: int | str) -> WebhookEndpoint | None:
    return get_scoped(WebhookEndpoint, endpoint_id, account_id)


def create_endpoint(
    account: Account, *, url: str, events: Sequence[str], include_text: bool = False
) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(
        account_id=account.id,
        url=check_url(url),
        events=_clean_events(events),
        include_text=bool(include_text),
        secret=new_secret(),
        enabled=True,
    )
    db.session.add(endpoint)
    db.session.commit()
    return endpoint


def update_endpoint(
    endpoint: WebhookEndpoint, *, url: str, events: Sequence[str], include_text: bool
) -> list[str]:
    """Save the endpoint's settings; what changed, in words (for the audit log)."""
    url = check_url(url)
    chosen = _clean_events(events)
    changes = []
    if url != endpoint.url:
        changes.append("URL")
    if chosen != endpoint.events:
        changes.append("events")
    if bool(include_text) != endpoint.include_text:
        changes.append("message text " + ("on" if include_text else "off"))
    endpoint.url, endpoint.events, endpoint.include_text = url, chosen, bool(include_text)
    db.session.commit()
    return changes


def delete_endpoint(endpoint: WebhookEndpoint) -> None:
    db.session.execute(
        WebhookDelivery.__table__.delete().where(WebhookDelivery.endpoint_id == endpoint.id)
    )
    db.session.delete(endpoint)
    db.session.commit()


def rotate_secret(endpoint: WebhookEndpoint) -> str:
    endpoint.secret = new_secret()
    db.session.commit()
    return endpoint.secret


def enable_endpoint(endpoint: WebhookEndpoint) -> None:
    endpoint.enabled = True
    endpoint.disabled_reason = endpoint.disabled_at = endpoint.failing_since = None
    db.session.commit()


def deliveries(endpoint: WebhookEndpoint, limit: int = LOG_PAGE) -> list[WebhookDelivery]:
    """The endpoint's delivery log, newest first."""
    return list(
        db.session.scalars(
            scoped(WebhookDelivery, endpoint.account_id)
            .where(WebhookDelivery.endpoint_id == endpoint.id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


def get_delivery(account_id: int, delivery_id: int | str) -> WebhookDelivery | None:
    return get_scoped(WebhookDelivery, delivery_id, account_id)


def send_test(endpoint: WebhookEndpoint) -> WebhookDelivery:
    """ "Send test event": one `webhook.test` delivery to this endpoint, sent by a job."""
    now = utcnow()
    payload = payload_json(EVENT_TEST, {"endpoint_id": endpoint.id}, now)
    row = pending(endpoint.account_id, endpoint.id, EVENT_TEST, new_webhook_id(), payload, now)
    return _committed(add_deliveries([row])[0])


def resend(delivery: WebhookDelivery) -> WebhookDelivery:
    """ "Resend": the same event (same `webhook-id`, so a receiver that has it already
    can tell) as a new delivery, sent by a job."""
    d = delivery
    row = pending(d.account_id, d.endpoint_id, d.event, d.webhook_id, d.payload, utcnow(),
                  d.message_id)  # fmt: skip
    return _committed(add_deliveries([row])[0])


def _committed(delivery_id: int) -> WebhookDelivery:
    db.session.commit()  # and the job is queued (add_deliveries)
    return db.session.get(WebhookDelivery, delivery_id)
