"""Inbox Settings: plan gate, number wizard with its failure paths, billing, disable and
re-enable, privileges. Through the real SDK and the sandbox."""

import json
import re
import threading

from sqlalchemy import func, select

from inbox import events
from inbox.broker import get_redis
from inbox.extensions import db
from inbox.models import (
    Account,
    AuditEvent,
    BillingLine,
    Charge,
    Conversation,
    InboxNumber,
    Message,
    User,
    utcnow,
)
from inbox.services import billing
from tests.conftest import csrf_token, fresh, login, run_jobs

HTMX = {"HX-Request": "true"}
DEMO_NUMBER = "12125550134"  # bought for Glow by the demo fixture


def _buys(sandbox) -> list[str]:
    return [
        r["params"]["msisdn"]
        for r in sandbox.requests_to("/number/buy")
        if r["params"]["msisdn"] != DEMO_NUMBER
    ]


def _fresh_account() -> Account:
    return db.session.scalars(select(Account).where(Account.name == "Fresh Face Clinic")).one()


def _upgrade(client) -> None:
    token = csrf_token(client, "/settings/billing")
    r = client.post("/settings/billing", data={"plan": "accelerator", "csrf_token": token})
    assert r.status_code == 302


def _finish(client, number: str, area_code: str = "212"):
    token = csrf_token(client, "/settings/profile")
    return client.post(
        "/settings/inbox/setup/finish",
        data={"number": number, "area_code": area_code, "csrf_token": token},
    )


def test_lock_until_accelerator_then_upgrade_in_subscriptions(client, demo):
    login(client, "admin@fresh.test")
    home = client.get("/").get_data(as_text=True)  # never set up: how to start
    assert "has not set up two-way texting" in home and 'id="go-inbox-settings"' in home
    html = client.get("/settings/inbox").get_data(as_text=True)
    assert "bi-lock-fill" in html and "needs the Accelerator Plan" in html
    assert 'href="/settings/billing"' in html and 'id="inbox-toggle"' not in html
    assert client.get("/settings/inbox/setup").status_code == 302
    page = client.get("/settings/billing").get_data(as_text=True)
    assert "Essentials Plan" in page and "Upgrade to Accelerator Plan" in page
    # The upgrade is confirmed in a dialog that says what the month will cost.
    assert 'id="plan-dialog-accelerator"' in page and 'id="plan-dialog-essentials"' not in page
    assert 'id="total-after-accelerator">$249.00<' in page and "(now $149.00)" in page
    _upgrade(client)
    fresh()
    account = _fresh_account()
    assert account.plan == "accelerator"
    # A change of what the practice pays is on record, with who made it.
    [event] = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.account_id == account.id, AuditEvent.action == "changed_plan"
        )
    ).all()
    assert event.summary == "Essentials Plan → Accelerator Plan" and event.user_id is not None
    assert "Changed the plan" in client.get("/settings/audit").get_data(as_text=True)
    lines = billing.active_lines(account)
    assert [(line.description, line.amount_cents) for line in lines] == [
        ("Accelerator Plan", 24900)
    ]
    html = client.get("/settings/inbox").get_data(as_text=True)
    assert 'id="inbox-toggle"' in html and 'aria-checked="false"' in html


def test_area_code_is_validated(client, demo):
    login(client, "admin@fresh.test")
    _upgrade(client)
    for bad in ("21", "abc", "012", "1234", "911", "411"):
        r = client.get(f"/settings/inbox/setup?area_code={bad}")
        assert r.status_code == 422
        assert "Enter a 3-digit US area code, like 212." in r.get_data(as_text=True)
    for unused in ("999", "800", "555"):  # unassigned, toll-free, fictional: never local
        r = client.get(f"/settings/inbox/setup?area_code={unused}")
        assert r.status_code == 422
        assert f"{unused} is not a US area code for a place" in r.get_data(as_text=True)


def test_search_lists_local_sms_numbers_with_select(client, demo, sandbox):
    login(client, "admin@fresh.test")
    _upgrade(client)
    html = client.get("/settings/inbox/setup?area_code=212", headers=HTMX).get_data(as_text=True)
    assert "<html" not in html and "(212) 555-0130" in html and ">Select<" in html
    params = sandbox.requests_to("/number/search")[-1]["params"]
    assert params["pattern"] == "1212" and params["search_pattern"] == "0"
    assert (params["country"], params["type"], params["features"]) == ("US", "mobile-lvn", "SMS")
    assert "(212) 555-0134" not in html  # Glow owns it
    picked = client.get("/settings/inbox/setup?area_code=212&number=%2B12125550131")
    text = picked.get_data(as_text=True)
    assert "Selected" in text and 'name="number" value="+12125550131"' in text


def test_nearby_area_codes_when_none_are_left(client, demo, sandbox):
    login(client, "admin@fresh.test")
    _upgrade(client)
    html = client.get("/settings/inbox/setup?area_code=516").get_data(as_text=True)
    assert "No numbers are available in area code 516" in html and "nearby area codes" in html
    assert "Area code 347" in html or "Area code 646" in html
    assert "Area code 415" not in html  # California is not nearby


def test_finish_setup_buys_connects_bills_and_opens_the_inbox(client, demo, sandbox):
    login(client, "admin@fresh.test")
    _upgrade(client)
    token = csrf_token(client, "/settings/profile")
    review = client.post(
        "/settings/inbox/setup/review",
        data={"number": "+12125550131", "area_code": "212", "csrf_token": token},
    ).get_data(as_text=True)
    for words in ("(212) 555-0131", "$5.00 per month", "different number", "cannot be imported",
                  "Finish Setup"):  # fmt: skip
        assert words in review
    # Continue is a GET: Back, Forward and reload come back to the same Review page.
    page = client.get("/settings/inbox/setup?area_code=212").get_data(as_text=True)
    assert re.search(r'<form method="get" action="/settings/inbox/setup/review"', page)
    again = client.get("/settings/inbox/setup/review?number=%2B12125550131&area_code=212")
    assert again.status_code == 200 and 'id="review-number">(212) 555-0131<' in again.get_data(
        as_text=True
    )
    r = _finish(client, "+12125550131")
    assert r.status_code == 302 and r.headers["Location"] == "/settings/inbox/setup/done"
    # Step 3, Done: the number to write down, and the way into the Inbox.
    done = client.get("/settings/inbox/setup/done").get_data(as_text=True)
    assert 'id="done-number">(212) 555-0131<' in done and 'data-copy="(212) 555-0131"' in done
    assert "Keep a note of it" in done and 'href="/inbox" id="open-inbox"' in done
    assert len(_buys(sandbox)) == 1
    update = sandbox.requests_to("/number/update")[-1]["params"]
    assert update["msisdn"] == "12125550131"
    assert update["moHttpUrl"].endswith("/webhooks/vonage/inbound")
    fresh()
    account = _fresh_account()
    assert account.inbox_enabled
    number = db.session.scalars(
        select(InboxNumber).where(InboxNumber.account_id == account.id)
    ).one()
    assert (number.e164, number.status) == ("+12125550131", "active")
    assert "Inbox add-on (two-way texting)" in [
        x.description for x in billing.active_lines(account)
    ]
    html = client.get("/inbox").get_data(as_text=True)
    assert 'id="inbox-number">(212) 555-0131<' in html
    # Double-clicking Finish Setup buys one number, not two.
    assert _finish(client, "+12125550131").status_code == 302
    assert _finish(client, "+12125550132").status_code == 302
    assert len(_buys(sandbox)) == 1


def test_parallel_finish_setup_buys_once(app, client, demo, sandbox):
    login(client, "admin@fresh.test")
    _upgrade(client)
    token = csrf_token(client, "/settings/profile")
    codes = []

    def go():
        codes.append(
            client.post(
                "/settings/inbox/setup/finish",
                data={"number": "+12125550133", "area_code": "212", "csrf_token": token},
            ).status_code
        )

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(_buys(sandbox)) == 1
    fresh()
    assert db.session.scalar(select(func.count(InboxNumber.id)).where(
        InboxNumber.account_id == _fresh_account().id)) == 1  # fmt: skip


def test_number_sold_a_second_ago_goes_back_to_the_list(client, demo, sandbox):
    login(client, "admin@fresh.test")
    _upgrade(client)
    sandbox.fail_next("sold", path="/number/buy")
    r = _finish(client, "+12125550131")
    assert r.status_code == 302 and "area_code=212" in r.headers["Location"]
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "just taken by someone else" in page and "(212) 555-0132" in page
    fresh()
    account = _fresh_account()
    assert not account.inbox_enabled
    assert db.session.scalar(select(func.count(InboxNumber.id)).where(
        InboxNumber.account_id == account.id)) == 0  # fmt: skip
    assert "Inbox add-on" not in str([x.description for x in billing.active_lines(account)])
    # No number, no Done page: back to Inbox Settings.
    r = client.get("/settings/inbox/setup/done")
    assert r.status_code == 302 and r.headers["Location"] == "/settings/inbox"


def test_webhook_that_cannot_be_set_releases_the_number(client, demo, sandbox):
    login(client, "admin@fresh.test")
    _upgrade(client)
    for _ in range(3):
        sandbox.fail_next("error", path="/number/update")
    r = _finish(client, "+12125550131")
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "released it again" in page
    assert len(sandbox.requests_to("/number/cancel")) == 1
    assert "12125550131" not in sandbox.state.owned
    fresh()
    assert not _fresh_account().inbox_enabled


def test_webhook_is_retried_before_giving_up(client, demo, sandbox):
    login(client, "admin@fresh.test")
    _upgrade(client)
    sandbox.fail_next("error", path="/number/update")
    assert _finish(client, "+12125550131").headers["Location"] == "/settings/inbox/setup/done"
    updates = [
        r for r in sandbox.requests_to("/number/update") if r["params"]["msisdn"] != DEMO_NUMBER
    ]
    assert len(updates) == 2
    assert sandbox.requests_to("/number/cancel") == []


def test_vonage_down_buys_nothing_and_says_so(client, demo, sandbox):
    login(client, "admin@fresh.test")
    _upgrade(client)
    sandbox.fail_next("http503", path="/number/buy")
    r = _finish(client, "+12125550131")
    assert r.status_code == 502
    assert "no number was bought" in r.get_data(as_text=True)
    sandbox.fail_next("http503", path="/number/search")
    page = client.get("/settings/inbox/setup?area_code=212").get_data(as_text=True)
    assert "could not reach Vonage" in page


def test_finish_setup_answers_its_boosted_form_with_pages_htmx_swaps(client, demo, sandbox):
    """Finish Setup is an htmx-boosted form: a refusal must come back as a status htmx
    swaps (422, not 502), and a number sold meanwhile as the whole Choose page (the boosted
    request follows the redirect with its htmx headers), never the list fragment alone."""
    login(client, "admin@fresh.test")
    _upgrade(client)
    boosted = {"HX-Request": "true", "HX-Boosted": "true"}
    token = csrf_token(client, "/settings/profile")
    form = {"number": "+12125550131", "area_code": "212", "csrf_token": token}
    sandbox.fail_next("http503", path="/number/buy")
    r = client.post("/settings/inbox/setup/finish", data=form, headers=boosted)
    assert r.status_code == 422
    assert 'id="finish-error"' in r.get_data(as_text=True)
    # At the review page's address: a reload shows it again (the finish URL takes POST only).
    review = "/settings/inbox/setup/review?number=%2B12125550131&area_code=212"
    assert r.headers["HX-Replace-Url"] == review
    sandbox.fail_next("sold", path="/number/buy")
    r = client.post("/settings/inbox/setup/finish", data=form, headers=boosted,
                    follow_redirects=True)  # fmt: skip
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "just taken by someone else" in page
    assert "<html" in page and 'class="wizard-steps"' in page
    fresh()
    assert not _fresh_account().inbox_enabled
    # Bought: the browser loads the Done page whole (the page it leaves has no live socket).
    r = client.post("/settings/inbox/setup/finish", data=form, headers=boosted)
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/settings/inbox/setup/done"
    fresh()
    assert _fresh_account().inbox_enabled


def test_disable_releases_hides_and_stops_billing_then_reenable_needs_new_number(
    app, client, demo, sandbox
):
    login(client, "admin@glow.test")
    glow_id = db.session.scalar(select(Account.id).where(Account.name == "Glow Aesthetics"))
    conv_id = db.session.scalar(select(Conversation.id).where(Conversation.account_id == glow_id))
    messages_before = db.session.scalar(select(func.count(Message.id)))
    page = client.get("/settings/inbox/disable").get_data(as_text=True)
    assert "will be released" in page and "Confirm" in page and "new number" in page
    token = csrf_token(client, "/settings/inbox")
    listening = get_redis().pubsub(ignore_subscribe_messages=True)
    listening.subscribe(events.channel(glow_id, events.redis_db(get_redis())))
    assert client.post("/settings/inbox/disable", data={"csrf_token": token}).status_code == 302
    # Every open tab of the practice hears it at once (each then closes its live socket).
    heard = None
    for _ in range(20):  # the subscribe confirmation is read (as None) first
        heard = heard or listening.get_message(timeout=0.1)
    listening.close()
    assert heard and json.loads(heard["data"]) == {"type": events.ACCESS}
    fresh()
    account = db.session.get(Account, glow_id)
    assert not account.inbox_enabled
    number = db.session.scalars(select(InboxNumber).where(InboxNumber.account_id == glow_id)).one()
    assert number.status == "releasing"
    assert all(x.kind != "inbox_addon" for x in billing.active_lines(account))
    run_jobs(app)
    assert sandbox.requests_to("/number/cancel")[-1]["params"]["msisdn"] == "12125550134"
    fresh()
    assert db.session.get(InboxNumber, number.id).status == "released"
    # Hidden from everyone, kept in the database.
    staff = app.test_client()
    login(staff, "staff@glow.test")
    assert 'id="nav-inbox"' not in staff.get("/").get_data(as_text=True)
    page = staff.get("/inbox").get_data(as_text=True)
    assert "The Inbox is turned off" in page and "turned two-way texting off" in page
    assert "has not set up" not in page  # it was set up, then turned off
    assert "turned two-way texting off" in staff.get("/").get_data(as_text=True)
    page = client.get("/").get_data(as_text=True)  # the Main Admin: how to come back
    assert "Turn it on again" in page and "export the earlier conversations" in page
    assert staff.get(f"/inbox/c/{conv_id}").status_code == 404
    assert db.session.scalar(select(func.count(Message.id))) == messages_before
    # Re-enabling never offers or accepts the old number.
    html = client.get("/settings/inbox/setup?area_code=212").get_data(as_text=True)
    assert "(212) 555-0134" not in html and "(212) 555-0130" in html
    r = _finish(client, "+12125550134")
    assert "cannot be used again" in client.get(r.headers["Location"]).get_data(as_text=True)
    assert _finish(client, "+12125550135").headers["Location"] == "/settings/inbox/setup/done"
    assert staff.get(f"/inbox/c/{conv_id}").status_code == 404  # old history stays hidden


def test_release_is_retried_when_vonage_is_down(app, client, demo, sandbox):
    from inbox.services import inbox_settings

    login(client, "admin@glow.test")
    token = csrf_token(client, "/settings/inbox")
    sandbox.fail_next("http503", path="/number/cancel")
    client.post("/settings/inbox/disable", data={"csrf_token": token})
    fresh()
    number = db.session.scalars(select(InboxNumber)).first()
    try:
        inbox_settings.release(number.id)
        raise AssertionError("a 503 should leave it for the retry")
    except Exception as exc:  # noqa: BLE001
        assert "server error" in str(exc)
    fresh()
    assert db.session.get(InboxNumber, number.id).release_error
    assert inbox_settings.release(number.id) == "released"


def test_only_the_main_admin_reaches_inbox_settings_and_billing(client, demo):
    routes = [("get", "/settings/inbox"), ("get", "/settings/inbox/setup?area_code=212"),
              ("post", "/settings/inbox/setup/review"), ("get", "/settings/inbox/setup/review"),
              ("post", "/settings/inbox/setup/finish"),
              ("get", "/settings/inbox/setup/done"), ("get", "/settings/inbox/disable"),
              ("post", "/settings/inbox/disable"),
              ("get", "/settings/billing"), ("post", "/settings/billing")]  # fmt: skip
    for email in ("admin2@glow.test", "staff@glow.test", "frontdesk@glow.test"):
        login(client, email)
        token = csrf_token(client, "/settings/profile")
        page = client.get("/settings/profile").get_data(as_text=True)
        assert 'id="inbox-toggle"' not in page and "Inbox Settings" not in page
        for method, url in routes:
            data = {"csrf_token": token} if method == "post" else None
            assert getattr(client, method)(url, data=data).status_code == 403, (email, url)
        token = csrf_token(client, "/settings/profile")
        client.post("/logout", data={"csrf_token": token})


def test_admins_manage_privileges_and_it_applies_on_the_next_request(app, client, demo):
    staff = app.test_client()
    login(staff, "staff@glow.test")
    assert staff.get("/inbox").status_code == 200
    login(client, "admin2@glow.test")
    user = db.session.scalars(select(User).where(User.email == "staff@glow.test")).one()
    page = client.get(f"/settings/teammates/{user.id}").get_data(as_text=True)
    assert "Manage Privileges" in page and "Inbox" in page and "Save" in page
    token = csrf_token(client, f"/settings/teammates/{user.id}")
    downtown = next(c for c in user.account.clinics if c.name == "Downtown")
    r = client.post(
        f"/settings/teammates/{user.id}", data={"csrf_token": token, "clinics": [downtown.id]}
    )
    assert r.status_code == 302
    assert staff.get("/inbox").status_code == 403
    assert 'id="nav-inbox"' not in staff.get("/").get_data(as_text=True)
    client.post(
        f"/settings/teammates/{user.id}",
        data={"csrf_token": token, "inbox": "on", "clinics": [downtown.id]},
    )
    html = staff.get("/inbox?tab=read").get_data(as_text=True)
    assert (
        staff.get("/inbox").status_code == 200 and "Uptown" not in html.split('id="list-pane"')[1]
    )
    # Refused: the form comes back as the admin sent it, not as it was saved.
    client.post(
        f"/settings/teammates/{user.id}", data={"csrf_token": token, "clinics": [downtown.id]}
    )  # Inbox off, Downtown only
    r = client.post(f"/settings/teammates/{user.id}", data={"csrf_token": token, "inbox": "on"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "Pick at least one clinic" in html
    assert re.search(r'id="priv-inbox" name="inbox" checked', html)
    downtown_box = f'id="clinic-{downtown.id}" name="clinics" value="{downtown.id}"'
    assert re.search(downtown_box + r"\s+>", html)  # as sent: unticked
    assert not re.search(r'id="all-clinics" name="all_clinics" checked', html)
    fresh()
    assert not db.session.get(User, user.id).can_use_inbox  # nothing saved


def test_staff_cannot_manage_teammates_and_other_accounts_users_are_404(client, demo):
    login(client, "staff@glow.test")
    assert client.get("/settings/teammates").status_code == 403
    login(client, "admin@fresh.test")
    glow_user = db.session.scalars(select(User).where(User.email == "staff@glow.test")).one()
    assert client.get(f"/settings/teammates/{glow_user.id}").status_code == 404


def test_settings_times_are_in_the_practices_timezone(client, demo):
    """Fresh Face's one clinic is in Chicago: its bill says when a line started in Chicago
    time, as its audit log does, not in the server's default (New York)."""
    from inbox.timefmt import long_time

    login(client, "admin@fresh.test")
    [line] = billing.active_lines(_fresh_account())
    page = client.get("/settings/billing").get_data(as_text=True)
    assert long_time(line.started_at, "America/Chicago") in page
    assert long_time(line.started_at, "America/New_York") not in page


def test_downgrade_refused_while_inbox_is_on(client, demo):
    login(client, "admin@glow.test")
    # The dialog says so before anything is confirmed, with the way to do it.
    page = client.get("/settings/billing").get_data(as_text=True)
    dialog = page[page.index('id="plan-dialog-essentials"') :]
    dialog = dialog[: dialog.index("</dialog>")]
    assert 'id="plan-blocked-essentials"' in dialog and 'href="/settings/inbox"' in dialog
    assert 'type="submit"' not in dialog
    token = csrf_token(client, "/settings/billing")
    r = client.post("/settings/billing", data={"plan": "essentials", "csrf_token": token})
    assert r.status_code == 422 and "Turn the Inbox off" in r.get_data(as_text=True)


def test_monthly_charge_happens_once_per_line_even_with_several_workers(app, demo):
    # Now: the demo's lines started a moment ago (a fixed date broke once the clock passed it).
    nov = utcnow()
    results = []

    def worker():
        with app.app_context():
            results.append(billing.charge_month(nov))
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fresh()
    lines = db.session.scalar(
        select(func.count(BillingLine.id)).where(BillingLine.ended_at.is_(None))
    )
    assert sum(results) == lines == db.session.scalar(select(func.count(Charge.id)))
    assert billing.charge_month(nov) == 0
    glow = db.session.scalars(select(Account).where(Account.name == "Glow Aesthetics")).one()
    addon = [c for c in billing.recent_charges(glow) if c.line.kind == "inbox_addon"]
    assert [(c.period, c.amount_cents) for c in addon] == [(billing.period_of(nov), 500)]


def test_cron_table_registers_the_monthly_charge():
    import importlib

    from rq import cron

    importlib.import_module("workers.cron")
    names = [job["func"].__name__ for job in cron._job_data_registry]
    assert "charge_month" in names


def test_a_number_another_practice_gave_up_is_quarantined(app, client, demo, sandbox):
    """Glow turns its Inbox off; Fresh Face is not offered Glow's old number, nor can it
    buy it by posting it, until the quarantine is over: a Glow patient texting it would
    otherwise land in Fresh Face's inbox. The review says numbers are reused."""
    from datetime import timedelta

    from inbox.models import utcnow

    login(client, "admin@glow.test")
    token = csrf_token(client, "/settings/inbox")
    assert client.post("/settings/inbox/disable", data={"csrf_token": token}).status_code == 302
    run_jobs(app)
    fresh()
    old = db.session.scalars(select(InboxNumber).where(InboxNumber.e164 == "+12125550134")).one()
    assert old.status == "released"
    assert "12125550134" not in {n for n in sandbox.state.owned}  # back on sale at the carrier

    other = app.test_client()
    login(other, "admin@fresh.test")
    _upgrade(other)
    html = other.get("/settings/inbox/setup?area_code=212").get_data(as_text=True)
    assert "(212) 555-0134" not in html and "(212) 555-0130" in html
    r = _finish(other, "+12125550134")
    page = other.get(r.headers["Location"]).get_data(as_text=True)
    assert "given up by a practice on this server recently" in page
    assert "12125550134" not in _buys(sandbox) + [n for n in sandbox.state.owned]
    review = other.get("/settings/inbox/setup/review?number=%2B12125550130&area_code=212")
    assert "may have belonged to someone else" in review.get_data(as_text=True)

    # After the quarantine (NUMBER_QUARANTINE_DAYS, 90 by default) it may be offered again.
    assert app.config["NUMBER_QUARANTINE_DAYS"] == 90
    fresh()
    old = db.session.get(InboxNumber, old.id)
    old.released_at = utcnow() - timedelta(days=91)
    db.session.commit()
    html = other.get("/settings/inbox/setup?area_code=212").get_data(as_text=True)
    assert "(212) 555-0134" in html
