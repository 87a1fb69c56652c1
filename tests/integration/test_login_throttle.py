"""Login throttling (flask-limiter on the app's Redis), one answer for unknown emails and
wrong passwords, scrypt hashes, and logins that still work when Redis is down."""

import logging

import pytest

from inbox import create_app
from inbox.config import Config
from inbox.extensions import db, limiter
from inbox.models import User
from inbox.services import auth as auth_service
from tests.conftest import IsolatedClient, csrf_token, without_csrf_tokens

GENERIC = "That email and password do not match an account."


def _attempt(client, email, password="wrong", ip="10.0.0.1"):
    client.environ_base["REMOTE_ADDR"] = ip  # every request of this client, from now on
    token = csrf_token(client)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def test_five_failures_for_one_email_then_a_clear_429_on_the_login_page(client, demo):
    for i in range(5):
        r = _attempt(client, "staff@glow.test", ip=f"10.0.1.{i}")  # spread over addresses
        assert r.status_code == 401 and GENERIC in r.get_data(as_text=True)
    r = _attempt(client, "Staff@Glow.test ", ip="10.0.1.99")  # same email, any spelling
    html = r.get_data(as_text=True)
    assert r.status_code == 429
    assert "Too many attempts. Try again in 1 minute." in html
    assert 'name="password"' in html  # the login page, not a bare error
    # Even the right password waits: the limit is on the email, not on guessing wrong.
    assert _attempt(client, "staff@glow.test", "demo1234", ip="10.0.1.98").status_code == 429
    # Other people are not locked out.
    assert _attempt(client, "admin@glow.test", "demo1234", ip="10.0.1.97").status_code == 302


def test_twenty_failures_from_one_address_then_429(client, demo):
    for i in range(20):
        assert _attempt(client, f"nobody{i}@glow.test", ip="10.0.2.1").status_code == 401
    r = _attempt(client, "someone-else@glow.test", ip="10.0.2.1")
    assert r.status_code == 429 and "Too many attempts" in r.get_data(as_text=True)
    assert _attempt(client, "staff@glow.test", "demo1234", ip="10.0.2.2").status_code == 302


def test_successful_logins_do_not_count(client, demo):
    for _ in range(8):
        r = _attempt(client, "staff@glow.test", "demo1234", ip="10.0.3.1")
        assert r.status_code == 302
        client.post("/logout", data={"csrf_token": csrf_token(client, "/settings/profile")})


def test_unknown_email_and_wrong_password_do_the_same_work(client, demo, monkeypatch):
    checked = []
    real = auth_service.check_password_hash

    def spy(pwhash, password):
        checked.append(pwhash.split(":")[0])
        return real(pwhash, password)

    monkeypatch.setattr(auth_service, "check_password_hash", spy)
    a = _attempt(client, "staff@glow.test", ip="10.0.4.1")
    b = _attempt(client, "nobody@glow.test", ip="10.0.4.2")
    assert a.status_code == b.status_code == 401
    body_a = a.get_data(as_text=True).replace("staff@glow.test", "EMAIL")
    body_b = b.get_data(as_text=True).replace("nobody@glow.test", "EMAIL")
    page = lambda html: without_csrf_tokens(html.split("</form>")[0])  # noqa: E731
    assert page(body_a) == page(body_b)
    assert checked == ["scrypt", "scrypt"]  # one scrypt check on both paths


def test_passwords_are_hashed_with_scrypt(app, ctx, demo, monkeypatch):
    user = db.session.query(User).filter_by(email="staff@glow.test").one()
    assert user.password_hash.startswith("scrypt:")
    # Everywhere but the tests' stacks, at werkzeug's full cost (N=32768).
    monkeypatch.setenv("SECRET_KEY", "k")
    for env in ("production", "development"):
        monkeypatch.setenv("APP_ENV", env)
        assert Config().PASSWORD_HASH_METHOD == "scrypt"
    monkeypatch.setitem(app.config, "PASSWORD_HASH_METHOD", "scrypt")
    user.set_password("full cost")
    assert user.password_hash.startswith("scrypt:32768:8:1$")
    monkeypatch.undo()
    user.set_password("a new password")
    assert user.password_hash.startswith("scrypt:") and "a new password" not in user.password_hash
    assert user.check_password("a new password") and not user.check_password("demo1234")


@pytest.fixture
def limiter_restored(app):
    """The limiter is one object per process: give it back to the main app afterwards."""
    yield
    limiter.init_app(app)


def test_login_works_when_redis_is_down(app, demo, caplog, limiter_restored):
    """The limiter fails open (and says so in the log): nobody is locked out by an outage."""
    down = create_app(
        {
            **{k: app.config[k] for k in ("TESTING", "SQLALCHEMY_DATABASE_URI", "REDIS_URL")},
            "RATELIMIT_STORAGE_URI": "redis+unix:///nonexistent/redis.socket",
            "SHOW_DEMO_LOGINS": True,
        }
    )
    down.test_client_class = IsolatedClient
    client = down.test_client()
    with caplog.at_level(logging.ERROR):
        for _ in range(7):  # past the per-email limit: not counted, not refused
            assert _attempt(client, "staff@glow.test", ip="10.0.5.1").status_code == 401
        assert _attempt(client, "staff@glow.test", "demo1234", ip="10.0.5.1").status_code == 302
    assert any("rate limit" in r.getMessage().lower() for r in caplog.records)
