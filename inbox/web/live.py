"""/ws: one websocket per browser tab. On connect it gets the badge; then, for every event
of its account, the fragments its page needs (badge, counts, the row, the message bubble,
the status chip) as htmx out-of-band swaps, filtered to what its user may see."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Blueprint, Flask, abort, current_app, g, render_template, request, session
from flask_login import current_user
from simple_websocket import ConnectionClosed
from sqlalchemy import select

from .. import events
from ..extensions import db, sock
from ..models import Conversation, Message, User, get_scoped
from ..services import conversations as convs
from ..services import page_cache, sessions
from ..services.access import uses_inbox, visible_clinics
from ..services.conversations import Filters
from . import security
from .conversations import composer_context
from .guards import INBOX, access

bp = Blueprint("live", __name__)
log = logging.getLogger(__name__)

# "Try again later": htmx's ws extension reconnects on it (it does not on 1000/1008).
SESSION_RECHECK = 1013
# The session was ended on the server (app.js tells the user; no reconnect).
SIGNED_OUT = 4401
# How long a socket waits for its process's first subscription (beyond it, it resyncs
# then): as long as the listener waits for Redis to confirm it. A shorter wait left a window
# (confirmed between the two) in which a socket went on unheard and a text's alert was lost.
LISTENING_WITHIN_SECONDS = events.Listener.CONFIRM_WITHIN_SECONDS


@bp.before_request
def handshake_guard():
    """Refuse the handshake (before any upgrade) to a user who does not use the Inbox
    (services/access.py: the privilege, checked first by @access(INBOX) on the route, and
    the Inbox on), and to pages of another origin."""
    if not uses_inbox(current_user):
        abort(403)
    if not _same_origin(request.headers.get("Origin", ""), request.host):
        abort(403)


def _same_origin(origin: str, host_header: str) -> bool:
    """The page that opens the socket must be ours (no cross-site websocket hijacking)."""
    if not origin:
        return False
    parts = urlsplit(origin)
    host, _, port = host_header.partition(":")
    default = 443 if parts.scheme == "https" else 80
    return parts.hostname == host.lower() and (not port or int(port) == (parts.port or default))


class SignedOut(PermissionError):
    """The session this socket was opened with was ended on the server."""


class LiveClient:
    """One open tab: who it is, what it shows, and how to reach it."""

    def __init__(self, ws, app: Flask, user_id: int, account_id: int, base_url: str) -> None:
        self.ws = ws
        self.app = app
        self.user_id = user_id
        self.account_id = account_id
        self.base_url = base_url
        self.path = "/"
        self.query: dict[str, str] = {}
        self.visible = True
        self.lock = threading.Lock()
        self.expires_at = float("inf")  # monotonic time; set from the session at handshake
        self.session_generation: object = None  # services.sessions: ended sessions
        # Events that came before the page told what it shows (None: released). Rendered
        # for "/" they reached the badge only, and a text arriving as the page opened never
        # showed in its list.
        self.held: list[dict[str, Any]] | None = []
        self.held_lock = threading.Lock()
        self.page_told = False
        self.released_for_default = False  # held events went out for "/" (page too slow)
        # The account's page generation when this socket began to listen (page_cache).
        self.listening_since: str | None = None

    # -- what the page shows -----------------------------------------------------------
    # A page tells what it shows as its socket opens; what came before waits this long for
    # it (a slow page gets it rendered for "/", then reloads its list when it does tell).
    TELL_WITHIN_SECONDS = 1.0
    HELD_MAX = 100  # events held for a page that has not told; beyond, it reloads its list

    def update(self, raw: str) -> None:
        try:
            state = json.loads(raw)
        except ValueError:
            return
        if not isinstance(state, dict):
            return
        path = str(state.get("path", "/"))[:200]
        self.path = path if path.startswith("/") else "/"
        self.query = {
            k: v[-1] for k, v in parse_qs(str(state.get("search", "")).lstrip("?")).items()
        }
        self.visible = bool(state.get("visible", True))
        if not self.page_told:
            self.page_told = True
            # The page carries the generation it was rendered under: another one when this
            # socket began to listen means a change came between, which reached no socket.
            rendered_under = state.get("generation")
            missed = bool(rendered_under) and rendered_under != self.listening_since
            if missed or self.released_for_default:
                self.hold_or_deliver(events.resync())
            self.release()

    def release(self) -> bool:
        """The page has told what it shows (or was given time to): what was held goes out,
        in order; from now on events go out as they come. True if anything went out."""
        sent = False
        while True:
            with self.held_lock:
                if not self.held:
                    self.held = None
                    return sent
                waiting, self.held = self.held, []
            for event in waiting:
                sent = True
                try:
                    self.deliver(event)
                except Exception:  # noqa: BLE001 - as the listener does: the rest still go
                    log.exception("live delivery failed")

    def hold(self, event: dict[str, Any]) -> bool:
        """Hold the event until the page has told what it shows (False: it has)."""
        with self.held_lock:
            if self.held is None:
                return False
            if len(self.held) >= self.HELD_MAX:
                self.held = [events.resync()]
            self.held.append(event)
            return True

    def hold_or_deliver(self, event: dict[str, Any]) -> None:
        if not self.hold(event):
            self.deliver(event)

    def open_conversation_id(self) -> int | None:
        parts = self.path.strip("/").split("/")
        if len(parts) >= 3 and parts[0] == "inbox" and parts[1] == "c" and parts[2].isdigit():
            return int(parts[2])
        return None

    def on_inbox(self) -> bool:
        return self.path == "/inbox" or self.path.startswith("/inbox/c/")

    # -- sending -------------------------------------------------------------------------
    def send(self, html: str) -> None:
        with self.lock:
            self.ws.send(html)

    def render(self, event: dict[str, Any] | None) -> str | None:
        """The fragments for one event (None: the badge only, as on connect)."""
        with self.app.test_request_context(self.path, base_url=self.base_url):
            user = db.session.get(User, self.user_id)
            if user is None or not sessions.is_current(user, self.session_generation):
                raise SignedOut("session ended")
            if not uses_inbox(user):
                raise PermissionError("no longer allowed")
            g._login_user = user  # templates see this tab's user
            try:
                return self._render(user, event)
            finally:
                db.session.remove()

    def _render(self, user: User, event: dict[str, Any] | None) -> str | None:
        f = Filters.from_args(self.query, user) if self.on_inbox() else None
        ctx: dict[str, Any] = {"f": f, "live": True, "rows": [], "bubbles": [], "notice": None}
        kind = (event or {}).get("type")
        if kind == events.ACCESS and event.get("user_id") not in (None, user.id):
            return None  # another teammate's privileges
        if kind in (events.RESYNC, events.ACCESS):
            ctx["resync"] = True  # the list again: its clinics may have changed
        ids = (event or {}).get("conversation_ids") or (
            [event["conversation_id"]] if event and event.get("conversation_id") else []
        )
        open_id = self.open_conversation_id()
        # STOP / START: the open conversation's banner and composer change with it.
        ctx["consent"] = kind == events.CONSENT and open_id in ids and self.on_inbox()
        visible_ids = []
        for cid in ids:
            conv = convs.get_visible(user, cid)
            if conv is None:
                continue  # not this user's to see: no row, no bubble, no notice
            visible_ids.append(cid)
            if f is not None:
                belongs = convs.in_list(user, f, conv.id)
                if belongs:
                    action = "top" if kind == events.MESSAGE else "replace"
                else:
                    # The tab reading this conversation keeps its row; others see it leave.
                    action = "replace" if open_id == conv.id else "remove"
                ctx["rows"].append((action, conv))
            if open_id == conv.id and self.on_inbox() and event.get("id"):
                message = get_scoped(Message, event["id"], user.account_id)
                if message is not None:
                    ctx["bubbles"].append(
                        ("append" if kind == events.MESSAGE else "replace", message)
                    )
            if kind == events.MESSAGE and event.get("direction") == "in":
                ctx["notice"] = {
                    "conversation": conv.id,
                    "first_name": conv.patient.first_name or "a patient",
                    "open": open_id == conv.id,
                    "seq": event.get("id"),
                }
        if event and ids and not visible_ids and kind != events.RESYNC:
            return None  # nothing here concerns this user
        if f is not None:
            ctx["counts"] = convs.tab_counts(user, f)
            ctx["menu"] = convs.menu_counts(user, f.clinic_id, f.tab)
            ctx["clinics"] = visible_clinics(user)
        ctx["open_conv"] = (
            db.session.scalar(select(Conversation).where(Conversation.id == open_id))
            if open_id
            else None
        )
        if ctx["consent"] and ctx["open_conv"] is not None:
            # The composer comes back whole: its saved replies and outstanding forms too.
            ctx.update(composer_context(ctx["open_conv"]))
        return render_template("inbox/_live.html", **ctx)

    def handle(self, event: dict[str, Any]) -> None:
        """An event of the account (the listener's thread)."""
        self.hold_or_deliver(event)

    def deliver(self, event: dict[str, Any]) -> None:
        if time.monotonic() >= self.expires_at:
            return  # signed out by now (idle): nothing more for this tab
        # Tabs of one user showing the same page get the same fragments: render once per
        # event for each such group (the listener hands one event dict to every tab).
        key = (self.user_id, self.session_generation, self.path, tuple(sorted(self.query.items())))
        cache = event.setdefault("_rendered", {})
        try:
            if key not in cache:
                cache[key] = self.render(event)
            html = cache[key]
        except PermissionError as refused:
            self.close_for(refused)
            return
        if html:
            with contextlib.suppress(ConnectionClosed):
                self.send(html)

    def connect(self) -> bool:
        """The badge, as the socket opens. The session may have ended since the handshake
        was let in: then it closes as it would at any later event (False)."""
        try:
            html = self.render(None)
        except PermissionError as refused:
            self.close_for(refused)
            return False
        self.send(html or "")
        return True

    def close_for(self, refused: PermissionError) -> None:
        if isinstance(refused, SignedOut):
            # Logged out, or signed out everywhere: no reconnecting; the page says so.
            self.ws.close(reason=SIGNED_OUT, message="signed out")
        else:
            self.ws.close(reason=1008, message="Inbox access was removed")


@sock.route("/ws", bp=bp)
@access(INBOX)
def ws(ws):
    app = current_app._get_current_object()
    client = LiveClient(ws, app, current_user.id, current_user.account_id, request.host_url)
    # A socket cannot see later requests renew the session: it lives only as long as the
    # session it was opened with (see the loop below).
    client.expires_at = time.monotonic() + security.current_session_state().remaining
    client.session_generation = session.get(sessions.GENERATION)
    listener = events.listener(app)
    db.session.remove()  # a socket lives for hours: hold no DB connection while it waits
    listener.subscribe(client.account_id, client.handle)
    # The first socket of a process starts its listener: wait until Redis listens for it.
    if not listener.wait_ready(timeout=LISTENING_WITHIN_SECONDS):
        log.warning("a live socket opened before its process listened; it resyncs then")
    # Read after listening began: a change after this read reaches the socket (held).
    client.listening_since = page_cache.generation_label(client.account_id)
    try:
        if not client.connect():
            return
        while True:
            left = client.expires_at - time.monotonic()
            if left <= 0:
                # The session this socket was opened with has run out. Close with "try
                # again later": the page reconnects with its current cookie, which is
                # accepted if the user was active meanwhile and refused if not.
                ws.close(reason=SESSION_RECHECK, message="session check")
                break
            holding = client.held is not None
            data = ws.receive(timeout=min(left, client.TELL_WITHIN_SECONDS) if holding else left)
            if data is None:
                if ws.connected:
                    if holding and client.release():
                        client.released_for_default = True  # rendered for "/"
                    continue  # timed out: look at the clock again
                break
            client.update(data if isinstance(data, str) else data.decode(errors="replace"))
    finally:
        listener.unsubscribe(client.account_id, client.handle)
