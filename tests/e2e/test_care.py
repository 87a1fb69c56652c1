"""Appointments and paperwork on the patient profile, clicked through as the front desk
would: Add appointment (refused in the past, the fields kept), Change, Cancel (asked
first), Add paperwork, Mark completed; at 1366 px and on a phone."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import expect
from sqlalchemy import select

from inbox.extensions import db
from inbox.models import Conversation, Patient
from tests.e2e.conftest import login, screenshot

NY = ZoneInfo("America/New_York")


def _ava(app) -> tuple[int, int]:
    """Ava's patient and conversation ids (ids differ between databases and runs)."""
    with app.app_context():
        patient = db.session.scalar(select(Patient.id).where(Patient.phone == "+19175550100"))
        conv = db.session.scalar(select(Conversation.id).where(Conversation.patient_id == patient))
        db.session.remove()
    return patient, conv


def test_the_front_desk_books_changes_and_cancels_an_appointment(app, page, stack):
    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, stack, "frontdesk@glow.test")
    page.goto(stack.url + "/inbox")  # no Inbox privilege: the profile is reached by link
    page.goto(stack.url + f"/patients/{_ava(app)[0]}")
    name = page.locator("#patient-name").inner_text()
    page.get_by_text("Add appointment").click()
    form = page.locator("#add-appointment")
    form.get_by_label("Date").fill("2020-01-02")
    form.get_by_label("Time").fill("15:30")
    form.get_by_label("Service").fill("Lip filler")
    form.get_by_label("Provider").fill("Dr. Kim")
    form.get_by_role("button", name="Book appointment").click()
    expect(page.locator("#appointment-error")).to_contain_text("already passed")
    expect(page.locator("#add-appointment").get_by_label("Service")).to_have_value("Lip filler")
    day = (datetime.now(NY) + timedelta(days=5)).date().isoformat()
    page.locator("#add-appointment").get_by_label("Date").fill(day)
    page.locator("#add-appointment").get_by_role("button", name="Book appointment").click()
    expect(page.get_by_role("status")).to_contain_text("Booked: Lip filler")
    item = page.locator("#upcoming li", has_text="Lip filler")
    expect(item).to_contain_text("3:30 PM")
    screenshot(page, "profile-appointments")

    item.get_by_role("link", name="Change the Lip filler appointment").click()
    expect(page.get_by_role("heading", name="Change appointment")).to_be_visible()
    page.get_by_label("Time").fill("16:45")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved: Lip filler")
    expect(page.locator("#upcoming li", has_text="Lip filler")).to_contain_text("4:45 PM")

    page.once("dialog", lambda d: d.accept())
    page.locator("#upcoming li", has_text="Lip filler").get_by_role(
        "button", name="Cancel the Lip filler appointment"
    ).click()
    expect(page.get_by_role("status")).to_contain_text("No reminder will go out")
    expect(page.locator("#upcoming li", has_text="Lip filler")).to_have_count(0)

    # Paperwork: added, then marked completed; the timeline says so.
    page.get_by_text("Add paperwork").click()
    page.get_by_label("Form").fill("Photo consent")
    page.locator("#add-paperwork").get_by_role("button", name="Add").click()
    expect(page.locator("#paperwork")).to_contain_text("Photo consent")
    page.get_by_role("button", name=re.compile(r"^Mark completed\W+Photo consent$")).click()
    expect(page.locator("#paperwork")).not_to_contain_text("Photo consent")
    expect(page.locator("#patient-timeline")).to_contain_text("Photo consent completed")
    assert name

    # On a phone the same controls fit the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.get_by_text("Add appointment").click()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    expect(
        page.locator("#add-appointment").get_by_role("button", name="Book appointment")
    ).to_be_visible()
    assert re.search(r"\S", page.locator("#upcoming").inner_text())
