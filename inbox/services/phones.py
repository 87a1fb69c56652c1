"""Phone numbers: parsed and formatted by `phonenumbers`, never by hand."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

DEFAULT_REGION = "US"
_SMS_TYPES = {
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.VOIP,
}


class InvalidPhone(ValueError):
    """A number a person typed that is not a phone number we can text."""


def parse(raw: str, region: str = DEFAULT_REGION) -> phonenumbers.PhoneNumber:
    try:
        number = phonenumbers.parse((raw or "").strip(), region)
    except NumberParseException as exc:
        raise InvalidPhone(f"“{raw}” is not a phone number.") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"“{raw}” is not a valid phone number.")
    if number.extension:
        # A text cannot reach an extension: dropping it would text the main line.
        raise InvalidPhone(
            f"“{raw}” has an extension ({number.extension}): texts cannot reach one. "
            "Enter the number without it."
        )
    return number


def normalize(raw: str, region: str = DEFAULT_REGION) -> str:
    """Any common format -> E.164 ('+14155550100'); raises InvalidPhone."""
    return phonenumbers.format_number(parse(raw, region), PhoneNumberFormat.E164)


def mobile(raw: str, region: str = DEFAULT_REGION) -> tuple[str, str, bool]:
    """(E.164, national digits, can receive texts) from one parse, for bulk work such as
    an import: what normalize, national_digits and can_receive_sms say, at a third of the
    cost. Raises InvalidPhone as normalize does."""
    try:
        number = phonenumbers.parse((raw or "").strip(), region)
    except NumberParseException as exc:
        raise InvalidPhone(f"“{raw}” is not a phone number.") from exc
    kind = phonenumbers.number_type(number)  # UNKNOWN exactly when the number is not valid
    if kind == PhoneNumberType.UNKNOWN:
        raise InvalidPhone(f"“{raw}” is not a valid phone number.")
    if number.extension:
        raise InvalidPhone(f"“{raw}” has an extension ({number.extension}).")
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return e164, str(number.national_number), kind in _SMS_TYPES


def can_receive_sms(e164: str) -> bool:
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return False
    return phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in _SMS_TYPES


def display(e164: str | None) -> str:
    """'+12125550134' -> '(212) 555-0134' (international format outside the US)."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return e164
    if number.country_code == 1:
        return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


def national_digits(e164: str) -> str:
    """'+12125550134' -> '2125550134', what staff type when they search."""
    try:
        return str(phonenumbers.parse(e164, None).national_number)
    except NumberParseException:
        return "".join(ch for ch in e164 if ch.isdigit())
