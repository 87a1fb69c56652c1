"""In Chromium, against the real processes:

1. the main pages (login, inbox, conversation, patient profile, every settings page, the Inbox
   setup wizard) raise no Content-Security-Policy violation and no console error;
2. hostile patient texts and patient names (script tags, event handlers, javascript:
   URLs, template and htmx injection, unicode tricks) never run and never become markup:
   in the inbox list, the conversation, the profile and timeline, search results (the payload
   as the search term), live updates over the websocket, desktop alerts and tab titles.

A payload that became markup would mostly be stopped by the CSP, so "nothing ran" is not
enough: every page is also searched for injected elements and attributes, and any CSP
violation fails the test."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import select

from inbox.extensions import db
from inbox.models import Conversation, Patient
from inbox.services.search_text import name_key
from tests.e2e.conftest import (
    live_frames,
    login,
    settle,
    wait_js,
    wait_live_told,
)

OURS = "12125550134"
AVA = "19175550100"
EVIL = "/xss-evil"

PAYLOADS = [
    "<script>window.__xss=1</script>",
    "<script>alert('XSS-FIRED')</script>",
    '<img src=x onerror="window.__xss=1">',
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "'><svg/onload=console.log('XSS-FIRED')>",
    "<svg><script>alert(1)</script></svg>",
    '<a href="javascript:alert(1)">tap me</a>',
    "javascript:alert(1)",
    "{{7*7}} {{ config.SECRET_KEY }}",
    "{% for x in range(3) %}loop{% endfor %}",
    "${alert(1)} #{7*7}",
    f'<div hx-get="{EVIL}" hx-trigger="load">hx</div>',
    f'<button hx-post="{EVIL}" hx-trigger="load">b</button>',
    '<div hx-on:htmx:load="alert(1)">on</div>',
    '<p hx-on::after-settle="window.__xss=1">x</p>',
    '<iframe src="javascript:alert(1)"></iframe>',
    "<body onload=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e",
    "＜script＞alert(1)＜/script＞",
    "<scr<script>ipt>alert(1)</script>",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<template><img src=x onerror=alert(1)></template>",
    "</template><img src=x onerror=alert(1)>",
    "</textarea><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="//evil.example/">',
    "<input autofocus onfocus=alert(1)>",
    "\u202e<img src=x onerror=alert(1)>",
    '<object data="javascript:alert(1)"></object>',
    '" onmouseover="alert(1)',
    "' onfocus='alert(1)' autofocus='",
    "<mark>fake</mark><b onclick=alert(1)>b</b>",
    '<div data-template-text="x" data-open-dialog="compose-dialog">d</div>',
]

# Run in the page after each step: any markup a payload could have become.
INJECTED = """() => {
  const found = [];
  for (const el of document.querySelectorAll("*")) {
    for (const a of el.attributes) {
      const n = a.name.toLowerCase();
      if (n.startsWith("on") || n.startsWith("hx-on") || n.startsWith("data-hx-on")) {
        found.push(el.tagName + "[" + n + "]");
      }
      if (n.startsWith("hx-") && a.value.startsWith("/xss-evil")) found.push(el.tagName + n);
      if ((n === "href" || n === "src" || n === "data") && /^\\s*javascript:/i.test(a.value)) {
        found.push(el.tagName + "[" + n + "=javascript:]");
      }
    }
  }
  for (const sel of ["script:not([src])", "iframe", "object", "embed", "base", "meta[http-equiv]",
                     "img[src='x']", "svg", "math"]) {
    for (const el of document.querySelectorAll(sel)) found.push(sel);
  }
  // <template> content is a separate fragment: search the live-update templates too.
  for (const t of document.querySelectorAll("template")) {
    for (const el of t.content.querySelectorAll("script, img[src='x'], svg, iframe, [onerror]")) {
      found.push("template>" + el.tagName);
    }
  }
  return found;
}"""

WATCH = """
window.__xss = 0;
document.addEventListener("securitypolicyviolation", (e) => {
  console.error("CSP-VIOLATION " + e.violatedDirective + " " + e.blockedURI + " " + e.sample);
});
"""


class Watch:
    """Everything that would show a script ran or the CSP was hit, for one page."""

    def __init__(self, page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.add_init_script(WATCH)
        page.on("dialog", self._dialog)
        page.on("console", self._console)
        page.on("pageerror", lambda err: self.problems.append(f"pageerror: {err}"))
        page.on("request", self._request)

    def _dialog(self, dialog) -> None:
        self.problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def _console(self, msg) -> None:
        if msg.type == "error" or "XSS-FIRED" in msg.text or "Content Security Policy" in msg.text:
            self.problems.append(f"console {msg.type}: {msg.text}")

    def _request(self, request) -> None:
        parts = urlsplit(request.url)  # the path and host, not a search term in the query
        if "xss-evil" in parts.path or "evil.example" in parts.netloc:
            self.problems.append(f"request: {request.url}")

    def check(self, where: str) -> None:
        settle(self.page)  # let late handlers (load, focus, settle) fire
        flag = self.page.evaluate("() => window.__xss")
        injected = self.page.evaluate(INJECTED)
        assert not flag, f"{where}: a payload ran"
        assert injected == [], f"{where}: payload became markup: {injected[:10]}"
        assert self.problems == [], f"{where}: {self.problems[:10]}"


def _text_in(stack, sender: str, text: str) -> None:
    r = requests.post(
        stack.sandbox_url + "/_sandbox/inbound",
        json={"from": sender, "to": OURS, "text": text}, timeout=10,
    )  # fmt: skip
    assert r.json()["status"] == 200, text


def _sender(i: int) -> str:
    return f"1917555{300 + i:04d}"


@pytest.fixture(scope="module")
def hostile(stack, app):
    """Each payload texted from its own number, that patient renamed to the payload; and
    every payload texted by Ava too (one conversation with all of them)."""
    for i, payload in enumerate(PAYLOADS):
        _text_in(stack, _sender(i), payload)
        _text_in(stack, AVA, payload)
    ids = {}
    with app.app_context():
        for i, payload in enumerate(PAYLOADS):
            patient = db.session.scalars(
                select(Patient).where(Patient.phone == "+" + _sender(i))
            ).one()
            patient.first_name, patient.last_name = payload[:80], "Zed"
            patient.name_search = name_key(patient.first_name, patient.last_name)
            conv = db.session.scalars(
                select(Conversation).where(Conversation.patient_id == patient.id)
            ).one()
            ids[payload] = (patient.id, conv.id)
        ava = db.session.scalars(select(Patient).where(Patient.phone == "+" + AVA)).one()
        ava_conv = db.session.scalars(
            select(Conversation).where(Conversation.patient_id == ava.id)
        ).one()
        ids["ava"] = (ava.id, ava_conv.id)
        db.session.commit()
        db.session.remove()
    return ids


# ---- 1. no CSP violations on the main pages --------------------------------------------


def test_main_pages_raise_no_csp_violation_or_console_error(browser, stack):
    ctx = browser.new_context()
    page = ctx.new_page()
    sent = live_frames(page)
    watch = Watch(page)
    page.goto(stack.url + "/login")
    watch.check("login")
    login(page, stack, "staff@glow.test")
    page.goto(stack.url + "/inbox")
    expect(page.locator("#conv-list .conv-row").first).to_be_visible()
    wait_live_told(page, sent)  # the websocket is up
    watch.check("inbox")
    page.locator("#conv-list .conv-row .conv-link").first.click()
    expect(page.locator("#conversation-name")).to_be_visible()
    expect(page.locator("#segment-counter")).not_to_be_empty()
    watch.check("conversation (htmx)")
    page.goto(page.url)  # the conversation as a full page
    watch.check("conversation (page)")
    with ctx.expect_page() as opened:
        page.locator(".expand-link").first.click()
    profile = opened.value
    profile_watch = Watch(profile)
    profile.reload()
    expect(profile.locator("body")).to_contain_text("Timeline")
    profile_watch.check("patient profile")
    profile.close()
    page.keyboard.press("?")  # a dialog
    watch.check("shortcuts dialog")
    page.keyboard.press("Escape")
    page.goto(stack.url + "/inbox/new")
    watch.check("compose")
    ctx.close()

    ctx = browser.new_context()
    page = ctx.new_page()
    watch = Watch(page)
    login(page, stack, "admin@glow.test")
    for path in ["/settings/profile", "/settings/teammates", "/settings/billing",
                 "/settings/inbox", "/settings/inbox/disable"]:  # fmt: skip
        page.goto(stack.url + path)
        watch.check(path)
    page.goto(stack.url + "/settings/teammates")
    page.get_by_role("link", name=re.compile("Manage Privileges")).first.click()
    watch.check("manage privileges")
    ctx.close()

    # The setup wizard, as Fresh Face's Main Admin (stopping before Finish Setup).
    ctx = browser.new_context()
    page = ctx.new_page()
    watch = Watch(page)
    login(page, stack, "admin@fresh.test")
    page.goto(stack.url + "/settings/inbox")
    watch.check("inbox settings (locked)")
    page.goto(stack.url + "/settings/billing")
    page.get_by_role("button", name="Upgrade to Accelerator Plan").click()
    page.get_by_role("button", name="Confirm: upgrade to Accelerator Plan").click()
    expect(page.locator("#current-plan")).to_have_text("Accelerator Plan")
    page.goto(stack.url + "/settings/inbox")
    page.get_by_role("switch", name=re.compile("Turn it on")).click()
    page.get_by_label("Area code").fill("212")
    page.get_by_role("button", name="Search").click()
    row = page.locator(".number-row").first
    expect(row).to_be_visible()
    watch.check("wizard: choose a number")
    row.get_by_role("link", name=re.compile("Select")).click()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("button", name="Finish Setup")).to_be_visible()
    watch.check("wizard: review")
    ctx.close()


# ---- 2. hostile texts and names --------------------------------------------------------


def test_hostile_texts_and_names_never_run_on_any_page(browser, stack, hostile):
    ctx = browser.new_context()
    page = ctx.new_page()
    watch = Watch(page)
    login(page, stack, "staff@glow.test")
    for tab in ("unread", "read"):
        page.goto(f"{stack.url}/inbox?tab={tab}")
        watch.check(f"inbox list ({tab})")
    page.goto(stack.url + "/inbox?tab=unread")
    # The list shows the names and texts as text.
    expect(page.locator(".conv-name", has_text="<script>window.__xss=1</script>")).to_have_count(1)

    _, ava_conv = hostile["ava"]
    page.goto(f"{stack.url}/inbox/c/{ava_conv}")
    for payload in ("<img src=x onerror=alert(1)>", "{{7*7}} {{ config.SECRET_KEY }}",
                    '<div hx-on:htmx:load="alert(1)">on</div>'):  # fmt: skip
        expect(page.locator(".msg.in .bubble", has_text=payload).first).to_be_visible()
    watch.check("Ava's conversation with every payload")

    # Conversation search highlights with <mark>: the payload as the search term.
    for payload in PAYLOADS[:12]:
        page.goto(f"{stack.url}/inbox/c/{ava_conv}?find={quote(payload[:80])}")
        watch.check(f"conversation search {payload!r}")

    # Inbox search: names and texts, the payload as the search term.
    for payload in PAYLOADS:
        page.goto(f"{stack.url}/inbox?tab=read&q={quote(payload[:60])}")
        watch.check(f"inbox search {payload!r}")

    # New message: the patient picker lists hostile names, then one is picked.
    page.goto(stack.url + "/inbox/new")
    page.locator("#compose-to").fill("Zed")
    options = page.locator("#patient-options .patient-option")
    expect(options.first).to_be_visible()
    assert options.count() >= 5
    watch.check("patient picker")
    page.locator("#compose-to").fill(PAYLOADS[2][:40])
    page.wait_for_timeout(600)
    watch.check("patient picker, payload typed")
    page.goto(stack.url + "/inbox/new")
    page.locator("#compose-to").fill("Zed")
    options.first.click()
    expect(page.locator("#picked-patient")).to_be_visible()
    watch.check("picked patient")

    # Each hostile patient's conversation, profile and timeline; the profile's tab title.
    for payload in PAYLOADS:
        patient_id, conv_id = hostile[payload]
        page.goto(f"{stack.url}/inbox/c/{conv_id}")
        expect(page.locator("#conversation-name")).to_have_text(f"{payload[:80]} Zed".strip())
        watch.check(f"conversation of {payload!r}")
        page.goto(f"{stack.url}/patients/{patient_id}")
        title = re.sub(r"^\(\d+\) ", "", page.title())  # "(3) " unread, from app.js
        assert title.startswith(" ".join(f"{payload[:80]} Zed".split())), title
        watch.check(f"profile of {payload!r}")
    ctx.close()


def test_hostile_texts_arriving_live_stay_text(browser, stack, hostile):
    """The websocket path: rows and bubbles arrive as fragments that app.js applies."""
    ctx = browser.new_context()
    page = ctx.new_page()
    sent = live_frames(page)
    watch = Watch(page)
    login(page, stack, "staff@glow.test")
    _, ava_conv = hostile["ava"]
    page.goto(f"{stack.url}/inbox/c/{ava_conv}?tab=unread")
    expect(page.locator("#conversation-name")).to_be_visible()
    wait_live_told(page, sent)  # connected, and told what this tab shows
    for i, payload in enumerate(PAYLOADS[:14] + PAYLOADS[-12:]):
        text = f"live{i} {payload}"
        _text_in(stack, AVA, text)
        expect(page.locator(".msg.in .bubble", has_text=text)).to_be_visible(timeout=10_000)
    expect(page.locator("#conv-list .conv-row").first).to_contain_text("live")
    # Hostile names moving to the top of the list live.
    for payload in PAYLOADS[:6]:
        patient_id, conv_id = hostile[payload]
        _text_in(stack, _sender(PAYLOADS.index(payload)), "again " + payload)
        expect(page.locator(f"#conv-{conv_id}")).to_contain_text("again", timeout=10_000)
    watch.check("live updates")
    assert "<" not in page.title() and re.match(r"^(\(\d+\) )?Inbox", page.title())
    ctx.close()


def test_desktop_alerts_show_hostile_names_as_plain_text(browser, stack, hostile):
    ctx = browser.new_context()
    ctx.add_init_script(
        """
        Object.defineProperty(document, "visibilityState", { get: () => "hidden" });
        localStorage.setItem("ci-alerts", "1");
        window.__alerts = [];
        window.Notification = function (title, options) {
          window.__alerts.push([title, options.body]);
        };
        window.Notification.permission = "granted";
        window.Notification.requestPermission = () => Promise.resolve("granted");
        """
    )
    page = ctx.new_page()
    sent = live_frames(page)
    watch = Watch(page)
    login(page, stack, "staff@glow.test")  # lands on /inbox: one page, one socket
    expect(page).to_have_url(stack.url + "/inbox")
    wait_live_told(page, sent)
    names = PAYLOADS[:8]
    for payload in names:
        _text_in(stack, _sender(PAYLOADS.index(payload)), "ping")
        wait_js(page, "(n) => window.__alerts.length >= n", names.index(payload) + 1, timeout=3)
    alerts = page.evaluate("() => window.__alerts")
    assert [title for title, _ in alerts] == [f"New text from {p[:80]}" for p in names]
    assert all(body == "Open the Inbox to read and reply." for _, body in alerts)
    watch.check("desktop alerts")
    ctx.close()
