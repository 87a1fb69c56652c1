"""Idle logoff in Chromium against real processes, with the idle time shortened to 12 s
(warning 6 s before; the server renews its idle clock at most every 5 s, so the warning
comes after a renewal is due): the banner, "Stay signed in", texts arriving over the websocket
that do not keep the session alive, the move to the login page, and an htmx click after
the session ended that lands on the login page instead of swapping it into a pane."""

from __future__ import annotations

import re
import time

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.conftest import login, running_stack

IDLE_SECONDS = 12
WARNING_SECONDS = 6
AVA = "19175550100"


@pytest.fixture(scope="module")
def idle_stack(app, database_url, redis_url):
    idle = {
        "IDLE_LOGOFF_MINUTES": f"{IDLE_SECONDS / 60:g}",
        "IDLE_WARNING_SECONDS": str(WARNING_SECONDS),
    }
    with running_stack(app, database_url, redis_url, **idle) as s:
        yield s


def _open_ava(page, stack) -> None:
    page.goto(stack.url + "/inbox?tab=read&q=Ava")
    row = page.locator(".conv-row", has_text="Ava Martinez")
    if row.count() == 0:
        page.goto(stack.url + "/inbox?q=Ava")
        row = page.locator(".conv-row", has_text="Ava Martinez")
    row.locator(".conv-link").click()
    expect(page.locator("#conversation-name")).to_have_text("Ava Martinez")


def test_warning_stay_signed_in_then_signed_out_despite_live_texts(browser, idle_stack):
    stack = idle_stack
    ctx = browser.new_context()
    page = ctx.new_page()
    login(page, stack, "staff@glow.test")
    _open_ava(page, stack)
    banner = page.locator("#idle-warning")
    expect(banner).to_be_hidden()

    # A minute (here: 6 s) before the end, the warning.
    expect(banner).to_be_visible(timeout=(IDLE_SECONDS - WARNING_SECONDS + 4) * 1000)
    expect(banner).to_contain_text("You will be signed out in")
    left = int(page.locator("#idle-seconds").inner_text())
    assert 0 < left <= WARNING_SECONDS
    with page.expect_response("**/session/keepalive") as kept:
        page.get_by_role("button", name="Stay signed in").click()
    assert kept.value.status == 200
    expect(banner).to_be_hidden()
    stayed_at = time.monotonic()

    # Texts keep arriving in the open conversation (websocket fragments, and app.js marking the
    # conversation read): none of that is the user, so it must not keep the session alive.
    seen = []
    page.on(
        "request",
        lambda r: seen.append(r.headers.get("x-background")) if "/seen" in r.url else None,
    )
    n = 0
    while "/login" not in page.url and time.monotonic() - stayed_at < IDLE_SECONDS + 8:
        n += 1
        requests.post(
            stack.sandbox_url + "/_sandbox/inbound",
            json={"from": AVA, "to": "12125550134", "text": f"are you there? {n}"}, timeout=5,
        )  # fmt: skip
        page.wait_for_timeout(1500)
    page.wait_for_url("**/login**", timeout=5000)
    gone_after = time.monotonic() - stayed_at
    assert IDLE_SECONDS - 2 <= gone_after <= IDLE_SECONDS + 8, gone_after
    expect(page.locator(".flash-stack")).to_contain_text(
        f"signed out after {IDLE_SECONDS / 60:g} minutes"
    )
    assert seen and all(h == "1" for h in seen)  # the seen-marks went out as background
    # Really signed out on the server, not just on this page.
    page.goto(stack.url + "/inbox")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    ctx.close()


def test_htmx_click_after_the_session_ended_goes_to_the_login_page(browser, idle_stack):
    stack = idle_stack
    ctx = browser.new_context()
    page = ctx.new_page()
    # Keep the page's own countdown from moving first: it is told there is plenty of time.
    page.route(
        "**/session/status",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body='{"remaining": 999, "warning": 10}'
        ),
    )
    login(page, stack, "staff@glow.test")
    page.goto(stack.url + "/inbox?tab=read")
    rows = page.locator("#conv-list .conv-row .conv-link")
    expect(rows.first).to_be_visible()
    page.wait_for_timeout((IDLE_SECONDS + 1) * 1000)
    assert "/inbox" in page.url  # nothing moved by itself
    with page.expect_response(lambda r: "/inbox/c/" in r.url) as fragment:
        rows.first.click()
    assert fragment.value.status == 401
    assert fragment.value.headers["hx-redirect"].startswith("/login")
    page.wait_for_url("**/login**", timeout=5000)
    expect(page.get_by_label("Password")).to_be_visible()
    expect(page.locator("#conversation-pane")).to_have_count(0)  # a page, not a pane
    ctx.close()
