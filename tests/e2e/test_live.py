"""Live inbox: two staff in two browsers, the app under gunicorn with two worker processes
and an RQ worker; a patient's text, a reply and a receipt reach both within a second."""

import re

import requests
from playwright.sync_api import expect

from tests.e2e.conftest import live_frames, login, wait_http, wait_js, wait_live_told

AVA = "19175550100"


def _text_in(stack, text: str) -> None:
    r = requests.post(
        stack.sandbox_url + "/_sandbox/inbound",
        json={"from": AVA, "to": "12125550134", "text": text}, timeout=5,
    )  # fmt: skip
    assert r.json()["status"] == 200


def _badge(page) -> int:
    return int(page.locator("#inbox-badge").get_attribute("data-count"))


def _open_conversation(page, stack, name: str) -> None:
    page.goto(stack.url + "/inbox?tab=read&q=" + name.split()[0])
    row = page.locator(".conv-row", has_text=name)
    if row.count() == 0:
        page.goto(stack.url + "/inbox?q=" + name.split()[0])
        row = page.locator(".conv-row", has_text=name)
    row.locator(".conv-link").click()
    expect(page.locator("#conversation-name")).to_have_text(name)
    expect(page.locator("#segment-counter")).not_to_be_empty()


def test_two_staff_see_texts_replies_and_receipts_live(browser, stack):
    a_ctx, b_ctx = browser.new_context(), browser.new_context()
    a, b = a_ctx.new_page(), b_ctx.new_page()
    a_sent, b_sent = live_frames(a), live_frames(b)
    login(a, stack, "staff@glow.test")
    login(b, stack, "admin@glow.test")
    _open_conversation(a, stack, "Liam Chen")  # A reads someone else
    b.goto(stack.url + "/inbox?tab=unread")  # B watches the Unread list
    wait_live_told(a, a_sent)  # both sockets connected and told what they show
    wait_live_told(b, b_sent)
    badge_a, badge_b = _badge(a), _badge(b)
    bump = 0 if b.locator("#conv-list .conv-row", has_text="Ava Martinez").count() else 1

    _text_in(stack, "Is parking validated?")
    for page, before in ((a, badge_a), (b, badge_b)):
        expect(page.locator("#inbox-badge")).to_have_attribute(
            "data-count", str(before + bump), timeout=1000
        )
    top = b.locator("#conv-list .conv-row").first
    expect(top).to_contain_text("Ava Martinez", timeout=1000)
    expect(top).to_contain_text("Is parking validated?", timeout=1000)
    assert re.search(r"\(\d+\) ", b.title())

    # Both open Ava's conversation; the next text lands in both conversations.
    _open_conversation(a, stack, "Ava Martinez")
    _open_conversation(b, stack, "Ava Martinez")
    wait_live_told(a, a_sent)
    wait_live_told(b, b_sent)
    draft = "half-typed reply"
    b.get_by_label("Reply").fill(draft)
    # As if A had opened the conversation yesterday: today's text brings its own heading.
    a.evaluate(
        "document.querySelectorAll('#messages .day-sep span')"
        ".forEach((s) => { s.textContent = 'Yesterday'; })"
    )
    _text_in(stack, "Also, can I pay by card?")
    for page in (a, b):
        expect(page.locator(".msg.in", has_text="Also, can I pay by card?")).to_be_visible(
            timeout=1000
        )
    heading = a.locator("#messages .day-sep").last
    expect(heading).to_have_text("Today")
    assert a.evaluate(
        "(() => { const s = [...document.querySelectorAll('#messages .day-sep')].pop();"
        " return s.nextElementSibling.textContent.includes('Also, can I pay by card?'); })()"
    )
    expect(b.locator("#messages .day-sep", has_text="Today")).to_have_count(1)  # no repeat
    expect(b.get_by_label("Reply")).to_have_value(draft)  # nothing typed is lost

    # A replies: B sees it, and the receipt flips the chip in both.
    a.get_by_label("Reply").fill("Yes, all cards are fine!")
    a.get_by_label("Reply").press("Enter")
    for page in (a, b):
        bubble = page.locator(".msg.out", has_text="Yes, all cards are fine!")
        expect(bubble).to_be_visible(timeout=1000)
        expect(bubble.locator(".status")).to_have_attribute(
            "data-status", "delivered", timeout=3000
        )
    a_ctx.close()
    b_ctx.close()


def test_a_conversation_read_in_another_tab_comes_back_to_the_read_list(browser, stack):
    """A's tab has Ava's conversation open; B watches the Read tab. Ava texts: her row leaves B's
    Read list (unread now), A's open conversation reads it at once, and the row comes back to
    B's Read list, in its place by time, without a reload."""
    a_ctx, b_ctx = browser.new_context(), browser.new_context()
    a, b = a_ctx.new_page(), b_ctx.new_page()
    a_sent, b_sent = live_frames(a), live_frames(b)
    login(a, stack, "staff@glow.test")
    login(b, stack, "admin@glow.test")
    _open_conversation(a, stack, "Ava Martinez")  # read now
    b.goto(stack.url + "/inbox?tab=read")
    ava = b.locator("#conv-list .conv-row", has_text="Ava Martinez")
    expect(ava).to_have_count(1)
    wait_live_told(a, a_sent)  # both sockets connected and told what they show
    wait_live_told(b, b_sent)
    _text_in(stack, "Running five minutes late")
    expect(a.locator(".msg.in", has_text="Running five minutes late")).to_be_visible(timeout=2000)
    expect(ava).to_have_count(1, timeout=3000)
    expect(ava).to_contain_text("Running five minutes late")
    expect(b.locator("#conv-list .conv-row").first).to_contain_text("Ava Martinez")
    count = int(b.locator("#count-read").inner_text())
    assert b.locator("#conv-list .conv-row").count() == min(count, 50)  # list and tab agree
    a_ctx.close()
    b_ctx.close()


def test_reconnect_after_restart_shows_what_arrived_while_down(browser, stack):
    ctx = browser.new_context()
    page = ctx.new_page()
    login(page, stack, "staff@glow.test")
    _open_conversation(page, stack, "Ava Martinez")
    stack.stop("web")
    expect(page.locator("#live-status")).to_be_visible(timeout=5000)
    # A text arrives and is stored while this page has no socket (another web process
    # takes the webhook: here, a second gunicorn on its own port).
    spare = stack.spare_web()
    try:
        r = requests.post(
            stack.sandbox_url + "/_sandbox/inbound",
            json={"from": AVA, "to": "12125550134", "text": "Sent while you were offline",
                  "url": spare + "/webhooks/vonage/inbound"},
            timeout=5,
        )  # fmt: skip
        assert r.json()["status"] == 200
    finally:
        stack.stop("spare")
    # However long the server was away, the tab tries again within 5 s (htmx's own
    # backoff grows to a minute), so it is live again soon after the server is.
    delays = page.evaluate("[0, 3, 6, 12].map((n) => htmx.config.wsReconnectDelay(n))")
    assert delays[0] <= 500 and max(delays) <= 5000, delays
    stack.start("web")
    wait_http(stack.url + "/login")
    expect(page.locator("#live-status")).to_be_hidden(timeout=10000)
    expect(page.locator(".msg.in", has_text="Sent while you were offline")).to_be_visible(
        timeout=5000
    )
    ctx.close()


def test_background_tab_gets_a_first_name_only_alert(browser, stack):
    ctx = browser.new_context()
    # A tab in the background with alerts turned on; the Notification API is recorded.
    ctx.add_init_script(
        """
        Object.defineProperty(document, "visibilityState", { get: () => "hidden" });
        window.__alerts = [];
        window.Notification = function (title, options) {
          window.__alerts.push([title, options.body]);
        };
        window.Notification.permission = "granted";
        localStorage.setItem("ci-alerts", "1");
        window.__sounds = [];
        window.Audio = function (src) {
          return { play: () => { window.__sounds.push(src); return Promise.resolve(); } };
        };
        localStorage.setItem("ci-sound", "1");
        """
    )
    page = ctx.new_page()
    sent = live_frames(page)
    login(page, stack, "staff@glow.test")  # lands on /inbox: one page, one socket (a
    # second load of the same URL let wait_live_told read the first socket's frame)
    expect(page).to_have_url(stack.url + "/inbox")
    expect(page.locator("#alerts-toggle")).to_have_attribute("aria-pressed", "true")
    wait_live_told(page, sent)
    _text_in(stack, "My lips feel a bit swollen, is that normal?")
    wait_js(page, "() => window.__alerts.length > 0", timeout=10)  # content, not latency
    alerts = page.evaluate("window.__alerts")
    assert alerts[0][0] == "New text from Ava"
    assert "swollen" not in " ".join(alerts[0])  # no patient text on the lock screen
    # With sound on, the tone too: a file of the app's own (the page's CSP allows it).
    sounds = page.evaluate("window.__sounds")
    assert len(sounds) == 1 and "/static/sounds/new-text.wav?v=" in sounds[0], sounds
    tone = page.request.get(stack.url + sounds[0])
    assert tone.ok and tone.headers["content-type"].startswith("audio/")
    ctx.close()


def test_alerts_say_when_the_browser_blocks_them(browser, stack):
    """A refused notification permission is said in words, not a toggle that stays off."""
    ctx = browser.new_context()
    ctx.add_init_script(
        """
        window.Notification = function () {};
        window.Notification.permission = "default";
        window.Notification.requestPermission = () => Promise.resolve("denied");
        """
    )
    page = ctx.new_page()
    login(page, stack, "staff@glow.test")
    page.goto(stack.url + "/inbox")
    toggle = page.locator("#alerts-toggle")
    expect(page.locator("#alerts-blocked")).to_be_hidden()
    toggle.click()
    expect(page.locator("#alerts-blocked")).to_be_visible()
    expect(page.locator("#alerts-blocked")).to_contain_text("blocks notifications")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    # Allowed this time: on, and the message goes.
    page.evaluate("Notification.requestPermission = () => Promise.resolve('granted')")
    page.evaluate("Object.defineProperty(Notification, 'permission', {value: 'granted'})")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#alerts-blocked")).to_be_hidden()
    ctx.close()
