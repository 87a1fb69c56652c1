"""The first run of a real installation: `flask create-practice` on an empty database, the
login page saying how, and the Main Admin's set-password link."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from inbox.extensions import db
from inbox.models import (
    LINK_INVITATION,
    Account,
    AuditEvent,
    BillingLine,
    Clinic,
    OneTimeLink,
    User,
    utcnow,
)
from inbox.services import links
from tests.conftest import csrf_token, fresh, row_count
from tests.mailserver import link_in, text_of

STRONG = "velvet orbit quarry lantern"


def create(app, *args: str):
    return app.test_cli_runner().invoke(args=["create-practice", *args])


def bloom(app, *extra: str):
    result = create(
        app, "Bloom Med Spa", "--admin-email", "Dana.Reyes@Bloom-Medspa.com",
        "--admin-name", "Dana Reyes", "--timezone", "America/Chicago", *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result


def printed_link(output: str) -> str:
    match = re.search(r"http://\S+/password/set/(\S+)", output)
    assert match, output
    return match.group(0)


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_an_empty_server_says_how_to_create_the_first_practice(client):
    page = client.get("/login").get_data(as_text=True)
    assert "No practice here yet" in page and "create-practice" in page
    assert 'name="password"' not in page  # no login form with nothing behind it
    # "/" lands there too.
    r = client.get("/", follow_redirects=True)
    assert "No practice here yet" in r.get_data(as_text=True)


def test_create_practice_makes_the_account_clinic_and_main_admin(app, ctx):
    result = bloom(app, "--plan", "accelerator")
    fresh()
    account = db.session.scalars(select(Account)).one()
    assert (account.name, account.plan, account.inbox_enabled) == (
        "Bloom Med Spa", "accelerator", False,
    )  # fmt: skip
    clinic = db.session.scalars(select(Clinic)).one()
    assert (clinic.name, clinic.timezone, clinic.account_id) == (
        "Bloom Med Spa", "America/Chicago", account.id,
    )  # fmt: skip
    admin = db.session.scalars(select(User)).one()
    assert (admin.email, admin.name, admin.role) == (
        "dana.reyes@bloom-medspa.com", "Dana Reyes", "main_admin",
    )  # fmt: skip
    assert admin.password_hash == ""  # set through the link, nobody else knows it
    assert db.session.scalars(select(BillingLine.description)).all() == ["Accelerator Plan"]
    link = db.session.scalars(select(OneTimeLink)).one()
    assert (link.purpose, link.user_id) == (LINK_INVITATION, admin.id)
    token = printed_link(result.output).rsplit("/", 1)[1]
    assert link.token_hash == links.hash_token(token) and token not in link.token_hash
    assert abs(link.expires_at - (utcnow() + timedelta(hours=72))) < timedelta(minutes=1)
    entry = db.session.scalars(select(AuditEvent)).one()
    assert (entry.action, entry.user_id, entry.object_id) == ("created_practice", None, admin.id)
    assert "No mail server is configured" in result.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--admin-email", "not-an-email", "--admin-name", "A B"], "not a valid email address"),
        (["--admin-email", "a@b.com", "--admin-name", "A B", "--timezone", "America/Chicgo"],
         "'America/Chicgo' is not a place's time zone"),
        # Known to the server but refused by Settings › Clinics: the first clinic could not
        # be saved again without changing its zone.
        (["--admin-email", "a@b.com", "--admin-name", "A B", "--timezone", "US/Eastern"],
         "'US/Eastern' is not a place's time zone"),
        (["--admin-email", "a@b.com", "--admin-name", "  "], "needs a name"),
        (["--admin-email", "a@b.com", "--admin-name", "A", "--plan", "gold"], "gold"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_in_words_and_creates_nothing(app, ctx, args, says):
    result = create(app, "Bloom Med Spa", *args)
    assert result.exit_code != 0
    assert says in result.output
    for model in (Account, Clinic, User, OneTimeLink, AuditEvent):
        assert row_count(model) == 0


def test_an_email_already_in_use_is_refused(app, ctx):
    bloom(app)
    result = create(
        app, "Other Spa", "--admin-email", "DANA.REYES@bloom-medspa.com", "--admin-name", "D R"
    )
    assert result.exit_code != 0
    assert "already has a login" in result.output and "Nothing was created" in result.output
    assert row_count(Account) == 1 and row_count(User) == 1


def test_with_a_mail_server_the_link_is_also_emailed(app, ctx, mail_on):
    from inbox.broker import get_queue
    from tests.conftest import run_jobs

    result = bloom(app)
    [job] = get_queue(app).jobs  # sent by a worker, retried while the mail server is down
    assert job.func_name == "workers.jobs.send_email" and job.retries_left == 6
    assert job.retry_intervals[:2] == [10, 30]
    run_jobs(app)
    [message] = mail_on.wait_for(1)
    assert message["To"] == "dana.reyes@bloom-medspa.com"
    assert message["Subject"] == "Set your Clinic Inbox password"
    assert link_in(message) == printed_link(result.output)
    assert "72 hours" in text_of(message)
    assert "It was also emailed" in result.output


def test_the_main_admin_sets_a_password_and_is_signed_in(app, client):
    with app.app_context():
        path = path_of(printed_link(bloom(app).output))
    page = client.get(path).get_data(as_text=True)
    assert "Set your password" in page and "dana.reyes@bloom-medspa.com" in page
    token = csrf_token(client, path)

    # Refused with the reason; the password typed is not echoed back.
    r = client.post(path, data={"csrf_token": token, "password": "password123",
                                "confirm": "password123"})  # fmt: skip
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "too easy to guess" in page
    assert "password123" not in page  # a refused password is never written back into the page
    r = client.post(path, data={"csrf_token": token, "password": "danareyes2024!",
                                "confirm": "danareyes2024!"})  # fmt: skip
    assert r.status_code == 422 and "name, email or practice" in r.get_data(as_text=True)
    r = client.post(path, data={"csrf_token": token, "password": STRONG, "confirm": STRONG + "x"})
    assert r.status_code == 422 and "do not match" in r.get_data(as_text=True)

    r = client.post(path, data={"csrf_token": token, "password": STRONG, "confirm": STRONG})
    assert r.status_code == 302 and r.headers["Location"] == "/"
    home = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "Hello, Dana" in home and "Your password is set" in home
    with client.session_transaction() as s:
        assert s["_gen"] == 1  # the new generation: the sessions before the password ended

    with app.app_context():
        user = db.session.scalars(select(User)).one()
        assert user.check_password(STRONG) and user.session_generation == 1
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert actions == ["created_practice", "set_password", "signed_in"]

    # The Main Admin's audit log tells how the practice began.
    log = client.get("/settings/audit").get_data(as_text=True)
    for words in ("Created the practice", "The server&#39;s operator", "Set a password"):
        assert words in log, words

    # Used up: the same link again says so.
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    r = client.get(path)
    assert r.status_code == 410 and "already used" in r.get_data(as_text=True)
    r = client.post(path, data={"csrf_token": csrf_token(client), "password": STRONG,
                                "confirm": STRONG})  # fmt: skip
    assert r.status_code == 410


def test_a_link_stops_working_when_it_expires_or_a_newer_one_is_issued(app, client):
    with app.app_context():
        first = path_of(printed_link(bloom(app).output))
        user = db.session.scalars(select(User)).one()
        second = path_of(links.url_for_token(links.issue(user, LINK_INVITATION)))
    r = client.get(first)
    assert r.status_code == 410 and "A newer link was sent" in r.get_data(as_text=True)
    assert client.get(second).status_code == 200
    with app.app_context():
        db.session.execute(
            OneTimeLink.__table__.update().values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    r = client.get(second)
    assert r.status_code == 410 and "expired" in r.get_data(as_text=True)
    r = client.get("/password/set/made-up")
    assert r.status_code == 404 and "not a valid password link" in r.get_data(as_text=True)


def test_a_login_without_a_password_yet_cannot_be_logged_into(app, client):
    with app.app_context():
        bloom(app)
    data = {"email": "dana.reyes@bloom-medspa.com", "password": "velvet orbit quarry lantern"}
    r = client.post("/login", data={"csrf_token": csrf_token(client), **data})
    assert r.status_code == 401
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Account)) == 1


def test_production_links_pointing_at_this_machine_are_pointed_out(app, ctx):
    app.config["ENV_NAME"] = "production"
    try:
        result = bloom(app)
    finally:
        app.config["ENV_NAME"] = "test"
    assert "PUBLIC_BASE_URL is http://127.0.0.1:" in result.output
