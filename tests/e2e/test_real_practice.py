"""A practice from an empty database to its first conversation, as a clinic starts
tomorrow: the CLI creates the practice and prints the Main Admin's link; the Main Admin sets
a password, adds a clinic, invites a teammate (the invitation read at a real SMTP server);
the teammate sets a password and logs in; the Main Admin imports the patients' CSV (two bad
rows named in the preview), turns the Inbox on through the wizard; a patient from the CSV
texts in and the conversation shows their name; the teammate replies."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import requests
from playwright.sync_api import expect

from tests.e2e.conftest import DESKTOP, ROOT, choose_password, empty_stack
from tests.mailserver import link_in

ADMIN = "maya.chen@lumendermatology.com"
TEAMMATE = "jordan.ellis@lumendermatology.com"
PASSWORD = "harbor velvet compass meadow"
TEAM_PASSWORD = "orchid lantern pebble summit"
CSV = (
    "Patient ID,First Name,Last Name,Cell Phone,Email,DOB\r\n"
    "LD-1001,Grace,Okafor,(917) 555-0311,grace@example.com,04/12/1988\r\n"
    "LD-1002,Henry,Lindqvist,917-555-0312,,1979-11-30\r\n"
    "LD-1003,Isla,Moreno,not a phone,isla@example.com,\r\n"
    "LD-1004,,,917 555 0314,,\r\n"
    "LD-1005,Jonah,Baptiste,+1 917 555 0315,jonah@example.com,\r\n"
)


def test_a_real_practice_from_an_empty_database_to_a_reply(
    app, database_url, redis_url, page, browser, mail_server, tmp_path
):
    page.set_viewport_size(DESKTOP)
    sender = "Lumen Dermatology <no-reply@lumendermatology.com>"
    with empty_stack(app, database_url, redis_url, mail_server, sender, sandbox=True) as stack:
        # The operator creates the practice; the Main Admin's link is printed.
        created = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", "create-practice",
             "Lumen Dermatology", "--admin-email", ADMIN, "--admin-name", "Maya Chen",
             "--timezone", "America/New_York", "--plan", "accelerator"],
            cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert created.returncode == 0, created.stdout + created.stderr
        link = re.search(r"http://\S+/password/set/\S+", created.stdout).group(0)
        mail_server.wait_for(1)
        mail_server.clear()
        page.goto(link)
        choose_password(page, PASSWORD, "Set password and log in")
        page.get_by_role("heading", name="Hello, Maya").wait_for()

        # A second clinic.
        page.goto(stack.url + "/settings/clinics")
        page.get_by_label("Name").fill("Park Slope")
        page.get_by_label("Address").fill("210 7th Ave, Brooklyn, NY 11215")
        page.get_by_label("Phone").fill("718 555 0190")
        page.get_by_label("Time zone").fill("America/New_York")
        page.get_by_role("button", name="Add clinic").click()
        expect(page.get_by_role("status")).to_contain_text("Park Slope")

        # A teammate, invited by email.
        page.goto(stack.url + "/settings/teammates/invite")
        page.get_by_label("Name").fill("Jordan Ellis")
        page.get_by_label("Email").fill(TEAMMATE)
        page.get_by_label("Staff").check()
        page.get_by_role("button", name="Send invitation").click()
        [invitation] = mail_server.wait_for(1)
        assert invitation["To"] == TEAMMATE
        team = browser.new_context(viewport=DESKTOP)
        tab = team.new_page()
        tab.goto(link_in(invitation))
        choose_password(tab, TEAM_PASSWORD, "Set password and log in")
        tab.wait_for_url(lambda url: "/password/" not in url)
        expect(tab.locator("#nav-account")).to_contain_text("Jordan")

        # The patients, from the practice-management system's CSV export.
        csv_file = tmp_path / "patients.csv"
        csv_file.write_bytes(b"\xef\xbb\xbf" + CSV.encode())
        import_patients(page, stack, csv_file)

        # The Inbox on, through the wizard.
        page.goto(stack.url + "/settings/inbox")
        page.get_by_role("switch", name=re.compile("Turn it on")).click()
        page.get_by_label("Area code").fill("212")
        page.get_by_role("button", name="Search").click()
        row = page.locator(".number-row").first
        row.get_by_role("link", name=re.compile("Select")).click()
        page.get_by_role("button", name="Continue").click()
        number = page.locator("#review-number").inner_text()
        page.get_by_role("button", name="Finish Setup").click()
        expect(page.get_by_role("heading", name="Your Inbox is ready")).to_be_visible()
        digits = "1" + re.sub(r"\D", "", number)

        # Grace, from the CSV, texts in; the teammate sees her name and replies.
        tab.goto(stack.url + "/inbox")
        r = requests.post(stack.sandbox_url + "/_sandbox/inbound",
                          json={"from": "19175550311", "to": digits,
                                "text": "Hi! Is Thursday at 3 still open?"}, timeout=5)  # fmt: skip
        assert r.json()["status"] == 200
        row = tab.locator(".conv-row", has_text="Grace Okafor")
        expect(row).to_be_visible(timeout=15_000)
        row.locator(".conv-link").click()
        expect(tab.locator("#conversation-name")).to_have_text("Grace Okafor")
        tab.locator("textarea[data-composer]").fill("Hi Grace, yes, Thursday at 3 is yours!")
        tab.get_by_role("button", name=re.compile(r"^\W*Send$")).click()
        expect(tab.locator(".msg.out").last).to_contain_text("Thursday at 3 is yours")
        # And it reaches Grace's phone (the sandbox), from the practice's new number.
        deadline = time.monotonic() + 15
        while True:
            state = requests.get(stack.sandbox_url + "/_sandbox/state", timeout=5).json()
            if any("Thursday at 3 is yours" in str(m) for m in state.get("messages", [])):
                break
            assert time.monotonic() < deadline, "the reply never reached the carrier"
            time.sleep(0.1)
        team.close()


def import_patients(page, stack, csv_file) -> None:
    """Patients › Import patients: the two bad rows named in the preview, three imported."""
    page.goto(stack.url + "/patients")
    page.get_by_role("link", name="Import patients").click()
    page.get_by_label("CSV file").set_input_files(str(csv_file))
    page.get_by_label("Home clinic for new patients").select_option(label="Park Slope")
    page.get_by_role("button", name="Continue").click()
    rows = page.locator("#import-rows")
    expect(rows).to_contain_text("Skipped: Bad mobile number “not a phone”")
    expect(rows).to_contain_text("Skipped: Missing name")
    expect(page.locator("#to-add")).to_have_text("3")
    expect(page.locator("#to-skip")).to_have_text("2")
    page.get_by_role("button", name=re.compile(r"Import 3 patients")).click()
    expect(page.locator("#import-summary")).to_have_text("Import finished", timeout=30_000)
    expect(page.locator("#count-added")).to_have_text("3")
