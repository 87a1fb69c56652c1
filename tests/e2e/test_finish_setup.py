"""Finish Setup when Vonage is down: the page says why, with the number still on screen and
at the review page's own address (a reload shows it again, never a GET of the POST);
nothing is bought, and the button works again: the next click buys the number."""

import re

from playwright.sync_api import expect
from sqlalchemy import select

from tests.e2e.conftest import DESKTOP, login
from tests.e2e.test_inbox_settings import _numbers

REVIEW = "/settings/inbox/setup/review?number=%2B12125550131&area_code=212"


def test_vonage_down_at_finish_setup_buys_nothing_and_says_so(page, stack, app):
    from inbox.extensions import db
    from inbox.models import PLAN_ACCELERATOR, User
    from inbox.services import billing

    with app.app_context():  # upgraded as in Billing › Subscriptions (the article's walk)
        admin = db.session.scalars(select(User).where(User.email == "admin@fresh.test")).one()
        billing.change_plan(admin, PLAN_ACCELERATOR)
    before = _numbers(stack, "/number/buy")
    page.set_viewport_size(DESKTOP)
    login(page, stack, "admin@fresh.test")
    page.goto(stack.url + REVIEW)

    stack.sandbox_fault("http503", "/number/buy")
    page.get_by_role("button", name="Finish Setup").click()
    expect(page.locator("#finish-error")).to_contain_text("no number was bought")
    expect(page.locator("#review-number")).to_have_text("(212) 555-0131")
    expect(page).to_have_url(re.compile(re.escape(REVIEW) + "$"))
    expect(page.get_by_role("button", name="Finish Setup")).to_be_enabled()
    assert _numbers(stack, "/number/buy") == [*before, "12125550131"]  # asked once, refused
    page.reload()
    expect(page.locator("#review-number")).to_have_text("(212) 555-0131")
    expect(page.locator("#finish-error")).to_have_count(0)

    page.get_by_role("button", name="Finish Setup").click()
    expect(page).to_have_url(re.compile(r"/settings/inbox/setup/done$"))
    expect(page.locator("#done-number")).to_have_text("(212) 555-0131")
    assert _numbers(stack, "/number/buy") == [*before, "12125550131", "12125550131"]
