"""Saved replies, as the Main Admin writes them and staff use them: Settings › Inbox ›
Manage saved replies, a live preview as the text is typed, a refusal that keeps the text,
Move up, then the reply under Templates in a conversation, filled in for that patient;
Delete asks first."""

import re

from playwright.sync_api import expect

from tests.e2e.conftest import login, screenshot, settle

DESKTOP = {"width": 1366, "height": 900}


def test_the_main_admin_writes_a_saved_reply_and_staff_send_it(page, stack):
    page.set_viewport_size(DESKTOP)
    login(page, stack, "admin@glow.test")
    page.goto(stack.url + "/settings/inbox")
    page.get_by_role("link", name="Manage saved replies").click()
    expect(page.get_by_role("heading", name="Saved replies")).to_be_visible()
    expect(page.locator("#saved-replies-link")).to_have_class(re.compile("active"))
    settle(page)  # htmx listens before the first keystroke (the preview is its request)

    page.get_by_label("Name").fill("Parking")
    box = page.get_by_label("Text", exact=True)
    box.fill("Hi {first_name}, free parking is behind {clinic_name}, entrance on 5th.")
    expect(page.locator("#reply-preview-text")).to_have_text(
        re.compile(r"^Hi Ava, free parking is behind \w+, entrance on 5th\.$")
    )
    expect(page.locator("#reply-preview-size")).to_contain_text("1 text")
    # A typo in a merge field is named as it is typed, and on Add the text stays.
    box.fill("Hi {firstname}, free parking is behind {clinic_name}.")
    expect(page.locator("#reply-preview-error")).to_contain_text("Unknown merge field {firstname}")
    page.get_by_role("button", name="Add saved reply").click()
    expect(page.locator("#reply-error")).to_contain_text("Unknown merge field {firstname}")
    expect(page.get_by_label("Text", exact=True)).to_have_value(
        "Hi {firstname}, free parking is behind {clinic_name}."
    )
    page.get_by_label("Text", exact=True).fill(
        "Hi {first_name}, free parking is behind {clinic_name}."
    )
    page.get_by_role("button", name="Add saved reply").click()
    expect(page.get_by_role("status")).to_contain_text("Saved reply “Parking” added.")
    item = page.locator(".reply-item", has_text="Parking")
    expect(item).to_be_visible()
    item.get_by_role("button", name="Move up Parking").click()
    expect(page.locator(".reply-item").nth(-2)).to_contain_text("Parking")
    screenshot(page, "settings-saved-replies")

    # Staff see it under Templates, filled in for the patient of the conversation.
    page.goto(stack.url + "/inbox?tab=read")
    page.locator(".conv-row").first.click()
    name = page.locator("#conversation-name").inner_text()
    page.get_by_text("Templates").click()
    page.get_by_role("menuitem", name=re.compile("Parking")).click()
    expect(page.locator("textarea[data-composer]")).to_have_value(
        re.compile(r"^Hi " + re.escape(name.split()[0]) + r", free parking is behind \w+\.$")
    )

    # Delete asks first; dismissing keeps it.
    page.goto(stack.url + "/settings/inbox/replies")
    page.once("dialog", lambda d: d.dismiss())
    page.locator(".reply-item", has_text="Parking").get_by_role(
        "button", name="Delete Parking"
    ).click()
    expect(page.locator(".reply-item", has_text="Parking")).to_be_visible()
    page.once("dialog", lambda d: d.accept())
    page.locator(".reply-item", has_text="Parking").get_by_role(
        "button", name="Delete Parking"
    ).click()
    expect(page.get_by_role("status")).to_contain_text("Saved reply “Parking” deleted.")
    expect(page.locator(".reply-item", has_text="Parking")).to_have_count(0)
