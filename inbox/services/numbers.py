"""Inbox numbers: search, buy, connect, release, always through inbox/carrier."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select

from .. import carrier
from ..extensions import db
from ..models import NUMBER_ACTIVE, NUMBER_RELEASED, NUMBER_RELEASING, Account, InboxNumber, utcnow
from . import area_codes, phones

MAX_NEARBY_CODES = 8
WANTED = 12


def inbound_webhook_url() -> str:
    return current_app.config["PUBLIC_BASE_URL"] + "/webhooks/vonage/inbound"


@dataclass(frozen=True)
class Offer:
    e164: str
    area_code: str
    place: str

    @property
    def display(self) -> str:
        return phones.display(self.e164)


@dataclass
class SearchResult:
    area_code: str
    offers: list[Offer] = field(default_factory=list)
    nearby: bool = False  # none in the area code itself: these are from the same state
    error: str | None = None


class InvalidAreaCode(ValueError):
    pass


def validate_area_code(raw: str) -> str:
    code = "".join(ch for ch in (raw or "") if ch.isdigit())
    if not area_codes.AREA_CODE.match(code):
        raise InvalidAreaCode("Enter a 3-digit US area code, like 212.")
    if code not in area_codes.table():
        # Toll-free (800...), unassigned (999) or not a place: no local numbers, ever.
        raise InvalidAreaCode(
            f"{code} is not a US area code for a place. Enter the area code of your city, like 212."
        )
    return code


def released_by(account: Account) -> set[str]:
    """Numbers this account had before: never offered or accepted again."""
    return set(
        db.session.scalars(select(InboxNumber.e164).where(InboxNumber.account_id == account.id))
    )


def quarantined() -> set[str]:
    """Numbers any practice on this server gave up less than NUMBER_QUARANTINE_DAYS ago (or
    is giving up now): never offered to another practice yet, or that practice would
    receive the first one's patients' texts."""
    days = current_app.config["NUMBER_QUARANTINE_DAYS"]
    since = utcnow() - timedelta(days=days)
    return set(
        db.session.scalars(
            select(InboxNumber.e164).where(
                InboxNumber.status.in_((NUMBER_RELEASING, NUMBER_RELEASED)),
                or_(InboxNumber.released_at.is_(None), InboxNumber.released_at >= since),
            )
        )
    )


def search(account: Account, area_code: str) -> SearchResult:
    """Available local SMS numbers in an area code, else in nearby ones of the same state."""
    result = SearchResult(area_code=area_code)
    exclude = released_by(account) | quarantined()
    settings = carrier_settings()

    def offers_in(code: str) -> list[Offer]:
        found = carrier.search_numbers(settings, country="US", pattern="1" + code)
        place = area_codes.describe(code)
        return [Offer(n.e164, code, place) for n in found if n.e164 not in exclude]

    try:
        result.offers = offers_in(area_code)
        if not result.offers:
            result.nearby = True
            for code in area_codes.nearby(area_code)[:MAX_NEARBY_CODES]:
                result.offers.extend(offers_in(code))
                if len(result.offers) >= WANTED:
                    break
    except carrier.CarrierError as exc:
        result.error = (
            "We could not reach Vonage to list numbers. Nothing was bought; please try again "
            f"in a minute. ({exc.reason})"
        )
        result.offers = []
    return result


def buy_and_connect(e164: str, country: str = "US") -> None:
    """Buy the number and point its inbound webhook here. If the webhook cannot be set
    after retries, release the number again and raise. Raises carrier.CarrierError."""
    settings = carrier_settings()
    carrier.buy_number(settings, e164=e164, country=country)
    last: carrier.CarrierError | None = None
    for _attempt in range(3):
        try:
            carrier.update_number(
                settings, e164=e164, country=country, mo_http_url=inbound_webhook_url()
            )
            return
        except carrier.CarrierError as exc:
            last = exc
    try:
        carrier.cancel_number(settings, e164=e164, country=country)
    except carrier.CarrierError:
        current_app.logger.error("could not release a number after a failed connect")
    raise WebhookNotConnected(last.reason if last else "unknown error")


class WebhookNotConnected(carrier.CarrierError):
    """Bought, but Vonage would not point it at us; it was released again."""


def connect(number: InboxNumber) -> None:
    """Own the number at the carrier (buying it if needed) and point its inbound webhook
    here. Safe to repeat (used for the demo number). Raises carrier.CarrierError."""
    settings = carrier_settings()
    owned = {n.e164 for n in carrier.owned_numbers(settings)}
    if number.e164 not in owned:
        carrier.buy_number(settings, e164=number.e164, country=number.country)
    carrier.update_number(
        settings, e164=number.e164, country=number.country, mo_http_url=inbound_webhook_url()
    )


def release(number: InboxNumber) -> None:
    """Give the number back to Vonage. A number Vonage no longer lists as ours counts as
    released. Raises carrier.CarrierError (transient) for the job to retry."""
    settings = carrier_settings()
    try:
        carrier.cancel_number(settings, e164=number.e164, country=number.country)
    except carrier.CarrierError as exc:
        if exc.transient:
            raise
        owned = {n.e164 for n in carrier.owned_numbers(settings)}
        if number.e164 in owned:
            raise


def carrier_settings() -> carrier.CarrierSettings:
    return carrier.CarrierSettings.from_config(current_app.config)


def active_number(account_id: int) -> InboxNumber | None:
    return db.session.scalars(
        select(InboxNumber).where(
            InboxNumber.account_id == account_id, InboxNumber.status == NUMBER_ACTIVE
        )
    ).first()
