"""Login, CSRF, the Inbox privilege and tenant scoping."""

from sqlalchemy import select

from inbox.extensions import db
from inbox.models import Conversation
from tests.conftest import csrf_token, login


def test_login_page_has_the_article_words(client, demo):
    html = client.get("/login").get_data(as_text=True)
    for words in ("Email", "Password", "Log in", "admin@glow.test", "demo1234"):
        assert words in html


def test_wrong_password_and_unknown_email_get_the_same_answer(client, demo):
    a = login(client, "staff@glow.test", "wrong")
    b = login(client, "nobody@glow.test", "wrong")
    assert a.status_code == b.status_code == 401
    assert "That email and password do not match an account." in a.get_data(as_text=True)
    assert "That email and password do not match an account." in b.get_data(as_text=True)


def test_login_without_csrf_token_is_refused(client, demo):
    r = client.post("/login", data={"email": "staff@glow.test", "password": "demo1234"})
    assert r.status_code == 400


def test_post_without_csrf_is_refused_even_logged_in(client, demo):
    login(client, "staff@glow.test")
    conv = db.session.scalars(select(Conversation)).first()
    r = client.post(f"/inbox/c/{conv.id}/messages", data={"body": "hi"})
    assert r.status_code == 400


def test_inbox_needs_login(client, demo):
    r = client.get("/inbox")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_staff_without_inbox_privilege_sees_no_inbox(client, demo):
    login(client, "frontdesk@glow.test")
    home = client.get("/").get_data(as_text=True)
    assert 'id="nav-inbox"' not in home
    assert "Inbox</strong> privilege" in home
    assert client.get("/inbox").status_code == 403
    conv = db.session.scalars(select(Conversation)).first()
    assert client.get(f"/inbox/c/{conv.id}").status_code == 403


def test_staff_with_privilege_sees_inbox_tab_with_badge(client, demo):
    login(client, "staff@glow.test")
    html = client.get("/inbox").get_data(as_text=True)
    assert 'id="nav-inbox"' in html and 'id="inbox-badge"' in html
    assert "(212) 555-0134" in html
    assert ">Unread <" in html.replace("\n", "") or "Unread" in html


def test_other_accounts_conversation_is_404(client, demo):
    login(client, "admin@fresh.test")
    conv = db.session.scalars(select(Conversation)).first()
    assert client.get(f"/inbox/c/{conv.id}").status_code == 404
    token = csrf_token(client, "/")
    r = client.post(f"/inbox/c/{conv.id}/messages", data={"body": "x", "csrf_token": token})
    assert r.status_code == 404


def test_logout(client, demo):
    login(client, "staff@glow.test")
    token = csrf_token(client, "/inbox")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/inbox").status_code == 302
