"""Settings › Integrations, as the Main Admin uses it: Create API key, the secret shown
once with a copy button, the key used by another system (an HTTP request from here) to
upsert a patient, "Last used" on the list, Revoke, and the next request refused. Also
the API reference page, at desktop width and at 390 px."""

import re

import requests
from playwright.sync_api import expect

from tests.e2e.conftest import login, screenshot, settle

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


def test_the_main_admin_creates_uses_and_revokes_an_api_key(page, stack):
    page.set_viewport_size(DESKTOP)
    login(page, stack, "admin@glow.test")
    page.goto(stack.url + "/settings/profile")
    page.locator("#integrations-link").click()
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    expect(page.locator("#no-api-keys")).to_be_visible()

    # A missing name is refused, and the chosen scopes stay chosen.
    page.get_by_label("write").check()
    page.get_by_role("button", name="Create API key").click()
    expect(page.locator("#api-key-error")).to_contain_text("Name the key")
    expect(page.get_by_label("write")).to_be_checked()
    page.get_by_label("Name").fill("EHR sync")
    page.get_by_role("button", name="Create API key").click()
    secret = page.locator("#api-key-secret").inner_text().strip()
    assert re.fullmatch(r"ci_[\w-]{30,}", secret)
    expect(page.locator("#copy-secret")).to_be_visible()
    row = page.locator("#api-keys tbody tr", has_text="EHR sync")
    expect(row).to_contain_text("Never")
    expect(row).to_contain_text("by ")
    screenshot(page, "settings-integrations-created")
    # Shown once: the page opened again has only its prefix.
    page.goto(stack.url + "/settings/integrations")
    expect(page.locator("#api-key-secret")).to_have_count(0)
    assert secret not in page.content()

    # Another system uses it.
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {secret}"
    clinics = api.get(stack.url + "/api/v1/clinics", timeout=10).json()["data"]
    r = api.put(
        stack.url + "/api/v1/patients/by-external-id/EHR-42",
        json={"first_name": "Nora", "last_name": "Api", "phone": "(212) 555-0142",
              "home_clinic_id": clinics[0]["id"]},
        timeout=10,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    assert "Set-Cookie" not in r.headers
    page.reload()
    row = page.locator("#api-keys tbody tr", has_text="EHR sync")
    expect(row.locator(".api-key-used")).not_to_have_text("Never")

    # At 390 px the list and the form stay usable.
    page.set_viewport_size(PHONE)
    expect(row.get_by_role("button", name="Revoke EHR sync")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "settings-integrations-390")
    page.set_viewport_size(DESKTOP)

    # Revoke asks first; after it the key is refused at once.
    settle(page)
    page.once("dialog", lambda d: d.accept())
    row.get_by_role("button", name="Revoke EHR sync").click()
    expect(page.get_by_role("status")).to_contain_text("API key “EHR sync” revoked")
    expect(page.locator("#api-keys tbody tr", has_text="EHR sync")).to_contain_text("Revoked")
    r = api.get(stack.url + "/api/v1/patients", timeout=10)
    assert r.status_code == 401
    assert r.headers["Content-Type"].startswith("application/problem+json")

    # The audit log names the key for what it did.
    page.goto(stack.url + "/settings/audit")
    expect(page.locator("#audit-table")).to_contain_text("API key “EHR sync”")


def test_the_api_reference_reads_at_desktop_and_phone_width(page, stack):
    page.set_viewport_size(DESKTOP)
    page.goto(stack.url + "/api/docs")
    expect(page.get_by_role("heading", name=re.compile("Clinic Inbox API"))).to_be_visible()
    expect(page.locator("#problem-validation")).to_be_visible()
    expect(page.locator("[id='put-api-v1-patients-by-external-id-external_id']")).to_be_visible()
    screenshot(page, "api-docs")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "api-docs-390")
