"""A local, wire-compatible stand-in for Vonage's SMS and Numbers REST APIs, plus a
patient-phone page that texts the practice through signed inbound webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import socket
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests
from flask import Flask, jsonify, redirect, render_template, request, url_for

from ..services import segments
from .state import Fault, SandboxState, inventory

STATIC = Path(__file__).resolve().parent.parent.parent / "static"


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


def _now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def create_sandbox_app(state: SandboxState) -> Flask:
    app = Flask(
        __name__,
        template_folder="templates",
        static_folder=str(STATIC),
        static_url_path="/static",
    )
    app.config["SANDBOX"] = state

    # ---- Vonage's REST API --------------------------------------------------------------

    def params() -> dict[str, str]:
        data = request.args.to_dict()
        if request.is_json:
            data.update({k: str(v) for k, v in (request.get_json(silent=True) or {}).items()})
        else:
            data.update(request.form.to_dict())
        return data

    def authenticated(data: dict[str, str]) -> bool:
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

    @app.before_request
    def _record():
        if not request.path.startswith(("/sms/", "/number/", "/account/")):
            return None
        data = params()
        state.record_request(request.method, request.path, data)
        if not authenticated(data):
            return jsonify({"type": "unauthorized", "title": "Invalid credentials"}), 401
        return None

    @app.post("/sms/json")
    def sms_send():
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
                    "at": _now_stamp(),
                }
            )
        state.save()
        if callback and state.receipt_status != "none":
            state.receipt_sent()
            threading.Thread(
                target=_send_receipts,
                args=(state, callback, reply, sender, data.get("client-ref")),
                daemon=True,
            ).start()
        return jsonify({"message-count": str(len(reply)), "messages": reply})

    @app.get("/number/search")
    def number_search():
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

    @app.post("/number/buy")
    def number_buy():
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

    @app.post("/number/cancel")
    def number_cancel():
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

    @app.post("/number/update")
    def number_update():
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

    @app.get("/account/numbers")
    def account_numbers():
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

    # ---- the patient phone -----------------------------------------------------------------

    def phones() -> list[tuple[str, str]]:
        with state.lock:
            known = dict(state.phonebook)
            for m in state.messages:
                other = m["to"] if m["direction"] == "to_phone" else m["from"]
                known.setdefault(other, "")
        return sorted(known.items(), key=lambda kv: (kv[1] == "", kv[1], kv[0]))

    def conversation(phone: str, practice: str) -> list[dict]:
        with state.lock:
            return [m for m in state.messages if {m["from"], m["to"]} == {phone, practice}]

    @app.get("/")
    def phone_page():
        phone = request.args.get("phone", "").removeprefix("+")
        practice = request.args.get("practice", "") or next(iter(sorted(state.owned)), "")
        return render_template(
            "phone.html",
            phones=phones(),
            owned=sorted(state.owned),
            phone=phone,
            practice=practice,
            conversation=conversation(phone, practice) if phone and practice else [],
            flash=request.args.get("flash", ""),
            name=state.phonebook.get(phone, ""),
        )

    @app.get("/conversation")
    def phone_conversation():
        phone = request.args.get("phone", "").removeprefix("+")
        practice = request.args.get("practice", "")
        return render_template("_conversation.html", conversation=conversation(phone, practice))

    @app.post("/send")
    def phone_send():
        phone = "".join(ch for ch in request.form.get("phone", "") if ch.isdigit())
        practice = request.form.get("practice", "")
        text = request.form.get("text", "").strip()
        if not phone or not practice or not text:
            flash = "Pick a phone and a practice number, and write something."
        else:
            status = send_inbound(state, phone, practice, text)
            flash = (
                "" if status == 200 else f"The practice's webhook answered {status or 'nothing'}"
            )
        return redirect(url_for("phone_page", phone=phone, practice=practice, flash=flash))

    # ---- control API for tests and the dev runner -----------------------------------------

    @app.get("/_sandbox/state")
    def control_state():
        with state.lock:
            return jsonify(
                owned=state.owned,
                messages=state.messages,
                requests=state.requests,
                phonebook=state.phonebook,
            )

    @app.post("/_sandbox/reset")
    def control_reset():
        """Back to how it started (the tests' stacks reuse one sandbox process)."""
        state.reset()
        state.save()
        return jsonify(ok=True)

    @app.post("/_sandbox/phonebook")
    def control_phonebook():
        entries = request.get_json(force=True) or {}
        with state.lock:
            state.phonebook.update({str(k).removeprefix("+"): str(v) for k, v in entries.items()})
        state.save()
        return jsonify(ok=True)

    @app.post("/_sandbox/fault")
    def control_fault():
        """The next call to `path` fails (or is slow) the way `kind` says (tests of a real
        browser against a sandbox in its own process)."""
        data = request.get_json(force=True) or {}
        with state.lock:
            state.faults.append(
                Fault(kind=data["kind"], path=data["path"], seconds=float(data.get("seconds", 0)))
            )
        return jsonify(ok=True)

    @app.post("/_sandbox/inbound")
    def control_inbound():
        data = request.get_json(force=True) or {}
        status = send_inbound(
            state,
            str(data["from"]).removeprefix("+"),
            str(data["to"]).removeprefix("+"),
            data["text"],
            url=data.get("url"),
        )
        return jsonify(status=status)

    @app.errorhandler(404)
    def _not_found(_e):
        return jsonify({"type": "not-found"}), 404

    return app


def _send_receipts(
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
                "message-timestamp": _now_stamp(),
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
                "at": _now_stamp(),
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
            "message-timestamp": _now_stamp(),
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
