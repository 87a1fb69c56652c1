"""A list longer than a page: scrolling the list pane loads the next pages (keyset), in
order, each row once, and "Load more…" does the same on a click."""

from playwright.sync_api import expect
from sqlalchemy import select

from inbox.extensions import db
from inbox.models import Account, Conversation
from tests.conftest import many_conversations
from tests.e2e.conftest import login


def _read_total(app) -> int:
    with app.app_context():
        return db.session.scalar(
            select(db.func.count(Conversation.id)).where(
                Conversation.unread.is_(False), Conversation.last_message_at.is_not(None)
            )
        )


def test_scrolling_the_list_loads_every_page_once(app, page, stack):
    with app.app_context():
        glow = db.session.scalars(select(Account).order_by(Account.id)).first()
        many_conversations(glow, 120)
    total = _read_total(app)
    login(page, stack, "staff@glow.test")
    page.goto(stack.url + "/inbox?tab=read")
    rows = page.locator("#conv-list .conv-row")
    expect(rows).to_have_count(50)
    for shown in (100, total):
        page.locator("#conv-list").evaluate("el => { el.scrollTop = el.scrollHeight; }")
        expect(rows).to_have_count(min(shown, total), timeout=5000)
    ids = page.eval_on_selector_all("#conv-list .conv-row", "els => els.map(e => e.id)")
    assert len(set(ids)) == len(ids) == total
    expect(page.locator(".conv-more")).to_have_count(0)

    # A search's pages the same way; "Load more…" also answers a click.
    page.goto(stack.url + "/inbox?tab=read&q=bulk")
    expect(rows).to_have_count(50)
    page.get_by_role("link", name="Load more…").click()
    expect(rows).to_have_count(100, timeout=5000)
    page.locator("#conv-list").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    expect(rows).to_have_count(120, timeout=5000)
    names = page.eval_on_selector_all(
        "#conv-list .conv-name", "els => els.map(e => e.textContent.trim())"
    )
    assert len(set(names)) == 120 and all(n.startswith("Bulk") for n in names)
