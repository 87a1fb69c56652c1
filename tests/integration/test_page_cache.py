"""Rendered list pages are reused only while nothing they show has changed: every kind of
change (a text landing through the webhook, read / unread, a patient or clinic renamed, a
privilege or clinic access changed, a bulk statement) shows on the very next request; users
never share a page; with Redis unreachable pages render fresh; a flash is never stored."""

from __future__ import annotations

import re

import redis
import requests
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import select, update

from inbox.broker import get_redis
from inbox.extensions import db
from inbox.models import Clinic, Conversation, Patient
from inbox.sandbox import sign_params
from inbox.services import page_cache
from tests.conftest import (
    clinic_limited_user,
    csrf_token,
    fresh,
    get_with_sql,
    inbound_params,
    login,
)

LIST = "/inbox?tab=unread"
FRAGMENT = {"HX-Request": "true", "HX-Target": "list-body"}


def _ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'id="conv-(\d+)"', html)]


def _ava() -> Conversation:
    fresh()
    return db.session.scalars(
        select(Conversation).join(Patient).where(Patient.first_name == "Ava")
    ).one()


def test_a_repeat_costs_one_query_and_every_change_shows_on_the_next_request(
    app, client, demo, sandbox
):
    login(client, "staff@glow.test")
    first, sql = get_with_sql(app, client, LIST, FRAGMENT)
    again, cached_sql = get_with_sql(app, client, LIST, FRAGMENT)
    assert again == first and len(sql) > 3
    # Not even the user's row: the guard checks the Inbox privilege on the row read under
    # the same generation, merged without a query.
    assert cached_sql == []
    full, _ = get_with_sql(app, client, LIST)
    assert full != first and "<html" in full.lower()  # page and fragment are different keys

    # A text lands through the real webhook (another thread, as in production).
    signed = sign_params(sandbox.state, inbound_params(text="Cache me if you can"))
    url = app.config["PUBLIC_BASE_URL"] + "/webhooks/vonage/inbound"
    assert requests.post(url, data=signed, timeout=5).status_code == 200
    html, _ = get_with_sql(app, client, LIST, FRAGMENT)
    assert "Cache me if you can" in html
    ava = _ava()
    assert _ids(html)[0] == ava.id

    # Read through the app's own bulk action: gone from Unread at once.
    token = csrf_token(client, "/inbox")
    client.post(
        "/inbox/bulk",
        data={"ids": [str(ava.id)], "action": "read", "tab": "unread", "csrf_token": token},
        headers=FRAGMENT,
    )
    html, _ = get_with_sql(app, client, LIST, FRAGMENT)
    assert ava.id not in _ids(html)

    # ORM changes made anywhere (a profile edit, a clinic renamed) ...
    target = _ids(html)[0]
    conv = db.session.get(Conversation, target)
    conv.patient.first_name = "Renamed"
    db.session.commit()
    html, _ = get_with_sql(app, client, LIST, FRAGMENT)
    assert "Renamed" in html
    clinic = db.session.get(Clinic, db.session.get(Conversation, target).clinic_id)
    clinic.name = "Harbourside"
    db.session.commit()
    html, _ = get_with_sql(app, client, LIST, FRAGMENT)
    assert "Harbourside" in html

    # ... and bulk statements that name no account.
    db.session.execute(update(Conversation).where(Conversation.id == target).values(unread=False))
    db.session.commit()
    html, _ = get_with_sql(app, client, LIST, FRAGMENT)
    assert target not in _ids(html)


def test_users_never_share_a_page_and_access_changes_apply_at_once(app, client, demo):
    downtown = db.session.scalars(select(Clinic).where(Clinic.name == "Downtown")).one()
    limited_id = clinic_limited_user(demo, [downtown]).id

    login(client, "admin@glow.test")
    everyone, _ = get_with_sql(app, client, LIST, FRAGMENT)
    other = app.test_client()
    login(other, "dt@glow.test")
    mine, _ = get_with_sql(app, other, LIST, FRAGMENT)
    fresh()
    downtown_ids = set(
        db.session.scalars(select(Conversation.id).where(Conversation.clinic_id == downtown.id))
    )
    assert set(_ids(mine)) <= downtown_ids < set(_ids(everyone)) | downtown_ids
    assert set(_ids(everyone)) - downtown_ids, "the admin sees other clinics' rows"

    # The admin opens her access to every clinic: her next list shows them.
    token = csrf_token(client, f"/settings/teammates/{limited_id}")
    r = client.post(
        f"/settings/teammates/{limited_id}",
        data={"inbox": "on", "all_clinics": "on", "csrf_token": token},
    )
    assert r.status_code == 302
    widened, _ = get_with_sql(app, other, LIST, FRAGMENT)
    assert set(_ids(widened)) == set(_ids(everyone))

    # And takes the Inbox away: refused, whatever was rendered before.
    r = client.post(
        f"/settings/teammates/{limited_id}", data={"all_clinics": "on", "csrf_token": token}
    )
    assert r.status_code == 302
    assert other.get(LIST, headers=FRAGMENT).status_code == 403


def test_redis_unreachable_pages_render_fresh(app, client, demo, monkeypatch):
    login(client, "staff@glow.test")
    get_with_sql(app, client, LIST, FRAGMENT)
    # Refused at once, every time (redis-py's default retries with backoff: ~2 s a call).
    dead = redis.Redis(
        unix_socket_path="/nonexistent/redis.socket",
        socket_connect_timeout=0.2,
        retry=Retry(NoBackoff(), 0),
    )
    monkeypatch.setattr(page_cache, "get_redis", lambda: dead)
    conv = db.session.get(Conversation, _ids(get_with_sql(app, client, LIST, FRAGMENT)[0])[0])
    conv.patient.first_name = "Offline"
    db.session.commit()  # the generation cannot be replaced: this process forgets its pages
    html, sql = get_with_sql(app, client, LIST, FRAGMENT)
    assert "Offline" in html and len(sql) > 3
    html, sql = get_with_sql(app, client, LIST, FRAGMENT)
    assert len(sql) > 3, "nothing is stored while Redis cannot vouch for it"


def test_a_page_showing_a_flash_is_not_stored(app, client, demo):
    login(client, "staff@glow.test")
    with client.session_transaction() as s:
        s["_flashes"] = [("success", "Marked 3 read.")]
    assert "Marked 3 read." in client.get(LIST).get_data(as_text=True)
    assert "Marked 3 read." not in client.get(LIST).get_data(as_text=True)


def test_time_labels_never_outlive_their_bucket(app, client, demo, monkeypatch):
    login(client, "staff@glow.test")
    get_with_sql(app, client, LIST, FRAGMENT)
    _, sql = get_with_sql(app, client, LIST, FRAGMENT)
    assert sql == []
    later = page_cache.time_bucket() + 1
    monkeypatch.setattr(page_cache, "time_bucket", lambda now=None: later)
    _, sql = get_with_sql(app, client, LIST, FRAGMENT)
    assert len(sql) > 3  # "9:41 AM" may have become "Tue": rendered again


def test_a_cached_page_still_checks_the_session_binding(app, client, demo):
    """Strong session protection: the same cookie from another browser is signed out, even
    for a page the cache holds (the user's row is not read, the binding still is)."""
    login(client, "staff@glow.test")
    get_with_sql(app, client, LIST, FRAGMENT)
    _, sql = get_with_sql(app, client, LIST, FRAGMENT)
    assert sql == []
    r = client.get(LIST, headers={**FRAGMENT, "User-Agent": "somebody else's browser"})
    assert r.status_code == 401 and r.headers["HX-Redirect"].startswith("/login")


# ---- the generation a whole page carries to its live socket -----------------------------


def _carried(page: str) -> str:
    return re.search(r'data-live-generation="([^"]*)"', page).group(1)


def test_a_page_carries_the_generation_of_what_it_shows_its_own_changes_included(app, client, demo):
    """Opening an unread conversation marks it read: the page shows that, so the generation it
    carries is the one after its own commit (no needless reload of list and conversation)."""
    login(client, "staff@glow.test")
    conv = db.session.scalars(
        select(Conversation).where(Conversation.account_id == demo.id, Conversation.unread)
    ).first()
    before = page_cache.generation_label(demo.id)
    page = client.get(f"/inbox/c/{conv.id}").get_data(as_text=True)
    fresh()
    assert not db.session.get(Conversation, conv.id).unread  # it changed something
    assert page_cache.generation_label(demo.id) != before
    assert _carried(page) == page_cache.generation_label(demo.id)


def test_a_change_by_another_process_during_a_page_keeps_the_old_generation(app, demo):
    """Another process's change between the page's read and its own commit: the page may
    not show it, so it keeps the generation it read and its socket tells it to reload."""
    with app.test_request_context("/inbox"):
        page_cache.carry_generation(demo.id, page_cache.generation(demo.id))
        read = page_cache.page_label()
        page_cache.replace({demo.id})  # its own commit, nothing between
        own = page_cache.page_label()
        assert own != read and own == page_cache.generation_label(demo.id)

        get_redis(app).set(page_cache._key(demo.id), "another-process")
        page_cache.replace({demo.id})  # its own commit, after another process's
        assert page_cache.page_label() == own
        assert page_cache.page_label() != page_cache.generation_label(demo.id)


def test_a_failed_text_replaces_only_its_own_practice_s_pages(app, demo):
    """The failure mark's writer (refresh_failed_flags) says whose conversations it changed:
    the practice's pages are rendered again, another practice's stay cached."""
    from inbox.models import DIRECTION_OUT, Account, Message
    from inbox.services import message_status

    glow = demo.id
    other = db.session.scalars(select(Account.id).where(Account.id != glow)).first()
    page_cache.replace({glow, other})
    before = page_cache.generation(glow), page_cache.generation(other)
    message = db.session.scalars(
        select(Message).where(Message.account_id == glow, Message.direction == DIRECTION_OUT)
    ).first()
    message_status.mark_failed(message, "3", "The number is not active")
    assert page_cache.generation(glow) != before[0]
    assert page_cache.generation(other) == before[1]
    fresh()
    assert db.session.get(Conversation, message.conversation_id).has_failed
