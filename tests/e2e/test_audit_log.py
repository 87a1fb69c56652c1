"""Settings › Audit log in Chromium: the Main Admin sees who opened and sent what, filters
it, and exports conversations (which the log then shows)."""

import csv
import io
import re
from pathlib import Path

from playwright.sync_api import expect

from tests.e2e.conftest import login, screenshot, sign_out

DESKTOP = {"width": 1440, "height": 900}


def test_the_main_admin_reads_filters_and_exports(page, stack):
    page.set_viewport_size(DESKTOP)
    # Staff open a conversation and a patient profile; somebody mistypes a password.
    login(page, stack, "staff@glow.test")
    page.locator(".conv-row .conv-link").first.click()
    expect(page.locator("#conversation-name")).not_to_be_empty()
    sign_out(page)
    page.goto(stack.url + "/login")
    page.get_by_label("Email").fill("frontdesk@glow.test")
    page.get_by_label("Password").fill("not-it")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("do not match")).to_be_visible()

    login(page, stack, "admin@glow.test")
    page.get_by_role("link", name="Settings").first.click()
    page.locator("#settings-audit-tab").click()
    expect(page).to_have_url(re.compile(r"/settings/audit$"))
    table = page.locator("#audit-table")
    expect(table).to_be_visible()
    expect(table.locator("tbody tr").first).to_contain_text("Signed in")
    expect(table).to_contain_text("Viewed a conversation")
    expect(table).to_contain_text("Failed sign-in")
    expect(table).to_contain_text("Sam Lee")
    expect(table).to_contain_text("127.0.0.1")
    screenshot(page, "audit-log")

    # Filter by action: only views remain, each linking to its conversation.
    page.get_by_label("Action").select_option(label="Viewed a conversation")
    page.get_by_role("button", name="Filter").click()
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("a[href^='/inbox/c/']")).to_be_visible()
    # A filter that matches nothing shows the empty state.
    page.get_by_label("Person").select_option(label="Fran Miller")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#audit-empty")).to_contain_text("No entries match")

    # Export conversations: a CSV download, then an entry in the log.
    page.get_by_role("link", name="Clear the filters").click()
    page.locator(".settings-menu").get_by_role("link", name="Export conversations").click()
    with page.expect_download() as info:
        page.locator("#export-form").get_by_role("button", name="Export conversations").click()
    download = info.value
    assert download.suggested_filename.startswith("conversations-")
    body = Path(download.path()).read_text(encoding="utf-8")
    rows_csv = list(csv.DictReader(io.StringIO(body)))
    assert len(rows_csv) > 50 and rows_csv[0]["patient phone"].startswith("+1")  # E.164, whole
    page.goto(stack.url + "/settings/audit")
    expect(page.locator("#audit-table tbody tr").first).to_contain_text("Exported conversations")

    # Nobody else reaches it.
    sign_out(page)
    login(page, stack, "admin2@glow.test")
    page.get_by_role("link", name="Settings").first.click()
    expect(page.locator("#settings-audit-tab")).to_have_count(0)
    response = page.goto(stack.url + "/settings/audit")
    assert response.status == 403
