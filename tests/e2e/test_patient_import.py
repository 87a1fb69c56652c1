"""Patients › Import patients as an admin uses it: a CSV with two bad rows, both named in
the preview, the import with its progress bar running to the summary, and an imported
patient found on the Patients page; the pages at 390 px without sideways scrolling."""

import re

from playwright.sync_api import expect

from tests.e2e.conftest import login, screenshot


def _csv(tmp_path) -> str:
    lines = ["Patient ID;First Name;Last Name;Cell Phone;DOB;Location"]
    lines += [f"E{i};Imported{i};Person;(646) 2{i // 1000:02d}-{i % 1000:04d};3/14/1990;Uptown"
              for i in range(1500)]  # fmt: skip
    lines.insert(4, "X1;Wendy;Wrong;555-12;;")  # bad mobile: row 5
    lines.insert(9, "X2;;;(646) 299-0001;;")  # no name: row 10
    lines.append("J1;Juniper;Okafor;(646) 299-0007;12/01/1985;Uptown")
    path = tmp_path / "practice-export.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8-sig"))
    return str(path)


def test_an_admin_imports_patients_from_a_csv(page, stack, tmp_path):
    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, stack, "admin@glow.test")
    page.get_by_role("link", name="Patients").click()
    page.get_by_role("link", name="Import patients").click()
    expect(page.get_by_role("heading", name="Import patients")).to_be_visible()
    page.get_by_label("CSV file").set_input_files(_csv(tmp_path))
    page.get_by_label("Home clinic for new patients").select_option(label="Downtown")
    screenshot(page, "patients/import-upload-1366")
    page.get_by_role("button", name="Continue").click()

    # The preview names both bad rows and counts what will happen.
    rows = page.locator("#import-rows")
    expect(rows).to_contain_text("Skipped: Bad mobile number “555-12”")
    expect(rows).to_contain_text("Skipped: Missing name")
    expect(page.locator("#to-add")).to_have_text("1,501")
    expect(page.locator("#to-skip")).to_have_text("2")
    expect(page.get_by_label("Mobile number")).to_have_value("3")  # "Cell Phone" guessed
    screenshot(page, "patients/import-preview-1366")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "patients/import-preview-390")
    page.set_viewport_size({"width": 1366, "height": 900})

    page.get_by_role("button", name=re.compile(r"Import 1,501 patients")).click()
    # The progress card polls until the summary replaces it.
    expect(page.locator("#import-progress")).to_be_visible()
    expect(page.locator("#import-summary")).to_have_text("Import finished", timeout=30_000)
    expect(page.locator("#count-added")).to_have_text("1,501")
    expect(page.locator("#count-skipped")).to_have_text("2")
    expect(page.get_by_role("link", name="Download skipped rows")).to_be_visible()
    screenshot(page, "patients/import-summary-1366")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "patients/import-summary-390")
    page.reload()  # the summary is kept in the database, not in the page
    expect(page.locator("#import-summary")).to_be_visible()

    page.set_viewport_size({"width": 1366, "height": 900})
    page.get_by_role("link", name="Go to Patients").click()
    page.get_by_label("Search patients").fill("okafor")
    expect(page.locator("#patient-rows")).to_contain_text("Juniper Okafor")
    expect(page.locator("#patient-rows")).to_contain_text("(646) 299-0007")
    expect(page.locator("#patient-rows")).to_contain_text("Uptown")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.get_by_role("link", name="Import patients")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "patients/index-admin-390")


def test_an_admin_imports_the_booking_schedule(page, stack, tmp_path):
    """After the patients, their appointments: found by Patient ID or mobile, times in the
    clinic's zone, a bad row named, the reminder of one starting within hours left to
    the admin, and the booking on the patient's profile."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    soon = datetime.now(ZoneInfo("America/New_York")) + timedelta(hours=4)
    later = (soon + timedelta(days=6)).date()
    schedule = tmp_path / "schedule.csv"
    schedule.write_text(
        "Appointment ID,Patient ID,Mobile,Date,Time,Length,Service,Provider,Location\r\n"
        f"S-1,,(917) 555-0100,{later:%m/%d/%Y},2:30 PM,45,Lip filler,Dr. Rivera,Uptown\r\n"
        f"S-2,,(917) 555-0100,{soon:%m/%d/%Y},{soon:%-I:%M %p},30,Consultation,,Uptown\r\n"
        f"S-3,,(212) 555-9999,{later:%m/%d/%Y},10:00 AM,,Peel,,Uptown\r\n"
    )
    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, stack, "admin@glow.test")
    page.goto(stack.url + "/patients")
    page.get_by_role("link", name="Import patients").click()
    page.get_by_role("link", name="Appointments").click()
    expect(page.get_by_role("heading", name="Import appointments")).to_be_visible()
    page.get_by_label("CSV file").set_input_files(str(schedule))
    page.get_by_role("button", name="Continue").click()

    expect(page.locator("#import-rows")).to_contain_text(
        "Skipped: No patient with mobile (212) 555-9999"
    )
    expect(page.locator("#to-add")).to_have_text("2")
    expect(page.get_by_label("Appointment ID (from your system)")).to_have_value("0")
    remind = page.get_by_label(re.compile(r"Text the 24-hour reminder now for the 1 appointment"))
    expect(remind).not_to_be_checked()
    screenshot(page, "patients/import-appointments-preview-1366")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "patients/import-appointments-preview-390")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.get_by_role("button", name="Import 2 appointments").click()
    expect(page.locator("#import-summary")).to_have_text("Import finished", timeout=30_000)
    expect(page.locator("#count-added")).to_have_text("2")
    expect(page.locator("#count-skipped")).to_have_text("1")

    page.goto(stack.url + "/patients?q=ava+martinez")
    page.locator("#patient-rows").get_by_role("link", name="Ava Martinez").first.click()
    booking = page.locator("#upcoming .care-item", has_text="Lip filler")
    expect(booking).to_contain_text("2:30 PM")
    expect(booking).to_contain_text("Uptown")
    expect(page.locator("#upcoming .care-item", has_text="Consultation")).to_contain_text(
        "No reminder: imported less than a day before it"
    )
    screenshot(page, "patients/profile-imported-appointments-1366")
