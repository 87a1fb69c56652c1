"""The Patients page as staff use it: search as you type, Add patient (a duplicate mobile
refused with a link to the first patient, the form kept), the new patient's profile, and
the page at 390 px without sideways scrolling."""

import re

from playwright.sync_api import expect

from tests.e2e.conftest import login, screenshot, settle


def test_staff_find_and_add_a_patient(page, stack):
    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, stack, "staff@glow.test")
    page.get_by_role("link", name="Patients").click()
    expect(page.get_by_role("heading", name="Patients")).to_be_visible()
    settle(page)  # htmx listens before the first keystroke (the search is its request)
    page.get_by_label("Search patients").fill("mart")
    expect(page.locator("#patient-rows")).to_contain_text("Ava Martinez")
    expect(page).to_have_url(re.compile(r"q=mart"))
    screenshot(page, "patients")

    page.get_by_role("link", name="Add patient").click()
    page.get_by_label("First name").fill("Nora")
    page.get_by_label("Last name").fill("Quill")
    page.get_by_label("Mobile number").fill("917 555 0100")  # Ava's
    page.get_by_role("button", name="Add patient").click()
    expect(page.locator("#patient-error")).to_contain_text("already the mobile of Ava Martinez")
    expect(page.get_by_label("Last name")).to_have_value("Quill")
    page.get_by_label("Mobile number").fill("917 555 0777")
    page.get_by_label("Home clinic").select_option(label="Lakeside")
    page.get_by_role("button", name="Add patient").click()
    expect(page.get_by_role("status")).to_contain_text("Nora Quill added.")
    expect(page.locator("#patient-name")).to_have_text("Nora Quill")
    expect(page.locator("#patient-info")).to_contain_text("Lakeside")

    page.get_by_role("link", name="Patients").click()
    settle(page)
    page.get_by_label("Search patients").fill("quill")
    expect(page.locator("#patient-rows tr")).to_have_count(1)
    expect(page.locator("#patient-rows")).to_contain_text("(917) 555-0777")

    for path in ("/patients", "/inbox", "/patients/new"):
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(stack.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
