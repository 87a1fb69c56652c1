"""What the sandbox sends the app, as Vonage does: signed delivery receipts and a patient's
inbound texts (long ones in concatenated parts)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from datetime import UTC, datetime

import requests

from ..services import segments
from .state import SandboxState


def sign_params(state: SandboxState, params: dict[str, str]) -> dict[str, str]:
    """Vonage's webhook signature: HMAC over '&key=value' pairs sorted by key."""
    signed = dict(params)
    signed.setdefault("timestamp", str(int(time.time())))
    hasher = hmac.new(
        state.signature_secret.encode(), digestmod=getattr(hashlib, state.signature_method)
    )
    for key in sorted(signed):
        value = str(signed[key]).replace("&", "_").replace("=", "_")
        hasher.update(f"&{key}={value}".encode())
    signed["sig"] = hasher.hexdigest()
    return signed


_webhooks = requests.Session()  # kept-alive connections to the app, shared by the threads
_webhooks.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=64))
_webhooks.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=64))
_webhooks.trust_env = False  # the app is local: no proxy lookups in the environment per post


def deliver_webhook(url: str, params: dict[str, str], method: str = "POST") -> int:
    """Send a webhook the way Vonage does; return the HTTP status (0 if unreachable).
    A kept-alive connection the app closed while idle is tried once more on a new one
    (webhooks are idempotent: the app drops the copy if the first one got through)."""
    for attempt in (1, 2):
        try:
            if method == "GET":
                r = _webhooks.get(url, params=params, timeout=10)
            elif method == "POST-JSON":
                r = _webhooks.post(url, json=params, timeout=10)
            else:
                r = _webhooks.post(url, data=params, timeout=10)
            return r.status_code
        except requests.ConnectionError:
            if attempt == 2:
                return 0
        except requests.RequestException:
            return 0
    return 0


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def send_receipts(
    state: SandboxState, url: str, parts: list[dict], sender: str, client_ref: str | None
) -> None:
    """The receipt of each part, after receipt_delay; counted in flight until posted."""
    try:
        time.sleep(state.receipt_delay)
        for part in parts:
            params = {
                "msisdn": part["to"],
                "to": sender,
                "network-code": "310260",
                "messageId": part["message-id"],
                "price": "0.0079",
                "status": state.receipt_status,
                "scts": datetime.now(UTC).strftime("%y%m%d%H%M"),
                "err-code": state.receipt_err_code,
                "message-timestamp": now_stamp(),
                "nonce": str(uuid.uuid4()),
            }
            if client_ref:
                params["client-ref"] = client_ref
            deliver_webhook(url, sign_params(state, params), "POST")
    finally:
        state.receipt_done()


def send_inbound(
    state: SandboxState, phone: str, practice: str, text: str, url: str | None = None
) -> int:
    """A patient texts the practice: post the (signed) inbound webhook(s) to the number's
    moHttpUrl. Long texts arrive as concatenated parts, as from a real handset."""
    with state.lock:
        owned = state.owned.get(practice)
        url = url or (owned or {}).get("moHttpUrl") or state.default_inbound_url
    if not url:
        return 0
    parts = segments.split(text)
    unicode = not segments.is_gsm7(text)
    ref = secrets.token_hex(2)
    status = 200
    with state.lock:
        state.messages.append(
            {
                "id": state.next_id(),
                "direction": "from_phone",
                "from": phone,
                "to": practice,
                "text": text,
                "at": now_stamp(),
            }
        )
    state.save()
    for i, part in enumerate(parts, start=1):
        params = {
            "msisdn": phone,
            "to": practice,
            "messageId": state.next_id(),
            "text": part,
            "type": "unicode" if unicode else "text",
            "keyword": (part.split() or [""])[0].upper(),
            "api-key": state.api_key,
            "message-timestamp": now_stamp(),
            "nonce": str(uuid.uuid4()),
        }
        if len(parts) > 1:
            params.update(
                {
                    "concat": "true",
                    "concat-ref": ref,
                    "concat-total": str(len(parts)),
                    "concat-part": str(i),
                }
            )
        code = deliver_webhook(url, sign_params(state, params), state.inbound_method)
        if code != 200:
            status = code
    return status
