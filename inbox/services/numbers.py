"""Inbox numbers at the carrier: make sure a number is ours and points at our webhook."""

from __future__ import annotations

from flask import current_app

from .. import carrier
from ..models import InboxNumber
from .messaging import carrier_settings


def inbound_webhook_url() -> str:
    return current_app.config["PUBLIC_BASE_URL"] + "/webhooks/vonage/inbound"


def connect(number: InboxNumber) -> None:
    """Own the number at the carrier (buying it if needed) and point its inbound webhook
    here. Safe to repeat. Raises carrier.CarrierError."""
    settings = carrier_settings()
    owned = {n.e164 for n in carrier.owned_numbers(settings)}
    if number.e164 not in owned:
        carrier.buy_number(settings, e164=number.e164, country=number.country)
    carrier.update_number(
        settings, e164=number.e164, country=number.country, mo_http_url=inbound_webhook_url()
    )
