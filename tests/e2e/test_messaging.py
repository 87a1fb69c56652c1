"""What staff see of STOP, long texts and reminders, live, in a real browser."""

import re
import time

from playwright.sync_api import expect

from tests.e2e.conftest import live_frames, login, screenshot, wait_live_told
from tests.e2e.test_live import _open_conversation, _text_in

LONG = (
    "Hi, quick question about my filler appointment next week. I have been taking fish oil "
    "and ibuprofen for my knee; should I stop them before the visit, and for how many days? "
    "Also is it fine to have a glass of wine the night before? Thank you so much!"
)


def test_stop_start_long_texts_and_paperwork_reminder_live(browser, stack):
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    sent = live_frames(page)
    login(page, stack, "staff@glow.test")
    _open_conversation(page, stack, "Ava Martinez")
    wait_live_told(page, sent)  # the socket knows which conversation this tab shows

    # A long text arrives in parts; staff see it once, whole.
    _text_in(stack, LONG)
    bubble = page.locator("#messages .msg.in .bubble", has_text="glass of wine")
    expect(bubble).to_have_count(1, timeout=2000)
    expect(bubble).to_have_text(LONG)

    # STOP: the banner and the locked composer appear without a reload, the paperwork
    # reminder goes away, and the one confirmation text shows, labelled.
    expect(page.locator("#paperwork-reminder")).to_be_visible()
    draft = "Of course, and about your"
    page.get_by_label("Reply").fill(draft)  # half a reply when the STOP comes in
    _text_in(stack, "Stop")
    expect(page.locator(".optout-banner")).to_be_visible(timeout=2000)
    expect(page.locator("#paperwork-reminder")).to_have_count(0)
    expect(page.locator("#composer-body")).to_be_disabled()
    expect(page.locator("#composer-optout")).to_contain_text("replied STOP")
    confirmation = page.locator("#messages .msg.out", has_text="unsubscribed")
    expect(confirmation).to_contain_text("Opt-out confirmation", timeout=2000)
    screenshot(page, "conversation-opted-out")

    # START: texting is possible again.
    _text_in(stack, "START")
    expect(page.locator(".optout-banner")).to_have_count(0, timeout=2000)
    expect(page.locator("#composer-body")).to_be_enabled()
    # The composer comes back whole: saved replies and the outstanding forms.
    expect(page.locator(".template-menu summary")).to_contain_text("Templates")
    expect(page.locator(".template-bar")).to_contain_text("form outstanding")
    expect(page.get_by_label("Reply")).to_have_value(draft)  # the half reply is back

    # One click texts the portal link for the outstanding forms (the button came back live).
    page.locator("#paperwork-reminder").click()
    reminder = page.locator("#messages .msg.out", has_text="portal.glowaesthetics.example")
    expect(reminder).to_contain_text("Paperwork reminder", timeout=2000)
    expect(reminder.locator(".status")).to_have_text("Delivered", timeout=5000)
    # Again today asks first; Cancel sends nothing.
    again = page.locator("#paperwork-reminder")
    expect(again).to_have_text(re.compile("Send paperwork reminder again"))
    expect(again).to_be_enabled()
    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    again.click()
    page.wait_for_timeout(800)  # a reminder sent anyway would be on screen by now
    expect(
        page.locator("#messages .msg.out", has_text="portal.glowaesthetics.example")
    ).to_have_count(1)
    assert asked and asked[0].startswith("Ava was sent a paperwork reminder today at")
    # Neither the reminder nor marking the conversation unread wipes what is being typed.
    expect(page.get_by_label("Reply")).to_have_value(draft)
    page.locator("#toggle-unread").click()
    expect(page.locator("#toggle-unread")).to_contain_text("Mark as read")
    expect(page.get_by_label("Reply")).to_have_value(draft)
    page.get_by_label("Reply").fill("")
    page.mouse.move(0, 0)  # no hover colour in the screenshot,
    page.wait_for_timeout(300)  # and the button's fade back from "sending" is over
    screenshot(page, "conversation-paperwork-reminder")


def test_a_late_answer_to_a_send_never_takes_a_status_back(browser, stack):
    """The answer to Send re-renders the conversation as it was then. When it arrives after the
    live updates (the worker sent the text, its receipt came), the conversation keeps showing
    Delivered, not the answer's older status."""
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    sent = live_frames(page)
    login(page, stack, "staff@glow.test")
    _open_conversation(page, stack, "Ava Martinez")
    wait_live_told(page, sent)  # the socket knows which conversation this tab shows
    status_span = re.compile(r'class="status status-(\w+)" data-status="\1"( data-rank="\d+")?')

    def late_and_old(route):
        if route.request.method != "POST":
            return route.continue_()
        answer = route.fetch()
        time.sleep(2)  # the live updates reach the page first
        queued = 'class="status status-queued" data-status="queued" data-rank="0"'
        stale = status_span.sub(queued, answer.text())
        route.fulfill(response=answer, body=stale)

    page.route(re.compile(r".*/inbox/c/\d+/messages$"), late_and_old)
    composer = page.get_by_label("Reply")
    composer.fill("See you Thursday at 3pm")
    composer.press("Enter")
    sent = page.locator("#messages .msg.out", has_text="See you Thursday").locator(".status")
    expect(sent).to_have_attribute("data-status", "delivered", timeout=5000)  # live
    expect(composer).to_have_value("", timeout=5000)  # the late answer has been swapped in
    page.wait_for_timeout(300)  # settled
    expect(sent).to_have_attribute("data-status", "delivered")
    expect(sent).to_have_text("Delivered")
    statuses = page.locator("#messages .msg.out .status").evaluate_all(
        "els => els.map(e => e.dataset.status)"
    )
    assert "queued" not in statuses, statuses


def test_new_message_says_what_is_wrong_and_keeps_what_was_typed(browser, stack):
    """The server sends the form back with its reason (422); the dialog shows it, with the
    number and the text still in place, and the corrected message goes out."""
    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    login(page, stack, "staff@glow.test")
    page.goto(stack.url + "/inbox")
    page.get_by_role("link", name="New message").click()
    dialog = page.locator("#compose-dialog")
    expect(dialog.locator("#compose-to")).to_be_visible()
    dialog.locator("#compose-to").fill("12345")
    text = "Your consultation is confirmed for Friday."
    dialog.locator("#compose-text").fill(text)
    dialog.get_by_role("button", name="Send").click()
    expect(dialog.locator("#compose-error")).to_contain_text("“12345” is not a valid phone number.")
    expect(dialog.locator("#compose-to")).to_have_value("12345")
    expect(dialog.locator("#compose-text")).to_have_value(text)
    dialog.locator("#compose-to").fill("(212) 555-0134")  # the practice's own number
    dialog.get_by_role("button", name="Send").click()
    expect(dialog.locator("#compose-error")).to_contain_text("your practice's own Inbox number")
    dialog.locator("#compose-to").fill("(917) 555-0177")
    long = "Please read before your visit. " * 40  # 1,240 characters, kept whole
    dialog.locator("#compose-text").fill(long)
    dialog.get_by_role("button", name="Send").click()
    expect(dialog.locator("#compose-error")).to_contain_text("the limit is 6")
    expect(dialog.locator("#compose-text")).to_have_value(long)
    dialog.locator("#compose-to").fill("(917) 555-0100")  # Ava, who has a conversation already
    dialog.locator("#compose-text").fill(text)
    dialog.get_by_role("button", name="Send").dblclick()  # an impatient double click
    page.wait_for_url(re.compile(r"/inbox/c/\d+"))
    expect(page.locator("#messages")).to_contain_text(text)
    page.wait_for_timeout(500)
    page.reload()
    expect(page.locator(".msg.out", has_text=text)).to_have_count(1)  # texted once


def test_failed_text_shows_reason_and_retry(page, stack):
    """(Here, not beside the menu tests: retrying leaves the demo without a failed text,
    and this module's other tests do not need one.)"""
    page.set_viewport_size({"width": 1440, "height": 900})
    login(page, stack, "staff@glow.test")
    page.goto(stack.url + "/inbox?view=failed&tab=read")
    page.locator(".conv-row .conv-link").first.click()
    failed = page.locator(".msg.out .status[data-status=failed]").first
    expect(failed).to_be_visible()
    expect(page.locator(".status-reason").first).to_contain_text("The number is not active")
    page.get_by_role("button", name="Retry").first.click()
    expect(page.locator(".status[data-status=failed]")).to_have_count(0)
