"""The sandbox's stand-in for Vonage's REST API: SMS (/sms/json), Numbers (search, buy,
cancel, update, the account's numbers), Basic or key-and-secret auth, the real response
shapes and error codes, and the faults tests ask for."""

from __future__ import annotations

import base64
import socket
import threading
import time

from flask import Blueprint, jsonify, request

from ..services import segments
from .state import Fault, current_state, inventory
from .webhooks import deliver_webhook, now_stamp, send_receipts

bp = Blueprint("vonage", __name__)


def params() -> dict[str, str]:
    data = request.args.to_dict()
    if request.is_json:
        data.update({k: str(v) for k, v in (request.get_json(silent=True) or {}).items()})
    else:
        data.update(request.form.to_dict())
    return data


def authenticated(data: dict[str, str]) -> bool:
    state = current_state()
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            key, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
    else:
        key, secret = data.get("api_key", ""), data.get("api_secret", "")
    return key == state.api_key and secret == state.api_secret


def apply_fault(path: str):
    state = current_state()
    fault = state.take_fault(path)
    if fault is None:
        return None
    if fault.kind == "timeout":
        time.sleep(fault.seconds or 3)
        return None  # answers, but after the client gave up
    if fault.kind == "drop":
        sock = request.environ.get("werkzeug.socket")
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        return ("", 500)
    if fault.kind == "http429":
        return jsonify({"type": "throttled", "title": "Too Many Requests"}), 429
    if fault.kind == "http503":
        return "Service Unavailable", 503
    if fault.kind == "http500":
        return jsonify({"error": "internal"}), 500
    return fault  # handled by the endpoint (throttle, sold, error)


@bp.before_app_request
def _record():
    """Every call to Vonage's paths is recorded, and answered 401 without the account's
    key (an unknown path or method too, before its 404 or 405, as Vonage does)."""
    if not request.path.startswith(("/sms/", "/number/", "/account/")):
        return None
    state = current_state()
    data = params()
    state.record_request(request.method, request.path, data)
    if not authenticated(data):
        return jsonify({"type": "unauthorized", "title": "Invalid credentials"}), 401
    return None


@bp.post("/sms/json")
def sms_send():
    state = current_state()
    fault = apply_fault("/sms/json")
    if fault is not None and not isinstance(fault, Fault):
        return fault
    data = params()
    to, sender, text = data.get("to", ""), data.get("from", ""), data.get("text", "")

    def error(status: str, words: str):
        return jsonify(
            {"message-count": "1", "messages": [{"status": status, "error-text": words}]}
        )

    if isinstance(fault, Fault) and fault.kind == "throttle":
        return error("1", "Throughput Rate Exceeded - please wait [ 1000 ] and retry")
    if not to or not sender or not text:
        return error("2", "Missing to, from or text")
    if not to.isdigit() or not sender.isdigit() or to.startswith("+"):
        return error("3", "Invalid to or from: digits only")
    if state.latency:
        time.sleep(state.latency)
    if sender not in state.owned and sender not in state.shared_senders:
        return error("15", "Illegal Sender Address - rejected")
    if isinstance(fault, Fault) and fault.kind == "error":
        return error("7", "Number barred")
    parts = segments.split(text)
    callback = data.get("callback") or state.default_status_url
    reply = [
        {
            "to": to,
            "message-id": state.next_id(),
            "status": "0",
            "remaining-balance": "10.0",
            "message-price": "0.0079",
            "network": "310260",
            **({"client-ref": data["client-ref"]} if data.get("client-ref") else {}),
        }
        for _ in parts
    ]
    with state.lock:
        state.messages.append(
            {
                "id": reply[0]["message-id"],
                "part_ids": [r["message-id"] for r in reply],
                "direction": "to_phone",
                "from": sender,
                "to": to,
                "text": text,
                "parts": len(parts),
                "type": data.get("type", "text"),
                "client_ref": data.get("client-ref"),
                "at": now_stamp(),
            }
        )
    state.save()
    if callback and state.receipt_status != "none":
        state.receipt_sent()
        threading.Thread(
            target=send_receipts,
            args=(state, callback, reply, sender, data.get("client-ref")),
            daemon=True,
        ).start()
    return jsonify({"message-count": str(len(reply)), "messages": reply})


@bp.get("/number/search")
def number_search():
    state = current_state()
    fault = apply_fault("/number/search")
    if fault is not None and not isinstance(fault, Fault):
        return fault
    data = params()
    pattern = data.get("pattern", "")
    if data.get("country", "US") != "US":
        return jsonify({"count": 0, "numbers": []})
    area = pattern[1:4] if pattern.startswith("1") else ""
    taken = set(state.owned)
    found = [n for n in inventory(area) if n not in taken and n.startswith(pattern)]
    size = int(data.get("size", 100) or 100)
    numbers = [
        {
            "country": "US",
            "msisdn": n,
            "type": "mobile-lvn",
            "cost": "0.90",
            "features": ["SMS", "VOICE"],
        }
        for n in found[:size]
    ]
    if not numbers:
        return jsonify({"count": 0})
    return jsonify({"count": len(found), "numbers": numbers})


def number_error(code: str, label: str, http_status: int = 200):
    return jsonify({"error-code": code, "error-code-label": label}), http_status


@bp.post("/number/buy")
def number_buy():
    state = current_state()
    fault = apply_fault("/number/buy")
    if fault is not None and not isinstance(fault, Fault):
        return fault
    msisdn = params().get("msisdn", "")
    area = msisdn[1:4]
    with state.lock:
        if (isinstance(fault, Fault) and fault.kind == "sold") or msisdn in state.owned:
            return number_error("420", "method failed", 420)
        if msisdn not in inventory(area):
            return number_error("420", "method failed", 420)
        state.owned[msisdn] = {"country": params().get("country", "US"), "moHttpUrl": None}
    state.save()
    return number_error("200", "success")


@bp.post("/number/cancel")
def number_cancel():
    state = current_state()
    fault = apply_fault("/number/cancel")
    if fault is not None and not isinstance(fault, Fault):
        return fault
    msisdn = params().get("msisdn", "")
    with state.lock:
        if msisdn not in state.owned:
            return number_error("420", "method failed", 420)
        del state.owned[msisdn]
    state.save()
    return number_error("200", "success")


@bp.post("/number/update")
def number_update():
    state = current_state()
    fault = apply_fault("/number/update")
    if fault is not None and not isinstance(fault, Fault):
        return fault
    if isinstance(fault, Fault) and fault.kind == "error":
        return number_error("420", "method failed", 420)
    data = params()
    msisdn = data.get("msisdn", "")
    with state.lock:
        if msisdn not in state.owned:
            return number_error("420", "method failed", 420)
        if "moHttpUrl" in data:
            url = data["moHttpUrl"]
            # Vonage checks the URL answers 200 to a plain GET before saving it.
            if url and deliver_webhook(url, {}, "GET") != 200:
                return number_error("420", "moHttpUrl did not answer 200", 420)
            state.owned[msisdn]["moHttpUrl"] = url or None
    state.save()
    return number_error("200", "success")


@bp.get("/account/numbers")
def account_numbers():
    state = current_state()
    with state.lock:
        numbers = [
            {
                "country": v["country"],
                "msisdn": k,
                "moHttpUrl": v["moHttpUrl"],
                "type": "mobile-lvn",
                "features": ["SMS", "VOICE"],
            }
            for k, v in sorted(state.owned.items())
        ]
    if not numbers:
        return jsonify({"count": 0})
    return jsonify({"count": len(numbers), "numbers": numbers})
