"""Settings › Integrations › Webhooks, as the Main Admin uses it: Add endpoint pointing at
a receiver started here, Send test event, the delivery in the log with its response code
(the page refreshes it), Resend; the receiver verifies both with `standardwebhooks`."""

import os
import re

from playwright.sync_api import expect
from standardwebhooks import Webhook

from tests.conftest import wait_for
from tests.e2e.conftest import login, screenshot, settle
from tests.receiver import Receiver

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
SHOTS = os.environ.get("WEBHOOK_SHOTS")  # a folder: also save this page's screenshots there


def _shot(page, name: str) -> None:
    screenshot(page, name)
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def test_the_main_admin_adds_an_endpoint_sends_a_test_event_and_resends_it(page, stack):
    receiver = Receiver().start()
    try:
        page.set_viewport_size(DESKTOP)
        login(page, stack, "admin@glow.test")
        page.goto(stack.url + "/settings")
        page.get_by_role("link", name="Webhooks").click()
        expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
        expect(page.locator("#webhooks-link")).to_have_class(re.compile("active"))

        # A URL that is not one is refused, and what was typed stays.
        page.get_by_label("URL").fill("receiver.example")
        page.get_by_label("Include message text").check()
        page.get_by_role("button", name="Add endpoint").click()
        expect(page.locator("#endpoint-error")).to_contain_text("Enter a full URL")
        expect(page.get_by_label("URL")).to_have_value("receiver.example")
        expect(page.get_by_label("Include message text")).to_be_checked()
        _shot(page, "settings-webhooks")

        page.get_by_label("URL").fill(receiver.url)
        page.get_by_label("Include message text").uncheck()
        page.get_by_role("button", name="Add endpoint").click()
        expect(page.get_by_role("status")).to_contain_text("Endpoint added")
        expect(page.locator("#endpoint-state")).to_have_text("Active")
        secret = page.locator("#signing-secret").inner_text()
        assert secret.startswith("whsec_")
        settle(page)

        page.get_by_role("button", name="Send test event").click()
        row = page.locator("#deliveries-table tbody tr").first
        # The job sends it; the log refreshes itself until it has a result.
        expect(row.locator(".delivery-code")).to_have_text("200", timeout=15_000)
        expect(row).to_contain_text("webhook.test")
        expect(row).to_contain_text("Delivered")
        assert wait_for(lambda: len(receiver.received) == 1)
        headers, body = receiver.received[0]
        payload = Webhook(secret).verify(body, headers)
        assert payload["type"] == "webhook.test"
        _shot(page, "settings-webhook-endpoint")

        row.get_by_role("button", name=re.compile("^Resend")).click()
        expect(page.get_by_role("status")).to_contain_text("queued again")
        expect(page.locator("#deliveries-table tbody tr")).to_have_count(2)
        expect(
            page.locator("#deliveries-table tbody tr").first.locator(".delivery-code")
        ).to_have_text("200", timeout=15_000)
        assert wait_for(lambda: len(receiver.received) == 2)
        again_headers, again_body = receiver.received[1]
        assert Webhook(secret).verify(again_body, again_headers)["type"] == "webhook.test"
        # The same event: a receiver that already has it can tell by its webhook-id.
        assert again_headers["webhook-id"] == headers["webhook-id"]

        page.set_viewport_size(PHONE)
        page.reload()
        expect(page.locator("#deliveries-table tbody tr").first).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], width
        _shot(page, "settings-webhook-endpoint-phone")
    finally:
        receiver.stop()


def test_a_disabled_endpoint_says_why_and_enable_turns_it_back_on(page, stack, app):
    """What the Main Admin finds after 24 hours of failures (the turning off itself is
    shown in tests/integration/test_event_webhooks.py)."""
    from sqlalchemy import select

    from inbox.extensions import db
    from inbox.models import Account, WebhookEndpoint, utcnow
    from inbox.services import hook_endpoints

    with app.app_context():
        glow = db.session.scalars(select(Account).where(Account.name == "Glow Aesthetics")).one()
        endpoint = hook_endpoints.create_endpoint(
            glow, url="http://127.0.0.1:9/down", events=["message.received"]
        )
        endpoint.enabled = False
        endpoint.disabled_at = utcnow()
        endpoint.disabled_reason = (
            "Every delivery failed for 24 hours; the last: The endpoint answered 503"
        )
        db.session.commit()
        endpoint_id = endpoint.id
    try:
        page.set_viewport_size(DESKTOP)
        login(page, stack, "admin@glow.test")
        page.goto(stack.url + "/settings/integrations/webhooks")
        item = page.locator(f"#endpoint-{endpoint_id}")
        expect(item).to_contain_text("Disabled")
        expect(item).to_contain_text("answered 503")
        item.get_by_role("link", name=re.compile("^Open")).click()
        expect(page.locator("#disabled-reason")).to_contain_text("answered 503")
        expect(page.get_by_role("button", name="Send test event")).to_be_disabled()
        _shot(page, "settings-webhook-disabled")
        page.get_by_role("button", name="Enable").click()
        expect(page.get_by_role("status")).to_contain_text("Endpoint enabled")
        expect(page.locator("#endpoint-state")).to_have_text("Active")
        expect(page.locator("#disabled-reason")).to_have_count(0)
    finally:
        with app.app_context():
            db.session.execute(
                WebhookEndpoint.__table__.delete().where(WebhookEndpoint.id == endpoint_id)
            )
            db.session.commit()
