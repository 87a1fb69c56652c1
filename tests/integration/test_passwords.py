"""Passwords after the first run: "Forgot password?" by email (a real SMTP server process),
the reset link, and Change password on Your account; each ends the person's sessions."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from inbox.extensions import db
from inbox.models import LINK_RESET, AuditEvent, OneTimeLink, User
from tests.conftest import csrf_token, fresh, login, run_jobs, without_csrf_tokens
from tests.mailserver import html_of, link_in, text_of

NEW = "velvet orbit quarry lantern"
NEWER = "amber kettle drizzle canyon"


def forgot(client, email: str):
    return client.post(
        "/password/forgot",
        data={"csrf_token": csrf_token(client, "/password/forgot"), "email": email},
    )


def user(email: str) -> User:
    fresh()
    return db.session.scalars(select(User).where(User.email == email)).one()


def test_the_login_page_links_to_forgot_password(client, demo):
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/password/forgot"' in page and "Forgot password?" in page


def test_forgot_password_emails_a_reset_link_and_the_answer_never_tells(app, client, demo, mail_on):
    known = forgot(client, "Admin@Glow.test ")
    unknown = forgot(client, "nobody@glow.test")
    assert known.status_code == unknown.status_code == 200

    def answer(r, email):
        return without_csrf_tokens(r.get_data(as_text=True).replace(email, "EMAIL"))

    # The same page for both, but for the address as typed.
    assert answer(known, "Admin@Glow.test") == answer(unknown, "nobody@glow.test")
    assert "Check your email" in answer(known, "Admin@Glow.test")
    run_jobs(app)  # the request only queued the work: the worker decides and sends
    [message] = mail_on.wait_for(1)
    run_jobs(app)
    assert len(mail_on.messages()) == 1  # nothing for the unknown address
    assert message["To"] == "admin@glow.test"
    assert message["Subject"] == "Reset your Clinic Inbox password"
    url = link_in(message)
    assert "1 hour" in text_of(message) and url in html_of(message)
    link = db.session.scalars(select(OneTimeLink)).one()
    assert link.purpose == LINK_RESET and url.rsplit("/", 1)[1] not in link.token_hash

    # Signed in elsewhere before the reset: that session's generation is the old one.
    before = user("admin@glow.test").session_generation
    path = "/" + url.split("/", 3)[3]
    page = client.get(path).get_data(as_text=True)
    assert "Choose a new password" in page
    r = client.post(path, data={"csrf_token": csrf_token(client, path), "password": NEW,
                                "confirm": NEW})  # fmt: skip
    assert r.status_code == 302
    admin = user("admin@glow.test")
    assert admin.check_password(NEW) and admin.session_generation == before + 1
    assert "Your new password is saved" in client.get("/", follow_redirects=True).get_data(
        as_text=True
    )
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.user_id == admin.id).order_by(AuditEvent.id)
    ).all()
    assert actions[-3:] == ["requested_reset", "reset_password", "signed_in"]
    assert login(client, "admin@glow.test", NEW).status_code == 302
    assert login(client, "admin@glow.test", "demo1234").status_code == 401


def test_a_newer_reset_link_voids_the_older_one_and_a_password_change_voids_all(
    app, client, demo, mail_on
):
    forgot(client, "staff@glow.test")
    forgot(client, "staff@glow.test")
    run_jobs(app)
    first, second = (link_in(m) for m in mail_on.wait_for(2))
    first_path, second_path = ("/" + u.split("/", 3)[3] for u in (first, second))
    assert client.get(first_path).status_code == 410
    assert client.get(second_path).status_code == 200
    # Changing the password on Your account voids the outstanding link too.
    login(client, "staff@glow.test")
    r = client.post("/account", data={"csrf_token": csrf_token(client, "/account"),
                                      "current_password": "demo1234", "new_password": NEW,
                                      "confirm": NEW})  # fmt: skip
    assert r.status_code == 302
    r = client.get(second_path)
    assert r.status_code == 410 and "password was changed" in r.get_data(as_text=True)


def test_one_live_link_a_person_whatever_its_purpose(demo):
    """Someone still invited who asks for a reset gets it, and the invitation stops
    working: a newer link voids every older one, not only those of its kind."""
    from inbox.models import LINK_INVITATION
    from inbox.services import links

    staff = user("staff@glow.test")
    invitation = links.issue(staff, LINK_INVITATION)
    reset = links.issue(staff, LINK_RESET)
    assert links.open_link(reset).link.purpose == LINK_RESET
    with pytest.raises(links.LinkRefused) as refused:
        links.open_link(invitation)
    assert refused.value.reason == links.REPLACED
    links.issue(staff, LINK_INVITATION)  # and the other way round
    with pytest.raises(links.LinkRefused) as refused:
        links.open_link(reset)
    assert refused.value.reason == links.REPLACED


def test_forgot_password_for_someone_still_invited_sends_the_invitation_again(
    app, client, demo, mail_on
):
    """A reset would put a 1-hour link in place of their 72-hour invitation (anyone who
    knows the address could do it): they get their invitation again instead."""
    from datetime import timedelta

    from inbox.models import LINK_INVITATION
    from inbox.services import links

    staff = user("staff@glow.test")
    staff.password_hash = ""  # invited, not joined yet
    db.session.commit()
    first = links.issue(staff, LINK_INVITATION)
    forgot(client, "staff@glow.test")
    run_jobs(app)
    (sent,) = mail_on.wait_for(1)
    token = link_in(sent).rsplit("/", 1)[1]
    opened = links.open_link(token)
    assert opened.link.purpose == LINK_INVITATION
    assert opened.link.expires_at - opened.link.created_at == timedelta(hours=72)
    with pytest.raises(links.LinkRefused):
        links.open_link(first)


def test_forgot_password_is_throttled_per_email(app, client, demo):
    for _ in range(3):
        assert forgot(client, "staff@glow.test").status_code == 200
    r = forgot(client, "staff@glow.test")
    assert r.status_code == 429
    page = r.get_data(as_text=True)
    assert "Too many attempts" in page and 'value="staff@glow.test"' in page
    assert forgot(client, "admin@glow.test").status_code == 200  # another address is not


def test_a_bad_address_is_refused_in_words(client, demo):
    r = forgot(client, "just-a-name")
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "Enter the email address you log in with" in page and 'value="just-a-name"' in page


def test_without_a_mail_server_development_logs_the_link(app, client, demo, caplog):
    app.config["ENV_NAME"] = "development"
    try:
        forgot(client, "staff@glow.test")
        with caplog.at_level(logging.INFO, logger="inbox.services.links"):
            run_jobs(app)
    finally:
        app.config["ENV_NAME"] = "test"
    [line] = [r.getMessage() for r in caplog.records if "reset link" in r.getMessage()]
    assert "staff@glow.test" in line and "/password/set/" in line


def test_change_password_asks_the_current_one_and_keeps_this_session(app, client, demo):
    login(client, "staff@glow.test")
    page = client.get("/account").get_data(as_text=True)
    assert "Your account" in page and "staff@glow.test" in page and "Change password" in page
    token = csrf_token(client, "/account")

    def change(current, new, confirm=None):
        data = {"current_password": current, "new_password": new, "confirm": confirm or new}
        return client.post("/account", data={"csrf_token": token, **data})

    r = change("wrong-password", NEW)
    assert r.status_code == 422 and "current password is not right" in r.get_data(as_text=True)
    r = change("demo1234", "glowaesthetics1")
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "name, email or practice" in page
    assert "glowaesthetics1" not in page  # never written back into the page
    r = change("demo1234", "short")
    assert r.status_code == 422 and "at least 10 characters" in r.get_data(as_text=True)
    assert user("staff@glow.test").check_password("demo1234")  # nothing changed so far

    before = user("staff@glow.test").session_generation
    r = change("demo1234", NEW)
    assert r.status_code == 302
    staff = user("staff@glow.test")
    assert staff.check_password(NEW) and staff.session_generation == before + 1
    with client.session_transaction() as s:
        assert s["_gen"] == staff.session_generation  # this session stays signed in
    page = client.get("/account").get_data(as_text=True)
    assert "Your password is changed" in page
    entry = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (entry.action, entry.user_id) == ("changed_password", staff.id)
    r = change(NEW, NEWER)
    assert r.status_code == 302


def test_the_top_navigation_leads_to_your_account(client, demo):
    login(client, "frontdesk@glow.test")
    page = client.get("/").get_data(as_text=True)
    assert 'id="nav-account"' in page and 'href="/account"' in page


def test_email_goes_out_through_a_job_that_fails_loudly_when_smtp_is_down(app, ctx):
    """RQ retries a job that raises: a mail server that is down must raise."""

    from inbox.services import mail

    saved = app.config["MAIL_SERVER"], app.config["MAIL_PORT"]
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=1)  # nothing listens there
    try:
        with pytest.raises(OSError):
            mail.deliver("a@b.test", "Hi", "text", "<p>html</p>")
    finally:
        app.config["MAIL_SERVER"], app.config["MAIL_PORT"] = saved


def test_an_email_that_meets_a_mail_server_down_is_retried_and_arrives_once(
    app, client, demo, mail_on
):
    """The job that sends it fails with the server down and is scheduled again, with the
    next of its retries; once the server is back, that retry delivers it, once."""
    from rq.job import Job

    from inbox.broker import get_queue, get_redis
    from inbox.services import mail

    port = app.config["MAIL_PORT"]
    app.config["MAIL_PORT"] = 1  # nothing listens there (mail_on puts it back after)
    try:
        forgot(client, "staff@glow.test")
        run_jobs(app)  # the reset job queues the email; its job fails
    finally:
        app.config["MAIL_PORT"] = port
    queue = get_queue(app)
    scheduled = queue.scheduled_job_registry.get_job_ids()
    assert len(scheduled) == 1
    job = Job.fetch(scheduled[0], connection=get_redis(app))
    assert job.func_name == "workers.jobs.send_email"
    assert job.retries_left == mail.MAIL_RETRY.max - 1
    assert mail_on.messages() == []
    # The server is back: the retry comes due.
    queue.scheduled_job_registry.remove(job)
    queue.enqueue_job(job)
    run_jobs(app)
    (sent,) = mail_on.wait_for(1)
    assert "reset" in text_of(sent).lower()
    run_jobs(app)
    assert len(mail_on.messages()) == 1


def test_guessing_the_current_password_is_throttled(app, client, demo):
    login(client, "staff@glow.test")
    token = csrf_token(client, "/account")

    def change(current, new):
        data = {"current_password": current, "new_password": new, "confirm": new}
        return client.post("/account", data={"csrf_token": token, **data})

    for _ in range(3):
        assert change("demo1234", "short").status_code == 422  # a weak new one: not counted
    for guess in range(5):
        assert change(f"guess-{guess}", NEW).status_code == 422
    r = change("demo1234", NEW)
    assert r.status_code == 429 and "Too many attempts" in r.get_data(as_text=True)
    assert user("staff@glow.test").check_password("demo1234")
