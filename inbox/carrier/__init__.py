"""Vonage, behind one door. Nothing outside this package imports `vonage`."""

from .client import (
    AvailableNumber,
    CarrierSettings,
    OwnedNumber,
    SendResult,
    buy_number,
    cancel_number,
    owned_numbers,
    search_numbers,
    send_sms,
    sign,
    update_number,
    verify_signature,
)
from .errors import CarrierError, NumberUnavailable
from .wire import RECEIPT_ERRORS, from_wire, parse_timestamp, to_wire

__all__ = [
    "AvailableNumber", "CarrierError", "CarrierSettings", "NumberUnavailable", "OwnedNumber",
    "RECEIPT_ERRORS", "SendResult", "buy_number", "cancel_number", "from_wire",
    "owned_numbers", "parse_timestamp", "search_numbers", "send_sms", "sign", "to_wire",
    "update_number", "verify_signature",
]  # fmt: skip
