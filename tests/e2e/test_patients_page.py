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


def test_an_unknown_number_is_linked_to_its_patient_from_the_conversation(page, stack):
    """Liam texts from a new phone: on the conversation, Link to existing patient, find him,
    confirm; the conversation is his, under his name."""
    import requests

    r = requests.post(
        stack.sandbox_url + "/_sandbox/inbound",
        json={"from": "13125550177", "to": "12125550134", "text": "New phone, it's Liam"},
        timeout=5,
    )
    assert r.json()["status"] == 200
    login(page, stack, "staff@glow.test")
    page.locator(".conv-row", has_text="(312) 555-0177").locator(".conv-link").click()
    expect(page.locator("#conversation-name")).to_have_text("(312) 555-0177")
    screenshot(page, "unknown-sender-conversation")
    page.get_by_role("link", name="Link to existing patient").click()
    settle(page)
    page.set_viewport_size({"width": 390, "height": 844})  # fits a phone
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.get_by_label("Find the patient").fill("Liam")
    choice = page.get_by_role("button", name=re.compile(r"^Link to Liam "))
    page.once("dialog", lambda dialog: dialog.accept())
    choice.click()
    expect(page.get_by_role("status")).to_contain_text("the conversation is theirs")
    name = page.locator("#patient-name").inner_text()
    assert name.startswith("Liam ")
    expect(page.locator("#patient-info")).to_contain_text("(312) 555-0177")
    page.goto(stack.url + "/inbox?q=0177")
    expect(page.locator(".conv-row", has_text=name)).to_have_count(1)
