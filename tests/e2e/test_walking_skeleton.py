"""The walking skeleton, end to end through real processes: staff sends a text from a
conversation, the sandbox receives it from the inbox number, its receipt marks it delivered,
and the patient's reply from the patient-phone page lands unread."""

import re
import time

from playwright.sync_api import expect

from tests.e2e.conftest import login, screenshot

AVA_DIGITS = "19175550100"


def _wait(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


def test_send_receipt_and_reply_through_real_processes(page, stack):
    page.set_viewport_size({"width": 1366, "height": 820})
    login(page, stack, "staff@glow.test")
    expect(page.locator("#inbox-number")).to_have_text("(212) 555-0134")
    expect(page.locator("#nav-inbox")).to_be_visible()

    expect(page.get_by_role("tab", name=re.compile("Unread"))).to_have_attribute(
        "aria-selected", "true"
    )
    page.locator(".conv-row", has_text="Ava Martinez").click()
    expect(page.locator("#conversation-name")).to_have_text("Ava Martinez")

    composer = page.get_by_label("Reply")
    composer.fill("Hi Ava, your appointment is confirmed for Thursday at 3pm.")
    composer.press("Enter")
    bubble = page.locator(".msg.out", has_text="confirmed for Thursday at 3pm").last
    expect(bubble).to_be_visible()
    expect(composer).to_have_value("")

    def sms_request():
        sent = [r for r in stack.sandbox_state()["requests"] if r["path"] == "/sms/json"]
        return sent[-1]["params"] if sent else None

    params = _wait(sms_request)
    assert params, "the worker should have sent the text to the sandbox\n" + stack.log("worker")
    assert params["from"] == "12125550134"
    assert params["to"] == AVA_DIGITS
    assert "+" not in params["from"] + params["to"]

    def delivered():
        page.reload()
        chip = page.locator(".msg.out", has_text="confirmed for Thursday").last.locator(".status")
        return chip.get_attribute("data-status", timeout=3000) == "delivered"

    assert _wait(delivered), "the sandbox's receipt should mark the text delivered"
    screenshot(page, "conversation")

    # The patient answers from the sandbox's patient-phone page, while staff are on the
    # list (an open, visible conversation would mark the reply read where it lands).
    page.goto(stack.url + "/inbox?tab=read")
    phone = page.context.new_page()
    phone.goto(f"{stack.sandbox_url}/?phone={AVA_DIGITS}&practice=12125550134")
    expect(phone.locator(".bubble", has_text="confirmed for Thursday")).to_be_visible()
    phone.get_by_label("Text message").fill("Perfect, see you then!")
    phone.get_by_role("button", name="Send").click()
    expect(phone.locator(".bubble.mine", has_text="Perfect, see you then!")).to_be_visible()
    phone.close()

    page.goto(stack.url + "/inbox?tab=unread")
    row = page.locator(".conv-row", has_text="Ava Martinez")
    expect(row).to_have_class(re.compile(r"\bunread\b"))
    expect(row).to_contain_text("Perfect, see you then!")
    screenshot(page, "inbox")
    row.click()
    expect(page.locator(".msg.in", has_text="Perfect, see you then!")).to_be_visible()


def test_login_page_and_wrong_password(page, stack):
    page.goto(stack.url + "/login")
    screenshot(page, "login")
    page.get_by_label("Email").fill("staff@glow.test")
    page.get_by_label("Password").fill("nope")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text(
        "That email and password do not match an account."
    )
    # The right password, typed into the form: the Inbox.
    page.get_by_label("Password").fill("demo1234")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(page.locator("#nav-inbox")).to_be_visible()


def test_staff_without_privilege_sees_no_inbox_tab(page, stack):
    login(page, stack, "frontdesk@glow.test")
    expect(page.locator("#nav-inbox")).to_have_count(0)
    expect(page.get_by_text("You can't see the Inbox yet")).to_be_visible()
