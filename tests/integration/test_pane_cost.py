"""What opening a conversation and re-rendering the list cost (issue 25): statements per
pane, only what changed around it, the audit row in the same transaction, and the bytes of
a 50-row list page. On SQLite and PostgreSQL alike (the suite runs on both)."""

import json
import re

import pytest
from sqlalchemy import event, select

from inbox.extensions import db
from inbox.models import AuditEvent, Conversation, WebhookDelivery
from inbox.models.audit import AUDIT_VIEWED_CONVERSATION
from inbox.services import hook_endpoints
from tests.conftest import fresh, get_with_sql, login, many_conversations

PANE = {"HX-Request": "true", "HX-Target": "conversation-pane"}
LIST = {"HX-Request": "true", "HX-Target": "list-body"}
MAX_STATEMENTS = 6
MAX_LIST_BYTES = 25_000
REACHED_LIST_BYTES = 41_000


def _unread() -> Conversation:
    return db.session.scalars(
        select(Conversation).where(Conversation.unread.is_(True)).order_by(Conversation.id)
    ).first()


def test_opening_a_conversation_takes_at_most_six_statements(app, client, demo):
    login(client, "staff@glow.test")
    conv = _unread()
    html, unread_sql = get_with_sql(app, client, f"/inbox/c/{conv.id}", PANE)
    assert f'data-conversation="{conv.id}"' in html
    assert len(unread_sql) <= MAX_STATEMENTS, "\n".join(unread_sql)
    # Already read: less still (nothing to write but the audit row, no counts to send).
    html, read_sql = get_with_sql(app, client, f"/inbox/c/{conv.id}", PANE)
    assert len(read_sql) <= MAX_STATEMENTS - 2, "\n".join(read_sql)
    fresh()
    assert not db.session.get(Conversation, conv.id).unread
    viewed = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == AUDIT_VIEWED_CONVERSATION, AuditEvent.object_id == conv.id
        )
    ).all()
    assert len(viewed) == 2  # each open audited


def test_opening_an_unread_one_writes_once_and_sends_what_changed(app, client, demo):
    login(client, "staff@glow.test")
    conv = _unread()
    commits: list[str] = []

    def count(conn):
        commits.append("commit")

    with app.app_context():
        engine = db.engine
    event.listen(engine, "commit", count)
    try:
        first = client.get(f"/inbox/c/{conv.id}", headers=PANE).get_data(as_text=True)
        n_first = len(commits)
        again = client.get(f"/inbox/c/{conv.id}", headers=PANE).get_data(as_text=True)
    finally:
        event.remove(engine, "commit", count)
    # The read state and the audit row: one transaction (and one for the read one's audit).
    assert n_first == 1 and len(commits) == 2
    # Around the pane, what changed: the row, counts, menu views, badge; not the clinics.
    assert 'id="menu-views" hx-swap-oob="true"' in first and 'id="count-unread"' in first
    assert 'id="inbox-badge"' in first and f'data-id="conv-{conv.id}"' in first
    assert 'id="menu"' not in first
    # Already read: nothing around it changed, nothing sent.
    assert "hx-swap-oob" not in again and 'id="menu-views"' not in again
    # The composer: no saved replies rendered until the menu opens, the counter rendered.
    assert "template-item" not in again and 'class="template-menu" hx-get=' in again
    assert "160 characters per text" in again


def test_opening_an_unread_one_tells_the_webhook_endpoints_it_was_read(app, client, demo):
    """As Mark as read does (services.event_hooks): one conversation.read delivery, written
    in the same transaction; two statements more, only for a practice with an endpoint."""
    from tests.receiver import Receiver

    receiver = Receiver().start()
    try:
        hook_endpoints.create_endpoint(demo, url=receiver.url, events=["conversation.read"])
        login(client, "staff@glow.test")
        conv = _unread()
        _, sql = get_with_sql(app, client, f"/inbox/c/{conv.id}", PANE)
        assert len(sql) <= MAX_STATEMENTS + 2, "\n".join(sql)
        client.get(f"/inbox/c/{conv.id}", headers=PANE)  # already read: nothing more
        fresh()
        deliveries = db.session.scalars(select(WebhookDelivery)).all()
        assert [d.event for d in deliveries] == ["conversation.read"]
        assert json.loads(deliveries[0].payload)["data"]["conversation_id"] == conv.id
    finally:
        receiver.stop()


def test_the_templates_menu_loads_its_items_when_opened(client, demo):
    login(client, "staff@glow.test")
    conv = _unread()
    html = client.get(f"/inbox/c/{conv.id}", headers=PANE).get_data(as_text=True)
    url = re.search(r'class="template-menu" hx-get="([^"]+)"', html)[1]
    items = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert items.count('class="template-item"') >= 1
    assert f"Hi {conv.patient.first_name}" in items  # filled in for this patient


def _list_page(app, client, demo) -> int:
    many_conversations(demo, 60)
    login(client, "staff@glow.test")
    html, _ = get_with_sql(app, client, "/inbox?tab=read", LIST)
    assert html.count('class="conv-row') == 50
    return len(html.encode())


# Not reached (bench/RESULTS.md, issue 25): each row still carries what a person sees and
# hears (two links, the checkbox and the profile link with their names and tooltips, the
# data the live updates place rows by). strict: the day it passes, drop the mark.
@pytest.mark.xfail(strict=True, reason="issue 25: 25 KB not reached; see bench/RESULTS.md")
def test_a_list_page_of_fifty_rows_weighs_at_most_25_kb(app, client, demo):
    assert _list_page(app, client, demo) <= MAX_LIST_BYTES


def test_a_list_page_of_fifty_rows_stays_as_small_as_reached(app, client, demo):
    """What issue 25 reached for these 50 rows (about 40 KB), kept from growing back."""
    assert _list_page(app, client, demo) <= REACHED_LIST_BYTES
