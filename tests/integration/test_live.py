"""/ws: who may connect, and who hears what. Real websockets against the app served over
HTTP, events over real Redis pub/sub."""

import json
import socket
import time

import pytest
import requests
from simple_websocket import ConnectionError
from sqlalchemy import select

from inbox.extensions import db
from inbox.models import PLAN_ACCELERATOR, Account, InboxNumber, User
from inbox.sandbox import send_inbound
from inbox.web import live
from tests.conftest import WholeHandshakeClient, http_session, wait_for, ws_connect, ws_drain


def _refused(app, session, origin=None) -> bool:
    try:
        ws = ws_connect(app, session, origin)
    except ConnectionError:
        return True
    ws.close()
    return False


def test_staff_gets_the_badge_on_connect_and_live_messages(app, demo, sandbox):
    ws = ws_connect(app, http_session(app, "staff@glow.test"))
    first = ws.receive(timeout=5)
    assert 'id="inbox-badge"' in first and "hx-swap-oob" in first
    ws.send('{"path": "/inbox/c/1", "search": "?tab=unread", "visible": true}')
    time.sleep(0.2)
    send_inbound(sandbox.state, "19175550100", "12125550134", "Can I bring a friend?")
    got = "".join(ws_drain(ws, 2))
    assert "Can I bring a friend?" in got  # the bubble for the open conversation
    assert 'data-row="top"' in got and 'id="live-notice"' in got
    ws.close()


class _FirstReadLate:
    """A socket whose first read comes late, as on a busy machine: only once the server's
    first frame is there behind its 101, and the read takes both."""

    def __init__(self, sock) -> None:
        self.sock, self.first_read = sock, None

    def recv(self, size: int) -> bytes:
        if self.first_read is None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                _, _, frame = self.sock.recv(65536, socket.MSG_PEEK).partition(b"\r\n\r\n")
                if frame:
                    break
                time.sleep(0.02)
            self.first_read = self.sock.recv(size)
            return self.first_read
        return self.sock.recv(size)

    def __getattr__(self, name):
        return getattr(self.sock, name)


class _LateReader(WholeHandshakeClient):
    def handshake(self):
        self.sock = late = _FirstReadLate(self.sock)
        try:
            super().handshake()
        finally:
            self.sock = late.sock
        self.handshake_read = late.first_read


def test_the_first_frame_arrives_even_in_the_same_read_as_the_handshake(app, demo):
    """simple_websocket's client left a frame that came with the 101 unread until more data
    came (the CI failure of test_deactivate_signs_them_out_everywhere...): the tests' client
    keeps it."""
    ws = ws_connect(app, http_session(app, "staff@glow.test"), client_class=_LateReader)
    head, _, rest = ws.handshake_read.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101") and rest  # the frame came with it
    assert 'id="inbox-badge"' in (ws.receive(timeout=5) or "")
    ws.close()


def test_a_text_that_comes_before_the_page_tells_what_it_shows_reaches_its_list(
    app, demo, sandbox, monkeypatch
):
    """The page tells its path as its socket opens; a text in between waits for it. It was
    rendered for "/" (the badge only) and never showed in the list that had just opened."""
    monkeypatch.setattr(live.LiveClient, "TELL_WITHIN_SECONDS", 30)  # however slow this box
    ws = ws_connect(app, http_session(app, "staff@glow.test"))
    assert 'id="inbox-badge"' in ws.receive(timeout=5)
    send_inbound(sandbox.state, "19175550100", "12125550134", "Arrived as the page opened")
    assert wait_for(lambda: _stored("Arrived as the page opened"))
    time.sleep(0.3)  # published and heard: the socket has it, the page has not told yet
    ws.send('{"path": "/inbox", "search": "", "visible": true}')
    got = "".join(ws_drain(ws, 2))
    assert 'data-row="top"' in got and "Arrived as the page opened" in got
    assert 'id="count-unread"' in got  # and the tabs' counts
    ws.close()


def test_a_page_too_slow_to_tell_reloads_its_list_when_it_does(app, demo, sandbox, monkeypatch):
    """What was held goes out for "/" when the page takes too long to tell (the badge
    moves); when it does tell, it is told to reload its list, which shows the text."""
    monkeypatch.setattr(live.LiveClient, "TELL_WITHIN_SECONDS", 0.2)
    ws = ws_connect(app, http_session(app, "staff@glow.test"))
    assert 'id="inbox-badge"' in ws.receive(timeout=5)
    send_inbound(sandbox.state, "19175550100", "12125550134", "Before a slow page told")
    assert wait_for(lambda: _stored("Before a slow page told"))
    early = "".join(ws_drain(ws, 1))
    assert 'id="inbox-badge"' in early and 'data-row="top"' not in early  # for "/"
    ws.send('{"path": "/inbox", "search": "", "visible": true}')
    assert 'id="live-resync"' in "".join(ws_drain(ws, 2))
    ws.close()


def _stored(text: str) -> bool:
    from inbox.models import Message

    db.session.rollback()
    return db.session.scalar(select(Message.id).where(Message.body == text)) is not None


def test_a_page_rendered_before_a_change_is_told_to_reload_its_list(app, demo):
    """Between the page's render and its socket listening, a change reaches no one: the page
    carries the generation it was rendered under, and a socket that hears an old one is told
    to reload its list and conversation (live-resync)."""
    import re

    from inbox.services import page_cache

    s = http_session(app, "staff@glow.test")
    page = s.get(app.config["PUBLIC_BASE_URL"] + "/inbox", timeout=5).text
    rendered_under = re.search(r'data-live-generation="([^"]+)"', page).group(1)
    assert rendered_under == page_cache.generation_label(demo.id)

    def told(generation: str) -> str:
        ws = ws_connect(app, s)
        ws.receive(timeout=5)
        ws.send(json.dumps({"path": "/inbox", "search": "", "generation": generation}))
        got = "".join(ws_drain(ws, 1))
        ws.close()
        return got

    assert "live-resync" not in told(rendered_under)  # nothing changed since
    page_cache.replace({demo.id})  # something a list shows changed
    assert 'id="live-resync"' in told(rendered_under)


@pytest.mark.parametrize("email", ["frontdesk@glow.test", "admin@fresh.test"])
def test_handshake_refused_without_inbox(app, demo, email):
    assert _refused(app, http_session(app, email))


def test_handshake_refused_for_foreign_origin_and_anonymous(app, demo):
    assert _refused(app, http_session(app, "staff@glow.test"), origin="http://evil.example")
    assert _refused(app, requests.Session())


def test_another_account_hears_nothing(app, demo, sandbox):
    fresh = db.session.scalars(select(Account).where(Account.name == "Fresh Face Clinic")).one()
    fresh.plan, fresh.inbox_enabled = PLAN_ACCELERATOR, True
    db.session.add(InboxNumber(account_id=fresh.id, e164="+13125550100", status="active"))
    db.session.commit()
    ws = ws_connect(app, http_session(app, "admin@fresh.test"))
    assert 'id="inbox-badge"' in ws.receive(timeout=5)
    ws.send('{"path": "/inbox", "search": "", "visible": true}')
    send_inbound(sandbox.state, "19175550100", "12125550134", "Secret for Glow only")
    assert ws_drain(ws, 1.5) == []  # silence
    ws.close()


def test_privilege_removed_while_connected_closes_on_next_event(app, demo, sandbox):
    ws = ws_connect(app, http_session(app, "staff@glow.test"))
    ws.receive(timeout=5)
    user = db.session.scalars(select(User).where(User.email == "staff@glow.test")).one()
    user.privileges = []
    db.session.commit()
    send_inbound(sandbox.state, "19175550100", "12125550134", "After the change")
    got = ws_drain(ws, 3)  # this socket never tells its page: its events wait a second
    assert not any("After the change" in g for g in got)
    assert not ws.connected


def test_listener_stays_quiet_when_idle_and_resyncs_after_losing_redis(app):
    """A quiet evening is not a lost connection: no resync however long nothing happens
    (the shared client's 5 s read timeout must not apply to pub/sub). A connection that
    really drops makes every socket of every account resync once."""
    import redis

    from inbox import events

    heard: list[tuple[int, str]] = []
    listener = events.Listener(app)
    listener.subscribe(1, lambda e: heard.append((1, e["type"])))
    listener.subscribe(2, lambda e: heard.append((2, e["type"])))
    client = redis.Redis.from_url(app.config["REDIS_URL"])
    ping = {"type": "read", "conversation_ids": [1]}
    # Subscribed once an event gets through.
    assert wait_for(lambda: events.publish(2, ping, app) or heard)
    time.sleep(0.3)  # any second ping still on its way
    heard.clear()
    time.sleep(6.5)  # longer than any read timeout of the shared client
    assert heard == []

    # Redis restarted, a proxy dropped us, ...: this listener's connection only. (Killing
    # every pub/sub connection would also drop the listener of a test running beside this
    # one on the same server, and resync its tabs in the middle of what it asserts.)
    (mine,) = [c["id"] for c in client.client_list() if c["name"] == listener.name]
    client.client_kill_filter(_id=mine)
    assert wait_for(lambda: sorted(heard) == [(1, "resync"), (2, "resync")], timeout=10)
    # Subscribed again (the resync is told once Redis confirmed the subscription).
    assert listener.wait_ready(5)
    events.publish(1, ping, app)
    assert wait_for(lambda: heard[-1] == (1, "read"))


def _fresh_listener(monkeypatch, connect_delay: float) -> None:
    """This process's listener as a fresh process has it: none yet, started by the next
    socket, and slow to get its subscription confirmed (a busy machine)."""
    from inbox import events

    connect = events.Listener._connect

    def slow_connect(self):
        time.sleep(connect_delay)
        return connect(self)

    monkeypatch.setattr(events.Listener, "_connect", slow_connect)
    monkeypatch.setattr(events, "_listener", None)


def test_the_first_socket_of_a_process_hears_what_comes_right_after_it_opens(
    app, demo, sandbox, monkeypatch
):
    """The first socket starts its process's listener. It used to get its badge while the
    subscription was still on its way to Redis: a text in between reached no tab (the
    background-tab alert test's rare failure). The socket now waits for the confirmation."""
    _fresh_listener(monkeypatch, connect_delay=0.5)
    ws = ws_connect(app, http_session(app, "staff@glow.test"))
    assert 'id="inbox-badge"' in ws.receive(timeout=5)
    ws.send('{"path": "/inbox", "search": "", "visible": false}')
    send_inbound(sandbox.state, "19175550100", "12125550134", "Right after the socket opened")
    got = "".join(ws_drain(ws, 2))
    assert 'id="live-notice"' in got and 'data-row="top"' in got
    ws.close()


def test_a_socket_that_stops_waiting_for_the_listener_reloads_its_list_once_it_listens(
    app, demo, monkeypatch
):
    """Redis slower to confirm than a socket waits: the socket goes on (its badge comes),
    and once the subscription is there it is told to reload what it shows."""
    _fresh_listener(monkeypatch, connect_delay=1.0)
    monkeypatch.setattr(live, "LISTENING_WITHIN_SECONDS", 0.1)
    ws = ws_connect(app, http_session(app, "staff@glow.test"))
    assert 'id="inbox-badge"' in ws.receive(timeout=5)
    ws.send('{"path": "/inbox", "search": "", "visible": true}')
    assert 'id="live-resync"' in "".join(ws_drain(ws, 3))
    ws.close()
