"""The inbox workspace: views, clinic filters, search, keyset pages, bulk read/unread,
fragments vs full pages, and what a clinic-limited user can see."""

import re

import pytest
from sqlalchemy import select

from inbox.extensions import db
from inbox.models import (
    Clinic,
    Conversation,
    Message,
    Patient,
)
from tests.conftest import (
    clinic_limited_user,
    csrf_token,
    fresh,
    get_with_sql,
    login,
    many_conversations,
)

HTMX = {"HX-Request": "true"}


def _row_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'id="conv-(\d+)"', html)]


def _conv(first_name: str) -> Conversation:
    return db.session.scalars(
        select(Conversation).join(Patient).where(Patient.first_name == first_name)
    ).one()


def _clinic(name: str) -> Clinic:
    return db.session.scalars(select(Clinic).where(Clinic.name == name)).one()


def test_views_filter_the_list(client, demo):
    login(client, "staff@glow.test")
    needs = _row_ids(client.get("/inbox?view=needs_reply&tab=read").get_data(as_text=True))
    needs += _row_ids(client.get("/inbox?view=needs_reply&tab=unread").get_data(as_text=True))
    assert needs
    for cid in needs:
        conv = db.session.get(Conversation, cid)
        assert conv.last_direction == "in" and not conv.opted_out
    failed = _row_ids(client.get("/inbox?view=failed&tab=read").get_data(as_text=True))
    failed += _row_ids(client.get("/inbox?view=failed&tab=unread").get_data(as_text=True))
    assert failed and all(db.session.get(Conversation, c).has_failed for c in failed)
    opted = _row_ids(client.get("/inbox?view=opted_out&tab=read").get_data(as_text=True))
    opted += _row_ids(client.get("/inbox?view=opted_out&tab=unread").get_data(as_text=True))
    assert opted and all(db.session.get(Conversation, c).patient.opted_out for c in opted)


def _menu_href(html: str, view: str) -> str:
    return re.search(rf'<a class="menu-item[^"]*" href="([^"]+)"[^>]*data-view="{view}"', html)[1]


def test_a_view_opens_on_the_tab_that_holds_its_conversations(client, demo):
    """Failed to deliver, Needs reply and Opted out keep the tab on screen, unless it holds
    none of the view's conversations and the other tab does: a menu count of 3 never
    opens on an empty list."""
    failed = db.session.scalars(select(Conversation).where(Conversation.has_failed)).all()
    assert failed
    for conv in failed:
        conv.unread = False
    db.session.commit()
    login(client, "staff@glow.test")
    html = client.get("/inbox").get_data(as_text=True)  # the Unread tab
    assert _menu_href(html, "failed") == "/inbox?view=failed&amp;tab=read"
    assert _row_ids(client.get("/inbox?view=failed&tab=read").get_data(as_text=True))
    # Opened on the Unread tab anyway (an old link): the empty list says where they are.
    html = client.get("/inbox?view=failed").get_data(as_text=True)
    assert re.search(r'id="other-tab-link">\d+ in Read</a>', html)
    # On the Read tab it stays there.
    html = client.get("/inbox?tab=read").get_data(as_text=True)
    assert _menu_href(html, "failed") == "/inbox?view=failed&amp;tab=read"
    # One unread again: the Unread tab holds it, so that is where the view opens.
    failed[0].unread = True
    db.session.commit()
    html = client.get("/inbox").get_data(as_text=True)
    assert _menu_href(html, "failed") == "/inbox?view=failed"
    # Nothing in either tab: the tab on screen, as before.
    for conv in db.session.scalars(select(Conversation).where(Conversation.opted_out)):
        conv.opted_out = False
    db.session.commit()
    html = client.get("/inbox?tab=read").get_data(as_text=True)
    assert _menu_href(html, "opted_out") == "/inbox?view=opted_out&amp;tab=read"


def test_tabs_split_unread_and_read_with_counts(client, demo):
    login(client, "staff@glow.test")
    unread_html = client.get("/inbox?tab=unread").get_data(as_text=True)
    read_html = client.get("/inbox?tab=read").get_data(as_text=True)
    unread, read = _row_ids(unread_html), _row_ids(read_html)
    assert unread and read and not set(unread) & set(read)
    assert all(db.session.get(Conversation, c).unread for c in unread)
    assert f'id="count-unread">{len(unread)}<' in unread_html
    assert f'id="count-read">{len(read)}<' in unread_html
    assert f'data-count="{len(unread)}"' in unread_html  # the Inbox tab's badge


def test_clinic_filter_never_shows_another_clinic(client, demo):
    login(client, "staff@glow.test")
    uptown = _clinic("Uptown")
    for tab in ("unread", "read"):
        ids = _row_ids(client.get(f"/inbox?clinic={uptown.id}&tab={tab}").get_data(as_text=True))
        assert ids
        assert {db.session.get(Conversation, c).clinic_id for c in ids} == {uptown.id}


def test_user_limited_to_one_clinic_sees_only_it(client, demo):
    downtown, uptown = _clinic("Downtown"), _clinic("Uptown")
    clinic_limited_user(demo, [downtown])
    login(client, "dt@glow.test")
    html = client.get("/inbox?tab=unread").get_data(as_text=True)
    menu = html[html.index('id="menu"') : html.index('id="list-pane"')]
    assert "Downtown" in menu and "Uptown" not in menu and "Lakeside" not in menu
    ids = _row_ids(html) + _row_ids(client.get("/inbox?tab=read").get_data(as_text=True))
    assert ids and {db.session.get(Conversation, c).clinic_id for c in ids} == {downtown.id}
    expected_badge = db.session.scalar(
        select(db.func.count(Conversation.id)).where(
            Conversation.clinic_id == downtown.id, Conversation.unread.is_(True)
        )
    )
    assert f'data-count="{expected_badge}"' in html
    # A clinic filter or search cannot reach another clinic's patients.
    other = db.session.scalars(
        select(Conversation).where(Conversation.clinic_id == uptown.id)
    ).first()
    assert _row_ids(client.get(f"/inbox?clinic={uptown.id}&tab=read").get_data(as_text=True))
    assert other.id not in _row_ids(
        client.get(f"/inbox?q={other.patient.first_name}&tab=read").get_data(as_text=True)
    ) + _row_ids(client.get(f"/inbox?q={other.patient.first_name}").get_data(as_text=True))
    assert client.get(f"/inbox/c/{other.id}").status_code == 404
    assert client.get(f"/patients/{other.patient_id}").status_code == 404
    options = client.get(f"/inbox/patients?q={other.patient.first_name}").get_data(as_text=True)
    assert other.patient.last_name not in options


@pytest.mark.parametrize(
    "query",
    ["Ava", "ava", "Martinez", "martinez", "Ava Martinez", "ava mar", "(917) 555-0100",
     "917-555-0100", "917.555.0100", "5550100", "+1 917 555 0100", "9175550100"],
)  # fmt: skip
def test_search_by_name_or_phone_in_any_format(client, demo, query):
    login(client, "staff@glow.test")
    ava = _conv("Ava")
    ids = _row_ids(client.get("/inbox", query_string={"q": query, "tab": "unread"}).data.decode())
    ids += _row_ids(client.get("/inbox", query_string={"q": query, "tab": "read"}).data.decode())
    assert ava.id in ids


def test_search_folds_accents_and_finds_nothing_politely(client, demo):
    login(client, "staff@glow.test")
    priya = db.session.scalars(
        select(Conversation).join(Patient).where(Patient.last_name == "O'Brien")
    ).first()
    for typed in ("obrien", "o'brien", "O’Brien", "priya obr"):  # with or without apostrophe
        ids = []
        for tab in ("unread", "read"):
            ids += _row_ids(
                client.get("/inbox", query_string={"q": typed, "tab": tab}).get_data(as_text=True)
            )
        assert priya.id in ids, typed
    isabella = _conv("Isabella")  # Isabella García
    ids = []
    for tab in ("unread", "read"):
        ids += _row_ids(client.get(f"/inbox?q=garcia&tab={tab}").get_data(as_text=True))
    assert isabella.id in ids
    html = client.get("/inbox?q=zzzz&tab=read").get_data(as_text=True)
    assert "No read conversations match “zzzz”" in html and "other-tab-link" not in html
    # Nothing on this tab, but on the other: the empty list says so, with the way there.
    tab = "read" if db.session.get(Conversation, isabella.id).unread else "unread"
    html = client.get(f"/inbox?q=garcia&tab={tab}").get_data(as_text=True)
    assert f"No {tab} conversations match “garcia”" in html
    other = "unread" if tab == "read" else "read"
    link = re.search(r'<a href="([^"]+)"[^>]*id="other-tab-link">1 in (\w+)</a>', html)
    assert link and link[2] == other.capitalize()
    assert ("tab=read" in link[1]) == (other == "read")  # Unread is the default tab
    html = client.get("/inbox?q=50%25_x").get_data(as_text=True)  # LIKE wildcards are text
    assert _row_ids(html) == []
    # Searched inside another clinic than the patient's: the message names the clinic it
    # searched, with the way to search them all.
    other = db.session.scalars(
        select(Clinic).where(
            Clinic.account_id == isabella.account_id, Clinic.id != isabella.clinic_id
        )
    ).first()
    for tab in ("unread", "read"):
        html = client.get(f"/inbox?q=garcia&tab={tab}&clinic={other.id}").get_data(as_text=True)
        assert f"No {tab} conversations at {other.name} match “garcia”" in html
        link = re.search(r'<a href="([^"]+)" id="all-clinics-search">Search all clinics</a>', html)
        assert link and "clinic=" not in link[1] and "q=garcia" in link[1]
    html = client.get("/inbox?q=zzzz&tab=read").get_data(as_text=True)
    assert "all-clinics-search" not in html  # no clinic picked: nothing more to search


def test_search_and_filters_answer_htmx_with_a_fragment(client, demo):
    login(client, "staff@glow.test")
    frag = client.get("/inbox?q=ava", headers={**HTMX, "HX-Target": "list-body"})
    text = frag.get_data(as_text=True)
    assert "<html" not in text and 'id="conv-list"' in text
    assert 'hx-swap-oob="true"' in text  # menu, badge and search state update in place
    full = client.get("/inbox?q=ava").get_data(as_text=True)
    assert full.startswith("<!doctype html>") and 'value="ava"' in full


def test_keyset_pages_cover_everything_once_in_order(client, demo):
    many_conversations(demo, 120)
    login(client, "staff@glow.test")
    html = client.get("/inbox?tab=read").get_data(as_text=True)
    seen = _row_ids(html)
    assert len(seen) == 50
    while (m := re.search(r'hx-get="(/inbox/list\?[^"]+)"', html)) is not None:
        html = client.get(m.group(1).replace("&amp;", "&"), headers=HTMX).get_data(as_text=True)
        assert "<html" not in html
        seen += _row_ids(html)
    total = db.session.scalar(
        select(db.func.count(Conversation.id)).where(Conversation.unread.is_(False))
    )
    assert len(seen) == len(set(seen)) == total
    keys = [(db.session.get(Conversation, c).last_message_at, c) for c in seen]
    assert keys == sorted(keys, reverse=True)


def _search_pages(client, q: str, tab: str) -> list[int]:
    html = client.get("/inbox", query_string={"q": q, "tab": tab}).get_data(as_text=True)
    seen = _row_ids(html)
    while (m := re.search(r'hx-get="(/inbox/list\?[^"]+)"', html)) is not None:
        html = client.get(m.group(1).replace("&amp;", "&"), headers=HTMX).get_data(as_text=True)
        seen += _row_ids(html)
    return seen


@pytest.mark.parametrize("broad_from", [10**9, 50, 1])  # never, at 120 matches, always
def test_a_broad_search_pages_like_a_narrow_one(app, client, demo, monkeypatch, broad_from):
    """A search matching many patients reads its pages by another plan (the list index,
    each entry tested against the matched ids): same rows, same order, same scope."""
    from inbox.services import conversations as convs

    monkeypatch.setattr(convs, "BROAD_SEARCH", broad_from)
    many_conversations(demo, 120)  # "Bulk000".."Bulk119", read, ties on the time
    ours = db.session.scalars(
        select(Conversation).join(Patient).where(Patient.first_name.like("Bulk%"))
    ).all()
    expected = [c.id for c in sorted(ours, key=lambda c: (c.last_message_at, c.id), reverse=True)]
    login(client, "staff@glow.test")
    _, sql = get_with_sql(app, client, "/inbox?q=bulk&tab=read")
    walked = any(re.search(r"\) IS (true|1)\b", s) for s in sql)
    assert walked == (broad_from <= 120)
    assert _search_pages(client, "bulk", "read") == expected
    assert _search_pages(client, "bulk", "unread") == []
    assert _search_pages(client, "bulk1", "read") == [
        c for c in expected if db.session.get(Conversation, c).patient.first_name >= "Bulk1"
    ]
    # A user limited to another clinic finds none of them.
    other = next(c for c in demo.clinics if c.id != ours[0].clinic_id)
    login(client, clinic_limited_user(demo, [other]).email)
    assert _search_pages(client, "bulk", "read") == []


def test_a_very_broad_search_on_postgresql_is_left_to_the_planner(app, client, demo, monkeypatch):
    from inbox.services import conversations as convs

    monkeypatch.setattr(convs, "BROAD_SEARCH", 5)
    monkeypatch.setattr(convs, "VERY_BROAD_SEARCH", 100)
    many_conversations(demo, 120)
    login(client, "staff@glow.test")
    _, sql = get_with_sql(app, client, "/inbox?q=bulk&tab=read")
    walked = any(re.search(r"\) IS (true|1)\b", s) for s in sql)
    assert walked == (db.engine.dialect.name == "sqlite")  # which has no better plan
    assert len(_search_pages(client, "bulk", "read")) == 120


def test_list_query_count_does_not_grow_with_rows(app, client, demo):
    login(client, "staff@glow.test")

    _, few = get_with_sql(app, client, "/inbox?tab=read")
    many_conversations(demo, 60)
    _, sql = get_with_sql(app, client, "/inbox?tab=read")
    assert len(few) == len(sql), "the inbox list must not run a query per row"
    assert not any(re.search(r"\bFROM messages\b", s) for s in sql), "counts never scan messages"


def test_bulk_mark_read_and_unread(client, demo):
    login(client, "staff@glow.test")
    html = client.get("/inbox?tab=unread").get_data(as_text=True)
    ids = _row_ids(html)[:3]
    token = csrf_token(client, "/inbox")
    r = client.post(
        "/inbox/bulk",
        data={"ids": [str(i) for i in ids], "action": "read", "tab": "unread", "csrf_token": token},
        headers={**HTMX, "HX-Target": "list-body"},
    )
    text = r.get_data(as_text=True)
    fresh()
    assert all(not db.session.get(Conversation, i).unread for i in ids)
    assert not set(ids) & set(_row_ids(text))
    remaining = db.session.scalar(
        select(db.func.count(Conversation.id)).where(Conversation.unread.is_(True))
    )
    assert f'id="count-unread">{remaining}<' in text and f'data-count="{remaining}"' in text
    r = client.post(
        "/inbox/bulk",
        data={"ids": [str(ids[0])], "action": "unread", "tab": "read", "csrf_token": token},
    )
    assert r.status_code == 302
    fresh()
    assert db.session.get(Conversation, ids[0]).unread


def test_bulk_ignores_ids_the_user_cannot_see(client, demo):
    login(client, "admin@fresh.test")
    conv = db.session.scalars(select(Conversation).where(Conversation.unread.is_(True))).first()
    token = csrf_token(client, "/")
    client.post("/inbox/bulk", data={"ids": [str(conv.id)], "action": "read", "csrf_token": token})
    fresh()
    assert db.session.get(Conversation, conv.id).unread


def test_opening_marks_read_and_one_click_marks_unread(client, demo):
    login(client, "staff@glow.test")
    ava = _conv("Ava")
    assert ava.unread
    r = client.get(f"/inbox/c/{ava.id}", headers={**HTMX, "HX-Target": "conversation-pane"})
    text = r.get_data(as_text=True)
    assert "<html" not in text and "Mark as unread" in text
    assert f'id="conv-{ava.id}"' in text and 'hx-swap-oob="true"' in text  # the row updates
    fresh()
    assert not db.session.get(Conversation, ava.id).unread
    token = csrf_token(client, f"/inbox/c/{ava.id}")
    r = client.post(
        f"/inbox/c/{ava.id}/read-state", data={"unread": "1", "csrf_token": token},
        headers={**HTMX, "HX-Target": "conversation-pane"},
    )  # fmt: skip
    assert "Mark as read" in r.get_data(as_text=True)
    fresh()
    assert db.session.get(Conversation, ava.id).unread


def test_conversation_groups_by_day_and_search_highlights(client, demo):
    login(client, "staff@glow.test")
    ava = _conv("Ava")
    html = client.get(f"/inbox/c/{ava.id}?find=thursday").get_data(as_text=True)
    assert 'class="day-sep"' in html
    assert "<mark>Thursday</mark>" in html
    assert "2 messages match “thursday”" in html


def test_patient_text_is_escaped_everywhere(client, demo, sandbox):
    from inbox.sandbox import send_inbound

    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    send_inbound(sandbox.state, "19175550100", "12125550134", payload)
    login(client, "staff@glow.test")
    ava = _conv("Ava")
    for url in ("/inbox", f"/inbox/c/{ava.id}", f"/inbox/c/{ava.id}?find=script",
                f"/patients/{ava.patient_id}"):  # fmt: skip
        html = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;" in html or "&lt;mark" not in html


def test_segment_counter(client, demo):
    login(client, "staff@glow.test")
    token = csrf_token(client, "/inbox")

    def counter(body):
        return client.post(
            "/inbox/segments", data={"body": body, "csrf_token": token}, headers=HTMX
        ).get_data(as_text=True)

    assert "1 text · 5/160" in counter("hello")
    assert "2 texts · 161/306" in counter("a" * 161)
    assert "Unicode" in counter("hi 😀")
    too_long = counter("a" * (153 * 6 + 1))
    assert "Too long: 7 texts. The limit is 6" in too_long


def test_failed_text_shows_reason_and_retry_sends_it(app, client, demo, sandbox):
    from tests.conftest import run_jobs

    login(client, "staff@glow.test")
    failed = db.session.scalars(select(Message).where(Message.status == "failed")).first()
    html = client.get(f"/inbox/c/{failed.conversation_id}").get_data(as_text=True)
    assert "The number is not active" in html and "Retry" in html
    token = csrf_token(client, f"/inbox/c/{failed.conversation_id}")
    r = client.post(
        f"/inbox/messages/{failed.id}/retry", data={"csrf_token": token},
        headers={**HTMX, "HX-Target": "conversation-pane"},
    )  # fmt: skip
    assert 'data-status="queued"' in r.get_data(as_text=True)
    run_jobs(app)
    fresh()
    msg = db.session.get(Message, failed.id)
    assert msg.status in ("sent", "delivered") and msg.error_text is None
    assert not msg.conversation.has_failed


def test_the_open_conversation_keeps_its_row_in_the_unread_list(client, demo):
    """A reload, a deep link or New message opens a conversation with the Unread list
    beside it: the conversation just read stays listed there, selected, in its place (as
    a live update leaves it), not gone from the list on screen."""
    login(client, "staff@glow.test")
    unread = db.session.scalars(
        select(Conversation)
        .where(Conversation.account_id == demo.id, Conversation.unread.is_(True))
        .order_by(Conversation.last_message_at.desc())
    ).all()
    conv = unread[1]  # not the newest: its place is between others
    html = client.get(f"/inbox/c/{conv.id}").get_data(as_text=True)
    ids = _row_ids(html)
    assert conv.id in ids
    assert ids.index(conv.id) == 1  # where it was
    row = re.search(rf'<li class="conv-row ([^"]*)" id="conv-{conv.id}"', html)
    assert "selected" in row[1] and "unread" not in row[1]
    fresh()
    assert not db.session.get(Conversation, conv.id).unread
    # Only the open one: other read conversations stay out of the Unread list...
    others = _row_ids(client.get("/inbox").get_data(as_text=True))
    assert conv.id not in others
    # ... and a list that does not hold it (another clinic) does not show it.
    other_clinic = db.session.scalars(
        select(Clinic).where(Clinic.account_id == demo.id, Clinic.id != conv.clinic_id)
    ).first()
    html = client.get(f"/inbox/c/{conv.id}?clinic={other_clinic.id}").get_data(as_text=True)
    assert conv.id not in _row_ids(html)
