"""The clinic help article, walked as the Main Admin of Fresh Face Clinic: lock, upgrade,
toggle on, area code 212, Select, Continue, Finish Setup, the number in the Inbox; then
disable with Confirm, the Inbox is gone; re-enable cannot get the old number back."""

import re

from playwright.sync_api import expect

from tests.e2e.conftest import (
    live_frames,
    login,
    screenshot,
    sign_out,
    wait_live_told,
)

DESKTOP = {"width": 1366, "height": 900}


def _numbers(stack, path):
    return [r["params"]["msisdn"] for r in stack.sandbox_state()["requests"] if r["path"] == path]


def test_the_article_end_to_end(page, stack):
    page.set_viewport_size(DESKTOP)
    before = {p: _numbers(stack, p) for p in ("/number/buy", "/number/update", "/number/cancel")}
    login(page, stack, "admin@fresh.test")

    # Settings > Inbox shows a lock on the Essentials Plan.
    page.get_by_role("link", name="Settings").first.click()
    inbox_tab = page.locator("#settings-inbox-tab")
    expect(inbox_tab.locator(".bi-lock-fill")).to_be_visible()
    inbox_tab.click()
    expect(page.locator("#inbox-locked")).to_contain_text("needs the Accelerator Plan")
    screenshot(page, "settings-locked")

    # Upgrade in Settings > Billing > Subscriptions.
    page.get_by_role("link", name=re.compile("Billing › Subscriptions")).click()
    page.get_by_role("button", name="Upgrade to Accelerator Plan").click()
    confirm = page.locator("#plan-dialog-accelerator")  # a price change is confirmed first
    expect(confirm).to_contain_text("$249.00 a month")
    expect(confirm.locator("#total-after-accelerator")).to_have_text("$249.00")
    confirm.get_by_role("button", name="Confirm: upgrade to Accelerator Plan").click()
    expect(page.locator("#current-plan")).to_have_text("Accelerator Plan")

    # Switch the toggle to turn on the Inbox, then choose a number.
    page.locator("#settings-inbox-tab").click()
    expect(page.locator("#settings-inbox-tab .bi-lock-fill")).to_have_count(0)
    page.get_by_role("switch", name=re.compile("Turn it on")).click()
    page.get_by_label("Area code").fill("21")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_label("Area code")).to_have_js_property("validity.valid", False)
    page.get_by_label("Area code").fill("212")
    page.get_by_role("button", name="Search").click()
    row = page.locator(".number-row", has_text="(212) 555-0131")
    expect(row).to_be_visible()
    expect(page.get_by_role("button", name="Continue")).to_be_disabled()
    row.get_by_role("link", name=re.compile("Select")).click()
    expect(page.locator(".number-row.selected")).to_contain_text("(212) 555-0131")
    screenshot(page, "settings-choose")
    page.get_by_role("button", name="Continue").click()

    # Review; the browser's Back keeps the number selected, Forward comes back to Review.
    expect(page.locator("#review-number")).to_have_text("(212) 555-0131")
    page.go_back()
    expect(page.locator(".number-row.selected")).to_contain_text("(212) 555-0131")
    page.go_forward()
    expect(page.locator("#review-number")).to_have_text("(212) 555-0131")
    # Then Finish Setup. It is disabled while Vonage answers (slowly here), with a spinner:
    # one click buys one number (below).
    expect(page.get_by_text("$5.00 per month")).to_be_visible()
    finish = page.get_by_role("button", name="Finish Setup")
    stack.sandbox_fault("timeout", "/number/buy", seconds=1.5)
    finish.click()
    expect(finish).to_be_disabled()
    expect(finish.locator(".spinner-border")).to_be_visible()
    # Done: the number, big, to write down, with a Copy button; nothing covers it.
    expect(page).to_have_url(re.compile(r"/settings/inbox/setup/done$"))
    expect(page.locator(".wizard-steps li.active")).to_have_text("Done")
    expect(page.locator("#done-number")).to_have_text("(212) 555-0131")
    assert (
        page.evaluate(
            "() => { const r = document.querySelector('#done-number').getBoundingClientRect();"
            " return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2).id; }"
        )
        == "done-number"
    )
    page.locator("#copy-number").click()
    expect(page.locator("#copy-number")).to_contain_text("Copied")
    screenshot(page, "settings-done")
    page.locator("#open-inbox").click()
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(page.locator("#inbox-number")).to_have_text("(212) 555-0131")
    expect(page.locator("#nav-inbox")).to_be_visible()

    # Disable: Inbox Settings at the bottom of the left menu, toggle off, Confirm.
    page.get_by_role("link", name="Settings").first.click()
    page.locator("#inbox-settings-link").click()
    page.get_by_role("switch", name=re.compile("Turn it off")).click()
    dialog = page.locator("#disable-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("will be released")
    dialog.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("switch", name=re.compile("Turn it on"))).to_be_visible()
    released = page.locator(".flash", has_text="its number is being released")
    expect(released).to_be_visible()
    released.get_by_role("button", name="Dismiss").click()
    expect(released).to_have_count(0)
    expect(page.locator("#nav-inbox")).to_have_count(0)
    page.goto(stack.url + "/inbox")
    expect(page.get_by_text("The Inbox is turned off")).to_be_visible()

    # Re-enable: the old number is never offered again.
    page.goto(stack.url + "/settings/inbox")
    page.get_by_role("switch", name=re.compile("Turn it on")).click()
    page.get_by_label("Area code").fill("212")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".number-row").first).to_be_visible()
    expect(page.locator(".number-row", has_text="(212) 555-0131")).to_have_count(0)

    def new(path):
        return [n for n in _numbers(stack, path) if n not in before[path]]

    assert new("/number/buy") == ["12125550131"]
    assert new("/number/update") == ["12125550131"]
    cancels = []
    for _ in range(50):
        cancels = new("/number/cancel")
        if cancels:
            break
        page.wait_for_timeout(100)
    assert cancels == ["12125550131"]


def test_staff_and_admins_never_see_the_toggle(page, stack):
    for email in ("admin2@glow.test", "staff@glow.test"):
        login(page, stack, email)
        page.goto(stack.url + "/settings")
        expect(page.locator("#inbox-toggle")).to_have_count(0)
        expect(page.locator("#inbox-settings-link")).to_have_count(0)
        response = page.goto(stack.url + "/settings/inbox")
        assert response.status == 403
        sign_out(page)


def test_manage_privileges_hides_the_inbox_tab(page, stack, browser):
    # Sam has a conversation open, a reply half typed, when the privilege goes.
    staff_context = browser.new_context()
    staff = staff_context.new_page()
    sent = live_frames(staff)
    login(staff, stack, "staff@glow.test")
    staff.locator(".conv-row .conv-link").first.click()
    staff.locator("#composer-body").fill("Half a reply")
    wait_live_told(staff, sent)  # the socket connected and told what the tab shows

    login(page, stack, "admin@glow.test")
    page.get_by_role("link", name="Settings").first.click()
    page.get_by_role("link", name="Teammates").click()
    row = page.locator("#users tr", has_text="Sam Lee")
    row.get_by_role("link", name="Manage Privileges").click()
    page.get_by_label(re.compile("^Inbox")).uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert").or_(page.locator(".alert-success"))).to_contain_text("Saved")
    # Sam's open tab is told at once, with no click, and keeps what was typed.
    expect(staff.locator("#request-failed")).to_contain_text("your access to it changed")
    expect(staff.locator("#composer-body")).to_have_value("Half a reply")
    expect(staff.locator("#live-status")).to_be_hidden()  # not "reconnecting": it is over
    staff.locator("#request-failed").get_by_role("button", name="Reload").click()
    expect(staff.locator("#nav-inbox")).to_have_count(0)
    page.get_by_label(re.compile("^Inbox")).check()
    page.get_by_role("button", name="Save").click()
    staff.reload()
    expect(staff.locator("#nav-inbox")).to_be_visible()
    staff_context.close()
