"""Settings › Teammates › Users: Invite teammate (emailed, or the link shown once), Resend,
Revoke, Deactivate (every session ends at once, open sockets included), Reactivate and
Make Main Admin, with who may do what to whom."""

from __future__ import annotations

import re

import pytest
import requests
from simple_websocket import ConnectionError
from sqlalchemy import select

from inbox.extensions import db
from inbox.models import LINK_INVITATION, AuditEvent, Clinic, OneTimeLink, User
from tests.conftest import csrf_token, fresh, http_session, login, run_jobs, ws_connect, ws_drain
from tests.mailserver import link_in, text_of

STRONG = "velvet orbit quarry lantern"


def user(email: str) -> User | None:
    fresh()
    return db.session.scalars(select(User).where(User.email == email)).first()


def clinic(name: str) -> Clinic:
    return db.session.scalars(select(Clinic).where(Clinic.name == name)).one()


def invite(client, **fields):
    form = {"name": "Riley Park", "email": "riley@glowclinic.com", "role": "staff", "inbox": "on"}
    form |= fields
    form["csrf_token"] = csrf_token(client, "/settings/teammates/invite")
    return client.post("/settings/teammates/invite", data=form)


def post(client, path: str, **data):
    token = csrf_token(client, "/settings/profile")
    return client.post(path, data={"csrf_token": token, **data})


def shown_link(page: str) -> str:
    match = re.search(r'id="invitation-link"[^>]*>(http://[^<]+)<', page)
    assert match, page
    return match.group(1)


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def actions() -> list[str]:
    fresh()
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def set_password(client, url: str, password: str = STRONG):
    path = path_of(url)
    return client.post(
        path, data={"csrf_token": csrf_token(client, path), "password": password,
                    "confirm": password},
    )  # fmt: skip


# ---- inviting -----------------------------------------------------------------------


def test_without_a_mail_server_the_link_is_shown_once_and_lets_the_teammate_in(app, client, demo):
    login(client, "admin@glow.test")
    page = client.get("/settings/teammates").get_data(as_text=True)
    assert "Invite teammate" in page and "No invitations waiting" in page
    downtown = clinic("Downtown")
    r = invite(client, clinics=[str(downtown.id)])  # All Clinics unticked: Downtown only
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    html = r.get_data(as_text=True)
    assert "No mail server is set up" in html and "Copy" in html
    url = shown_link(html)

    riley = user("riley@glowclinic.com")
    assert riley.active and riley.password_hash == "" and riley.role == "staff"
    assert [c.name for c in riley.clinics] == ["Downtown"] and not riley.all_clinics
    assert riley.can_use_inbox
    [link] = db.session.scalars(select(OneTimeLink).where(OneTimeLink.user_id == riley.id))
    assert link.purpose == LINK_INVITATION
    assert (link.expires_at - link.created_at).total_seconds() == 72 * 3600
    assert url.rsplit("/", 1)[1] not in link.token_hash  # only the hash is kept

    # Listed under Invitations, never with the link again.
    listing = client.get("/settings/teammates").get_data(as_text=True)
    assert 'id="invitation-' in listing and "Riley Park" in listing
    assert url not in listing and url not in client.get(f"/settings/teammates/{riley.id}").text
    assert "invited_teammate" in actions()
    # Not able to sign in before choosing a password.
    assert login(app.test_client(), "riley@glowclinic.com", "").status_code == 401

    # The teammate opens the link, chooses a password and sees only Downtown.
    teammate = app.test_client()
    assert set_password(teammate, url).status_code == 302
    inbox = teammate.get("/inbox").get_data(as_text=True)
    assert "Downtown" in inbox and "Uptown" not in inbox and "Lakeside" not in inbox
    # Now a member, no longer an invitation.
    listing = client.get("/settings/teammates").get_data(as_text=True)
    assert "No invitations waiting" in listing
    assert login(app.test_client(), "riley@glowclinic.com", STRONG).status_code == 302


def test_with_a_mail_server_the_invitation_is_emailed_and_resend_voids_the_old_link(
    app, client, demo, mail_on
):
    login(client, "admin2@glow.test")  # an Admin may invite
    r = invite(client, email="Jo.Admin@GlowClinic.com", name="Jo  Admin", role="admin",
               all_clinics="on")  # fmt: skip
    assert r.status_code == 302
    assert r.headers["Location"].endswith("/settings/teammates#invitations")
    page = client.get("/settings/teammates").get_data(as_text=True)
    assert "Invitation emailed to jo.admin@glowclinic.com" in page and "Jo Admin" in page
    run_jobs(app)
    [first] = mail_on.wait_for(1)
    assert first["To"] == "jo.admin@glowclinic.com"
    assert "72 hours" in text_of(first) and "Glow Aesthetics" in text_of(first)
    old = link_in(first)

    jo = user("jo.admin@glowclinic.com")
    assert jo.role == "admin" and jo.all_clinics
    r = post(client, f"/settings/teammates/{jo.id}/resend")
    assert r.status_code == 302
    run_jobs(app)
    second = mail_on.wait_for(2)[1]
    new = link_in(second)
    assert new != old
    # The old link no longer works; the new one does.
    stale = app.test_client().get(path_of(old))
    assert stale.status_code == 410 and "newer link" in stale.get_data(as_text=True)
    assert set_password(app.test_client(), new).status_code == 302
    assert "resent_invitation" in actions()


def test_revoke_voids_the_link_and_the_email_can_be_invited_again(app, client, demo):
    login(client, "admin@glow.test")
    url = shown_link(invite(client, all_clinics="on").get_data(as_text=True))
    riley = user("riley@glowclinic.com")
    r = post(client, f"/settings/teammates/{riley.id}/revoke")
    assert r.status_code == 302
    assert "invitation is revoked" in client.get("/settings/teammates").get_data(as_text=True)
    riley = user("riley@glowclinic.com")
    assert not riley.active  # kept (the audit log refers to it), switched off
    assert app.test_client().get(path_of(url)).status_code == 410
    listing = client.get("/settings/teammates").get_data(as_text=True)
    assert "Riley Park" not in listing  # neither an invitation nor a deactivated member
    # Revoked twice: refused in words.
    r = post(client, f"/settings/teammates/{riley.id}/revoke")
    assert r.status_code == 422 and "no invitation waiting" in r.get_data(as_text=True)

    # The same email again: the same login comes back, with the new details.
    r = invite(client, name="Riley Parker", role="admin", all_clinics="on")
    assert r.status_code == 200
    again = user("riley@glowclinic.com")
    assert again.id == riley.id and again.active and again.name == "Riley Parker"
    assert again.role == "admin"
    assert set_password(app.test_client(), shown_link(r.get_data(as_text=True))).status_code == 302
    assert actions().count("revoked_invitation") == 1


@pytest.mark.parametrize(
    "email",
    ["admin@fresh.test", "ADMIN@fresh.test", "staff@glow.test"],
    ids=["another practice", "another practice, other case", "this practice"],
)
def test_an_email_in_use_is_refused_without_saying_where(client, demo, email):
    login(client, "admin@glow.test")
    r = invite(client, email=email, name="Typed Name", all_clinics="on")
    page = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "already has a login on this server. Use another email address." in page
    assert "Fresh Face" not in page
    assert 'value="Typed Name"' in page and f'value="{email}"' in page  # kept as typed
    assert user("typed@glowclinic.com") is None


def test_refusals_keep_what_was_typed(client, demo):
    login(client, "admin@glow.test")
    cases = [
        ({"email": "not an email"}, "is not a valid email address"),
        ({"name": "  "}, "Type the teammate's name."),
        ({"role": "main_admin"}, "Choose Admin or Staff."),
        ({}, "Pick at least one clinic, or All Clinics."),  # no clinic ticked
    ]
    before = len(db.session.scalars(select(User)).all())
    for fields, words in cases:
        r = invite(client, **fields)
        page = r.get_data(as_text=True)
        assert r.status_code == 422, fields
        assert words.replace("'", "&#39;") in page, (fields, words)
        assert 'value="Riley Park"' in page or fields.get("name")
    # The clinic ticked comes back ticked.
    uptown = clinic("Uptown")
    page = invite(client, email="bad", clinics=[str(uptown.id)]).get_data(as_text=True)
    assert re.search(rf'value="{uptown.id}"\s+checked', page)
    assert len(db.session.scalars(select(User)).all()) == before
    # An invitation already waiting for this email: pointed at Resend.
    invite(client, all_clinics="on")
    r = invite(client, all_clinics="on")
    assert r.status_code == 422 and "already invited" in r.get_data(as_text=True)


def test_staff_cannot_invite(client, demo):
    login(client, "staff@glow.test")
    assert client.get("/settings/teammates/invite").status_code == 403
    r = client.post("/settings/teammates/invite", data={"csrf_token": "x", "name": "A"})
    assert r.status_code in (400, 403)
    assert user("riley@glowclinic.com") is None


def test_invitations_need_the_csrf_token(client, demo):
    login(client, "admin@glow.test")
    r = client.post("/settings/teammates/invite", data={"name": "A", "email": "a@glowclinic.com",
                                                         "all_clinics": "on"})  # fmt: skip
    assert r.status_code == 400 and user("a@glowclinic.com") is None


# ---- deactivating -------------------------------------------------------------------


def _copy(session: requests.Session) -> requests.Session:
    copy = requests.Session()
    copy.cookies.update(session.cookies)
    copy.headers["User-Agent"] = session.headers["User-Agent"]
    return copy


def test_deactivate_signs_them_out_everywhere_at_once_and_keeps_their_history(app, client, demo):
    laptop = http_session(app, "staff@glow.test")
    ws = ws_connect(app, _copy(laptop))
    assert 'id="inbox-badge"' in (ws.receive(timeout=15) or "")  # generous: a busy CI box
    ws.send('{"path": "/inbox", "search": "", "visible": true}')
    sam = user("staff@glow.test")
    sent_before = db.session.scalars(
        select(AuditEvent.id).where(AuditEvent.user_id == sam.id)
    ).all()

    login(client, "admin2@glow.test")  # an Admin deactivates Staff
    page = client.get(f"/settings/teammates/{sam.id}").get_data(as_text=True)
    assert ">Deactivate</button>" in page and "hx-confirm" in page
    r = post(client, f"/settings/teammates/{sam.id}/deactivate")
    assert r.status_code == 302
    assert "deactivated and was signed out everywhere" in client.get(r.headers["Location"]).text

    ws_drain(ws, 2)
    assert not ws.connected and ws.close_reason == 4401  # the open tab is told at once
    base = app.config["PUBLIC_BASE_URL"]
    r = laptop.get(base + "/inbox", allow_redirects=False, timeout=5)
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    with pytest.raises(ConnectionError):
        ws_connect(app, _copy(laptop))
    assert login(app.test_client(), "staff@glow.test").status_code == 401
    # History stays: the login, its audit entries, listed under Deactivated.
    sam = user("staff@glow.test")
    assert sam is not None and not sam.active
    after = db.session.scalars(select(AuditEvent.id).where(AuditEvent.user_id == sam.id)).all()
    assert set(sent_before) <= set(after)
    listing = client.get("/settings/teammates").get_data(as_text=True)
    assert 'id="deactivated"' in listing and "Sam Lee" in listing
    assert "deactivated_teammate" in actions()

    # Reactivate: the password works again.
    r = post(client, f"/settings/teammates/{sam.id}/reactivate")
    assert r.status_code == 302
    assert login(app.test_client(), "staff@glow.test").status_code == 302
    assert "reactivated_teammate" in actions()


def test_who_may_switch_off_whom(app, client, demo):
    dana, admin2, sam = (user(e) for e in ("admin@glow.test", "admin2@glow.test",
                                            "staff@glow.test"))  # fmt: skip
    login(client, "admin2@glow.test")
    # An Admin cannot touch the Main Admin, nor themselves.
    for path in (f"/settings/teammates/{dana.id}/deactivate",
                 f"/settings/teammates/{admin2.id}/deactivate"):  # fmt: skip
        r = post(client, path)
        assert r.status_code == 422, path
    page = post(client, f"/settings/teammates/{dana.id}/deactivate").get_data(as_text=True)
    assert "cannot deactivate the Main Admin" in page
    page = post(client, f"/settings/teammates/{admin2.id}/deactivate").get_data(as_text=True)
    assert "cannot deactivate yourself" in page
    assert user("admin@glow.test").active and user("admin2@glow.test").active
    # Nor hand over the role (Main Admin only).
    r = post(client, f"/settings/teammates/{sam.id}/main-admin", confirm="yes")
    assert r.status_code == 403
    # The Main Admin cannot switch themselves off, and may deactivate an Admin.
    login(client, "admin@glow.test")
    page = post(client, f"/settings/teammates/{dana.id}/deactivate")
    assert page.status_code == 422 and "yourself" in page.get_data(as_text=True)
    assert post(client, f"/settings/teammates/{admin2.id}/deactivate").status_code == 302
    assert not user("admin2@glow.test").active
    # Deactivating an invitation is refused: Revoke is the way.
    invite(client, all_clinics="on")
    riley = user("riley@glowclinic.com")
    r = post(client, f"/settings/teammates/{riley.id}/deactivate")
    assert r.status_code == 422 and "revoke the invitation instead" in r.get_data(as_text=True)


def test_another_practices_teammates_are_404(client, demo):
    fresh_admin = user("admin@fresh.test")
    login(client, "admin@glow.test")
    for action in ("resend", "revoke", "deactivate", "reactivate", "main-admin"):
        r = post(client, f"/settings/teammates/{fresh_admin.id}/{action}", confirm="yes")
        assert r.status_code == 404, action
    assert user("admin@fresh.test").active and user("admin@fresh.test").is_main_admin


# ---- Make Main Admin -----------------------------------------------------------------


def test_make_main_admin_hands_the_role_over(app, client, demo):
    dana, admin2 = user("admin@glow.test"), user("admin2@glow.test")
    login(client, "admin@glow.test")
    page = client.get(f"/settings/teammates/{admin2.id}").get_data(as_text=True)
    assert 'data-open-dialog="handover-dialog"' in page and '<dialog class="ci-dialog"' in page
    # Without the dialog's Confirm nothing changes.
    r = post(client, f"/settings/teammates/{admin2.id}/main-admin")
    assert r.status_code == 422 and user("admin@glow.test").is_main_admin
    r = post(client, f"/settings/teammates/{admin2.id}/main-admin", confirm="yes")
    assert r.status_code == 302
    assert "is now the Main Admin" in client.get(r.headers["Location"]).text
    assert user("admin2@glow.test").is_main_admin
    dana = user("admin@glow.test")
    assert dana.role == "admin" and dana.can_use_inbox and dana.all_clinics
    assert db.session.scalars(
        select(User).where(User.account_id == dana.account_id, User.role == "main_admin")
    ).all() == [user("admin2@glow.test")]
    # The old Main Admin is an Admin now: no Inbox Settings, and no way back on their own.
    assert client.get("/settings/inbox").status_code == 403
    r = post(client, f"/settings/teammates/{admin2.id}/deactivate")
    assert r.status_code == 422
    entry = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "handed_over_main_admin")
    ).one()
    assert entry.summary == "From Dana Reyes to Ari Shah"
    # The new one has Inbox Settings.
    other = app.test_client()
    login(other, "admin2@glow.test")
    assert other.get("/settings/inbox").status_code == 200


def test_make_main_admin_refuses_invitations_and_deactivated_teammates(client, demo):
    login(client, "admin@glow.test")
    invite(client, all_clinics="on")
    riley = user("riley@glowclinic.com")
    r = post(client, f"/settings/teammates/{riley.id}/main-admin", confirm="yes")
    assert r.status_code == 422 and "has not joined yet" in r.get_data(as_text=True)
    sam = user("staff@glow.test")
    post(client, f"/settings/teammates/{sam.id}/deactivate")
    r = post(client, f"/settings/teammates/{sam.id}/main-admin", confirm="yes")
    assert r.status_code == 422 and "reactivate them first" in r.get_data(as_text=True)
    me = user("admin@glow.test")
    r = post(client, f"/settings/teammates/{me.id}/main-admin", confirm="yes")
    assert r.status_code == 422
    assert user("admin@glow.test").is_main_admin
