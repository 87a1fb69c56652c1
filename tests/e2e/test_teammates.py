"""Settings › Teammates and Clinics in a real browser against real processes: the Main Admin
invites a teammate (no mail server, so the link is shown once to copy), the teammate sets a
password and sees only their clinic; the Main Admin deactivates them and their open tab is
told at once; then adds a clinic and archives it. Each page fits a phone;
SAVE_SCREENSHOTS=1 keeps them (1366 px and 390 px) in docs/screenshots/teammates/."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.conftest import DESKTOP, login, shoot

PASSWORD = "velvet orbit quarry lantern"


def test_invite_a_teammate_who_joins_then_deactivate_them(stack, page, browser):
    page.set_viewport_size(DESKTOP)
    login(page, stack, "admin@glow.test")
    page.goto(stack.url + "/settings/teammates")
    page.get_by_role("link", name="Invite teammate").click()
    page.get_by_label("Name").fill("Riley Park")
    page.get_by_label("Email").fill("riley@glowclinic.com")
    page.get_by_label("Staff").check()
    expect(page.get_by_label("Inbox")).to_be_checked()
    page.get_by_label("All Clinics").uncheck()
    page.get_by_label("Uptown").check()
    shoot(page, "teammates", "invite")
    page.get_by_role("button", name="Send invitation").click()

    # No mail server here: the link, this once, with a Copy button.
    expect(page.get_by_role("heading", name="Riley Park is invited")).to_be_visible()
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    link = page.locator("#invitation-link").inner_text().strip()
    assert "/password/set/" in link
    shoot(page, "teammates", "invited")
    page.get_by_role("link", name="Done").click()
    row = page.locator("#invitation-list tr", has_text="Riley Park")
    expect(row).to_contain_text("Staff")
    expect(row.get_by_role("button", name="Resend to Riley Park")).to_be_visible()
    assert link not in page.content()  # never shown again
    shoot(page, "teammates", "users")

    # The teammate, in a browser of their own: the link, a password, only Uptown.
    other = browser.new_context(viewport=DESKTOP)
    tab = other.new_page()
    tab.goto(link)
    tab.get_by_label("New password", exact=True).fill(PASSWORD)
    tab.get_by_label("Confirm new password").fill(PASSWORD)
    tab.get_by_role("button", name="Set password and log in").click()
    tab.wait_for_url(lambda url: "/password/" not in url)
    tab.goto(stack.url + "/inbox")
    menu = tab.locator("#menu")
    expect(menu).to_contain_text("Uptown")
    expect(menu).not_to_contain_text("Downtown")
    expect(menu).not_to_contain_text("Lakeside")
    tab.wait_for_timeout(500)  # the live socket is open

    # The Main Admin deactivates them: their open tab is told at once.
    page.goto(stack.url + "/settings/teammates")
    page.get_by_role("link", name="Riley Park").first.click()
    shoot(page, "teammates", "teammate")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Deactivate").click()
    expect(page.locator(".flash-stack")).to_contain_text("Riley Park is deactivated")
    expect(tab.locator(".flash-stack")).to_contain_text("You were logged out", timeout=5000)
    tab.reload()
    assert "/login" in tab.url
    other.close()

    # Listed as deactivated, with Reactivate.
    page.goto(stack.url + "/settings/teammates")
    expect(page.locator("#deactivated-list")).to_contain_text("Riley Park")
    expect(page.get_by_role("button", name="Reactivate Riley Park")).to_be_visible()


def test_add_a_clinic_then_archive_it(stack, page):
    page.set_viewport_size(DESKTOP)
    login(page, stack, "admin@glow.test")
    page.goto(stack.url + "/settings/profile")
    page.get_by_role("link", name="Clinics").click()
    page.get_by_label("Name").fill("Brooklyn")
    page.get_by_label("Address").fill("12 Court St, Brooklyn, NY 11201")
    page.get_by_label("Phone").fill("718 555 0142")
    page.get_by_label("Time zone").fill("Mars/Olympus")
    page.get_by_role("button", name="Add clinic").click()
    # Refused in words, with what was typed kept.
    expect(page.locator("#clinic-error")).to_contain_text("is not a time zone")
    expect(page.get_by_label("Name")).to_have_value("Brooklyn")
    page.get_by_label("Time zone").fill("America/New_York")
    shoot(page, "teammates", "clinic-form")
    page.get_by_role("button", name="Add clinic").click()
    item = page.locator(".clinic-item", has_text="Brooklyn")
    expect(item).to_contain_text("(718) 555-0142")
    expect(item).to_contain_text("America/New_York")
    page.goto(stack.url + "/inbox")
    expect(page.locator("#menu")).to_contain_text("Brooklyn")

    page.goto(stack.url + "/settings/clinics")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Archive Brooklyn").click()
    expect(page.locator(".flash-stack")).to_contain_text("Brooklyn archived")
    expect(page.locator(".clinic-item", has_text="Brooklyn")).to_contain_text("Archived")
    expect(page.get_by_role("button", name="Restore Brooklyn")).to_be_visible()
    shoot(page, "teammates", "clinics")
    page.goto(stack.url + "/inbox")
    expect(page.locator("#menu")).to_contain_text("Downtown")
    expect(page.locator("#menu")).not_to_contain_text("Brooklyn")


def test_make_main_admin_after_the_confirm_dialog(stack, page):
    """Last in this module: it hands the practice's Main Admin role to Ari Shah."""
    page.set_viewport_size(DESKTOP)
    login(page, stack, "admin@glow.test")
    page.goto(stack.url + "/settings/teammates")
    page.get_by_role("link", name="Ari Shah", exact=True).click()
    page.get_by_role("button", name="Make Main Admin").click()
    dialog = page.get_by_role("dialog", name="Make Ari Shah the Main Admin?")
    expect(dialog).to_be_visible()
    shoot(page, "teammates", "handover-dialog")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name="Make Main Admin").click()
    dialog.get_by_role("button", name="Confirm").click()
    expect(page.locator(".flash-stack")).to_contain_text("Ari Shah is now the Main Admin")
    expect(page.locator(".topnav")).to_contain_text("Admin")
    expect(page.get_by_role("button", name="Make Main Admin")).to_have_count(0)
