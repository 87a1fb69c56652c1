"""The sandbox's patient phone: pick a phone and a practice number, read their texts, and
text the practice (a signed inbound webhook, as from a real handset)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from .state import current_state
from .webhooks import send_inbound

bp = Blueprint("phone", __name__)


def phones() -> list[tuple[str, str]]:
    state = current_state()
    with state.lock:
        known = dict(state.phonebook)
        for m in state.messages:
            other = m["to"] if m["direction"] == "to_phone" else m["from"]
            known.setdefault(other, "")
    return sorted(known.items(), key=lambda kv: (kv[1] == "", kv[1], kv[0]))


def texts_between(phone: str, practice: str) -> list[dict]:
    state = current_state()
    with state.lock:
        return [m for m in state.messages if {m["from"], m["to"]} == {phone, practice}]


@bp.get("/")
def page():
    state = current_state()
    phone = request.args.get("phone", "").removeprefix("+")
    practice = request.args.get("practice", "") or next(iter(sorted(state.owned)), "")
    return render_template(
        "phone.html",
        phones=phones(),
        owned=sorted(state.owned),
        phone=phone,
        practice=practice,
        conversation=texts_between(phone, practice) if phone and practice else [],
        flash=request.args.get("flash", ""),
        name=state.phonebook.get(phone, ""),
    )


@bp.get("/conversation")
def conversation_part():
    phone = request.args.get("phone", "").removeprefix("+")
    practice = request.args.get("practice", "")
    return render_template("_conversation.html", conversation=texts_between(phone, practice))


@bp.post("/send")
def send():
    state = current_state()
    phone = "".join(ch for ch in request.form.get("phone", "") if ch.isdigit())
    practice = request.form.get("practice", "")
    text = request.form.get("text", "").strip()
    if not phone or not practice or not text:
        flash = "Pick a phone and a practice number, and write something."
    else:
        status = send_inbound(state, phone, practice, text)
        flash = "" if status == 200 else f"The practice's webhook answered {status or 'nothing'}"
    return redirect(url_for(".page", phone=phone, practice=practice, flash=flash))
