"""The sandbox's control API, for tests and the dev runner: its state, a reset, patient
names, a patient's text, and the next fault of a path."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from .state import Fault, current_state
from .webhooks import send_inbound

bp = Blueprint("control", __name__, url_prefix="/_sandbox")


@bp.get("/state")
def show_state():
    state = current_state()
    with state.lock:
        return jsonify(
            owned=state.owned,
            messages=state.messages,
            requests=state.requests,
            phonebook=state.phonebook,
        )


@bp.post("/reset")
def reset():
    """Back to how it started (the tests' stacks reuse one sandbox process)."""
    state = current_state()
    state.reset()
    state.save()
    return jsonify(ok=True)


@bp.post("/phonebook")
def phonebook():
    state = current_state()
    entries = request.get_json(force=True) or {}
    with state.lock:
        state.phonebook.update({str(k).removeprefix("+"): str(v) for k, v in entries.items()})
    state.save()
    return jsonify(ok=True)


@bp.post("/fault")
def fault():
    """The next call to `path` fails (or is slow) the way `kind` says (tests of a real
    browser against a sandbox in its own process)."""
    state = current_state()
    data = request.get_json(force=True) or {}
    with state.lock:
        state.faults.append(
            Fault(kind=data["kind"], path=data["path"], seconds=float(data.get("seconds", 0)))
        )
    return jsonify(ok=True)


@bp.post("/inbound")
def inbound():
    state = current_state()
    data = request.get_json(force=True) or {}
    status = send_inbound(
        state,
        str(data["from"]).removeprefix("+"),
        str(data["to"]).removeprefix("+"),
        data["text"],
        url=data.get("url"),
    )
    return jsonify(status=status)
