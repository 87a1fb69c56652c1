"""Cookies and sessions: cookie flags, a new session at login, the session bound to its
browser, idle logoff after IDLE_LOGOFF_MINUTES on every kind of request (pages, htmx
fragments, the websocket handshake), and background traffic that never keeps it alive."""

import re
import time

import pytest
import requests
from simple_websocket import ConnectionClosed, ConnectionError
from sqlalchemy import select

from inbox.config import Config
from inbox.extensions import db
from inbox.models import Conversation
from inbox.services.sessions import LAST_ACTIVE, LOGGED_IN, session_state
from tests.conftest import csrf_token, login, ws_open

IDLE = 15 * 60


def _stamp(client, key=LAST_ACTIVE):
    with client.session_transaction() as s:
        return s.get(key)


def _age(client, seconds: float, key=LAST_ACTIVE) -> None:
    """Pretend the last user request (or the login) was `seconds` ago."""
    with client.session_transaction() as s:
        s[key] = time.time() - seconds


# ---- the rule --------------------------------------------------------------------------


def test_session_rule():
    now = 1_000_000.0
    fresh = session_state(now - 10, now - 10, now, IDLE, 12 * 3600)
    assert not fresh.expired and fresh.remaining == pytest.approx(IDLE - 10)
    idle = session_state(now - IDLE - 1, now - IDLE - 1, now, IDLE, 12 * 3600)
    assert idle.expired and idle.reason == "idle"
    old = session_state(now - 5, now - 13 * 3600, now, IDLE, 12 * 3600)
    assert old.expired and old.reason == "max_age"
    # Close to the hard maximum, the idle countdown never promises more than is left.
    near = session_state(now - 1, now - 12 * 3600 + 30, now, IDLE, 12 * 3600)
    assert not near.expired and near.remaining == pytest.approx(30)
    # No stamps (a session from before the rule, or a forged one): expired.
    assert session_state(None, None, now, IDLE, 3600).expired
    assert session_state("x", now, now, IDLE, 3600).expired


# ---- cookies ---------------------------------------------------------------------------


def test_cookie_flags_follow_the_environment(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    prod = Config()
    assert prod.SESSION_COOKIE_SECURE and prod.REMEMBER_COOKIE_SECURE
    assert prod.SESSION_COOKIE_HTTPONLY and prod.SESSION_COOKIE_SAMESITE == "Lax"
    for env in ("development", "test"):
        monkeypatch.setenv("APP_ENV", env)
        assert not Config().SESSION_COOKIE_SECURE  # served over plain http on loopback
    monkeypatch.setenv("APP_ENV", "staging")
    assert Config().SESSION_COOKIE_SECURE  # anything not dev/test is treated as real
    assert Config().IDLE_LOGOFF_MINUTES == 15


def test_session_cookie_is_httponly_and_samesite_lax(client, demo):
    r = login(client, "staff@glow.test")
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # tests serve http; production sets Secure (above)


def test_login_starts_a_fresh_session(client, demo):
    client.get("/login")
    with client.session_transaction() as s:
        s["planted"] = "by an attacker before login"
        before = dict(s)
    login(client, "staff@glow.test")
    with client.session_transaction() as s:
        after = dict(s)
    assert "planted" not in after
    assert after.get("_user_id") and after.get(LOGGED_IN) and after.get(LAST_ACTIVE)
    assert after.get("csrf_token") != before.get("csrf_token")  # a new CSRF secret too


def test_session_is_bound_to_its_browser(app, demo):
    """Flask-Login's strong protection: the cookie replayed by another browser (another
    user agent or address) is no longer signed in."""
    base = app.config["PUBLIC_BASE_URL"]
    s = requests.Session()
    html = s.get(base + "/login", timeout=5).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    s.post(base + "/login", data={"email": "staff@glow.test", "password": "demo1234",
                                  "csrf_token": token}, timeout=5)  # fmt: skip
    assert s.get(base + "/inbox", timeout=5, allow_redirects=False).status_code == 200
    stolen = requests.get(
        base + "/inbox", cookies=s.cookies, headers={"User-Agent": "Elsewhere/1.0"},
        timeout=5, allow_redirects=False,
    )  # fmt: skip
    assert stolen.status_code == 302 and "/login" in stolen.headers["Location"]


# ---- idle logoff ----------------------------------------------------------------------


def test_active_user_stays_signed_in_and_requests_renew_the_clock(client, demo):
    login(client, "staff@glow.test")
    _age(client, IDLE - 30)
    assert client.get("/inbox").status_code == 200
    assert time.time() - _stamp(client) < 5  # renewed by a user request


def test_idle_page_request_goes_to_login_with_a_reason(client, demo):
    login(client, "staff@glow.test")
    _age(client, IDLE + 1)
    r = client.get("/inbox?tab=read")
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/login?next=")
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "signed out after 15 minutes without activity" in page
    assert client.get("/inbox").status_code == 302  # really signed out
    with client.session_transaction() as s:
        assert "_user_id" not in s


def test_idle_htmx_fragment_gets_hx_redirect(client, demo):
    login(client, "staff@glow.test")
    conv = db.session.scalars(select(Conversation)).first()
    token = csrf_token(client, "/inbox")
    _age(client, IDLE + 1)
    r = client.get(f"/inbox/c/{conv.id}", headers={"HX-Request": "true"})
    assert r.status_code == 401
    assert r.headers["HX-Redirect"].startswith("/login")
    assert "<form" not in r.get_data(as_text=True)  # no login page swapped into a pane
    login(client, "staff@glow.test")
    token = csrf_token(client, "/inbox")
    _age(client, IDLE + 1)
    r = client.post(
        f"/inbox/c/{conv.id}/messages", data={"body": "late"},
        headers={"HX-Request": "true", "X-CSRFToken": token},
    )  # fmt: skip
    assert r.status_code == 401 and r.headers["HX-Redirect"] == "/login"


def test_anonymous_htmx_fragment_gets_hx_redirect(client, demo):
    r = client.get("/inbox", headers={"HX-Request": "true"})
    assert r.status_code == 401 and r.headers["HX-Redirect"].startswith("/login")


def test_sessions_end_after_the_hard_maximum_even_if_active(client, demo):
    login(client, "staff@glow.test")
    _age(client, 13 * 3600, key=LOGGED_IN)
    r = client.get("/inbox")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_background_requests_do_not_count_as_activity(client, demo):
    login(client, "staff@glow.test")
    _age(client, 600)
    stamp = _stamp(client)
    conv = db.session.scalars(select(Conversation)).first()
    # app.js's own requests (resync after a reconnect, marking a conversation read as a text
    # lands) and the warning's status check.
    assert (
        client.get("/inbox", headers={"X-Background": "1", "HX-Request": "true"}).status_code == 200
    )
    token = csrf_token(client, "/inbox")  # a user request: renews
    _age(client, 600)
    stamp = _stamp(client)
    r = client.post(f"/inbox/c/{conv.id}/seen", headers={"X-Background": "1", "X-CSRFToken": token})
    assert r.status_code < 400
    status = client.get("/session/status", headers={"Accept": "application/json"})
    assert status.status_code == 200
    assert status.json["remaining"] == pytest.approx(IDLE - 600, abs=5)
    assert status.json["warning"] == 60
    assert _stamp(client) == stamp  # untouched by all of the above


def test_keepalive_renews_and_status_reports_signed_out(client, demo):
    login(client, "staff@glow.test")
    token = csrf_token(client, "/inbox")
    _age(client, IDLE - 40)  # the warning is showing
    r = client.post("/session/keepalive", headers={"X-CSRFToken": token})
    assert r.status_code == 200 and r.json["remaining"] == pytest.approx(IDLE, abs=5)
    assert client.post("/session/keepalive").status_code == 400  # CSRF still applies
    _age(client, IDLE + 1)
    r = client.get("/session/status", headers={"Accept": "application/json"})
    assert r.status_code == 401  # app.js then goes to the login page


def test_every_user_request_says_how_long_the_session_has_left(client, demo):
    """app.js's idle warning follows the server's clock: each request of the user's says
    what is left (X-Idle-Remaining), never past the session's hard maximum; background
    requests renew nothing and say nothing."""
    login(client, "staff@glow.test")
    token = csrf_token(client, "/inbox")
    _age(client, IDLE - 40)
    r = client.post("/session/keepalive", headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert float(r.headers["X-Idle-Remaining"]) == pytest.approx(IDLE, abs=5)
    _age(client, 12 * 3600 - 100, key=LOGGED_IN)  # 100 s before the 12-hour mark
    r = client.get("/inbox", headers={"HX-Request": "true", "HX-Target": "list-body"})
    assert float(r.headers["X-Idle-Remaining"]) == pytest.approx(100, abs=5)
    r = client.get("/inbox", headers={"HX-Request": "true", "X-Background": "1"})
    assert "X-Idle-Remaining" not in r.headers


def test_a_late_htmx_post_goes_to_login_and_back_to_its_page(client, demo):
    """Stay signed in (or any htmx POST) after the session ended: login, then back to the
    page it was clicked on (htmx's HX-Current-URL), never to another site."""
    login(client, "staff@glow.test")
    token = csrf_token(client, "/inbox")
    _age(client, IDLE + 1)
    page = "http://localhost/inbox/c/3?tab=read"
    r = client.post("/session/keepalive", headers={
        "X-CSRFToken": token, "HX-Request": "true", "HX-Current-URL": page,
    })  # fmt: skip
    assert r.status_code == 401
    assert r.headers["HX-Redirect"] == "/login?next=%2Finbox%2Fc%2F3%3Ftab%3Dread"
    login(client, "staff@glow.test")
    token = csrf_token(client, "/inbox")
    _age(client, IDLE + 1)
    r = client.post("/session/keepalive", headers={
        "X-CSRFToken": token, "HX-Request": "true", "HX-Current-URL": "https://evil.test/x",
    })  # fmt: skip
    assert r.headers["HX-Redirect"] == "/login"


def _requests_login(app, email="staff@glow.test") -> requests.Session:
    base = app.config["PUBLIC_BASE_URL"]
    s = requests.Session()
    html = s.get(base + "/login", timeout=5).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    data = {"email": email, "password": "demo1234", "csrf_token": token}
    r = s.post(base + "/login", data=data, timeout=5, allow_redirects=False)
    assert r.status_code == 302
    return s


def _aged_cookie(app, s: requests.Session, seconds: float) -> str:
    """The same signed session cookie, with its last activity `seconds` ago."""
    serializer = app.session_interface.get_signing_serializer(app)
    data = serializer.loads(s.cookies["session"])
    data[LAST_ACTIVE] = time.time() - seconds
    return serializer.dumps(data)


def _ws(app, cookie: str):
    return ws_open(app.config["PUBLIC_BASE_URL"], f"session={cookie}")


def test_websocket_handshake_is_refused_after_idle_and_does_not_renew(app, demo):
    s = _requests_login(app)
    ws = _ws(app, _aged_cookie(app, s, IDLE - 60))  # nearly idle: still allowed
    ws.close()
    with pytest.raises(ConnectionError):
        _ws(app, _aged_cookie(app, s, IDLE + 1))


def test_websocket_requests_do_not_renew_the_session(app, demo):
    """The socket reconnects on its own: its requests must not renew the session (a real
    handshake cannot set a cookie anyway; a failed one must not either)."""
    s = _requests_login(app)
    base = app.config["PUBLIC_BASE_URL"]
    assert s.get(base + "/inbox", timeout=5).status_code == 200  # the page that opens it
    r = requests.get(
        base + "/ws", cookies={"session": _aged_cookie(app, s, 300)},
        headers={"Origin": base, "User-Agent": requests.utils.default_user_agent()},
        timeout=5,
    )  # fmt: skip
    assert r.status_code < 500
    assert "session=" not in r.headers.get("Set-Cookie", "")


def test_an_open_websocket_ends_with_the_session_it_was_opened_with(app, demo):
    """A socket cannot see later requests renew the cookie, so it closes when its
    handshake's session runs out, with 'try again later' (1013): htmx reconnects with the
    current cookie, accepted if the user was active meanwhile, refused if not."""
    s = _requests_login(app)
    cookie = _aged_cookie(app, s, IDLE - 2)
    ws = _ws(app, cookie)
    started = time.monotonic()
    with pytest.raises(ConnectionClosed) as closed:
        while time.monotonic() - started < 10:
            ws.receive(timeout=1)
    assert closed.value.reason == 1013
    assert time.monotonic() - started < 6
    with pytest.raises(ConnectionError):
        _ws(app, cookie)  # the same, now idle, session
    _ws(app, _aged_cookie(app, s, 5)).close()  # a session renewed meanwhile reconnects


# ---- sessions end on the server ----------------------------------------------------------


def _copied(app, email: str):
    """A signed-in browser session, and a copy of its cookie taken now (as an attacker or
    a shared computer's leftover would have it)."""
    from tests.conftest import http_session

    s = http_session(app, email)
    copy = requests.Session()
    copy.cookies.update(s.cookies)
    copy.headers["User-Agent"] = s.headers["User-Agent"]
    return s, copy


def _inbox_status(app, s: requests.Session) -> int:
    r = s.get(app.config["PUBLIC_BASE_URL"] + "/inbox", allow_redirects=False, timeout=5)
    return r.status_code


def _post(app, s: requests.Session, path: str) -> requests.Response:
    base = app.config["PUBLIC_BASE_URL"]
    html = s.get(base + "/settings/profile", timeout=5).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    return s.post(base + path, data={"csrf_token": token}, allow_redirects=False, timeout=5)


def test_logout_ends_the_session_on_the_server(app, demo):
    s, copy = _copied(app, "staff@glow.test")
    assert _inbox_status(app, copy) == 200
    assert _post(app, s, "/logout").status_code == 302
    # The cookie copied before logout opens nothing, and is not renewed.
    r = copy.get(app.config["PUBLIC_BASE_URL"] + "/inbox", allow_redirects=False, timeout=5)
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert _inbox_status(app, copy) == 302
    # Logging in again works, with a new session.
    again, _ = _copied(app, "staff@glow.test")
    assert _inbox_status(app, again) == 200


def test_sign_out_everywhere_ends_every_session_of_that_user_only(app, demo):
    laptop, _ = _copied(app, "staff@glow.test")
    tablet, _ = _copied(app, "staff@glow.test")
    other, _ = _copied(app, "admin@glow.test")
    r = _post(app, laptop, "/logout/everywhere")
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    assert _inbox_status(app, laptop) == 302
    assert _inbox_status(app, tablet) == 302
    assert _inbox_status(app, other) == 200  # another teammate is not touched
    # The button is on every user's profile page, in words.
    page = other.get(app.config["PUBLIC_BASE_URL"] + "/account", timeout=5).text
    assert ">Sign out everywhere</button>" in page


def test_a_deactivated_teammate_is_signed_out_at_the_next_request(app, demo):
    from inbox.models import User

    s, _ = _copied(app, "staff@glow.test")
    user = db.session.scalars(select(User).where(User.email == "staff@glow.test")).one()
    user.active = False
    db.session.commit()
    assert _inbox_status(app, s) == 302


def test_a_password_change_ends_the_old_sessions(app, demo):
    from inbox.models import User
    from inbox.services.sessions import end_sessions

    s, _ = _copied(app, "staff@glow.test")
    user = db.session.scalars(select(User).where(User.email == "staff@glow.test")).one()
    user.set_password("a new long passphrase")
    end_sessions(user)  # what every password change does
    db.session.commit()
    assert _inbox_status(app, s) == 302


def test_an_open_live_socket_closes_when_its_session_is_ended(app, demo, sandbox):
    from inbox.sandbox import send_inbound
    from tests.conftest import ws_connect, ws_drain

    laptop, copy = _copied(app, "staff@glow.test")
    ws = ws_connect(app, copy)
    assert 'id="inbox-badge"' in ws.receive(timeout=5)
    ws.send('{"path": "/inbox", "search": "", "visible": true}')
    assert _post(app, laptop, "/logout/everywhere").status_code == 302
    send_inbound(sandbox.state, "19175550100", "12125550134", "After sign-out")
    got = ws_drain(ws, 2)
    assert not any("After sign-out" in g for g in got)
    assert not ws.connected
    assert ws.close_reason == 4401  # "signed out": the page says so, no reconnecting
    with pytest.raises(ConnectionError):
        ws_connect(app, copy)  # and the copied cookie cannot open a new one


def test_a_session_ended_as_its_socket_opens_is_told_it_is_signed_out(app, demo, monkeypatch):
    """Between the handshake (let in) and the first frame the session can end: the socket
    closes as it would at any later event, never with a server error."""
    from inbox.web import live
    from tests.conftest import ws_connect

    _laptop, copy = _copied(app, "staff@glow.test")

    def ended(self, event):
        raise live.SignedOut("session ended")

    monkeypatch.setattr(live.LiveClient, "render", ended)
    ws = ws_connect(app, copy)
    with pytest.raises(ConnectionClosed):
        ws.receive(timeout=5)
    assert ws.close_reason == 4401
