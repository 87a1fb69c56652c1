"""Every control's accessible name is its words: decorative icons (Bootstrap Icons draw
with private-use characters) are hidden from assistive technology, so "Inbox Settings"
is not read as a glyph plus "Inbox Settings", nor "Send" as " Send". Pages no other
browser test shows on a phone are walked at 390 px too, and must not scroll sideways."""

import re

from tests.e2e.conftest import login, settle
from tests.e2e.test_care import _ava

PRIVATE_USE = re.compile("[\ue000-\uf8ff]")
NAME = re.compile(r'- [a-z]+ "((?:[^"\\]|\\.)*)"')
PAGES = ["/inbox", "/inbox/c/{conv}", "/inbox/new", "/patients", "/patients/{patient}",
         "/patients/new", "/patients/{patient}/edit", "/patients/{patient}/appointments/{appt}",
         "/patients/import", "/settings/profile", "/settings/inbox", "/settings/inbox/replies",
         "/settings/inbox/replies/{reply}", "/settings/teammates", "/settings/teammates/invite",
         "/settings/teammates/{user}", "/settings/clinics", "/settings/clinics/{clinic}",
         "/settings/integrations", "/settings/integrations/webhooks", "/settings/billing",
         "/settings/audit", "/settings/export", "/account"]  # fmt: skip


def _ids(app, patient: int) -> dict[str, int]:
    """Ids of one record of each kind the pages above open (they differ between runs)."""
    from sqlalchemy import select

    from inbox.extensions import db
    from inbox.models import APPOINTMENT_BOOKED, Appointment, Clinic, Patient, ReplyTemplate, User

    with app.app_context():
        account = db.session.get(Patient, patient).account_id  # Ava's practice, Glow
        ids = {
            "appt": db.session.scalar(
                select(Appointment.id).where(
                    Appointment.patient_id == patient, Appointment.status == APPOINTMENT_BOOKED
                )
            ),
            "reply": db.session.scalar(
                select(ReplyTemplate.id).where(ReplyTemplate.account_id == account)
            ),
            "user": db.session.scalar(select(User.id).where(User.email == "staff@glow.test")),
            "clinic": db.session.scalar(
                select(Clinic.id).where(Clinic.account_id == account, Clinic.name == "Uptown")
            ),
        }
        db.session.remove()
    return ids


# Also walked at 390 px (phone-only controls have names too), where no other browser test
# looks at them on a phone: nothing may make the page scroll sideways.
PHONE_PAGES = ["/inbox/c/{conv}", "/patients/{patient}/edit",
               "/patients/{patient}/appointments/{appt}", "/settings/inbox/replies",
               "/settings/inbox/replies/{reply}", "/settings/clinics/{clinic}",
               "/settings/integrations"]  # fmt: skip


def test_no_control_or_heading_is_named_by_an_icon(app, page, stack):
    login(page, stack, "admin@glow.test")
    offenders = []
    patient, conv = _ava(app)
    ids = _ids(app, patient)
    walk = [(1366, p) for p in PAGES] + [(390, p) for p in PHONE_PAGES]
    for width, path in walk:
        page.set_viewport_size({"width": width, "height": 900 if width > 390 else 844})
        path = path.format(patient=patient, conv=conv, **ids)
        r = page.goto(stack.url + path)
        assert r.status == 200, path
        settle(page)  # lazy parts (hx-trigger="load") in place
        if width == 390:
            scrolled = page.evaluate("document.documentElement.scrollWidth")
            assert scrolled <= 390, (path, scrolled)
        tree = page.locator("body").aria_snapshot()
        for line in tree.splitlines():
            # A role's name (in quotes), or text read out as it is: never a glyph. (An
            # image's own glyph after its name is its picture, not its name.)
            named = NAME.match(line.strip())
            said = named.group(1) if named else line.strip()
            if PRIVATE_USE.search(said) and not line.strip().startswith("- img "):
                offenders.append(f"{path}: {line.strip()}")
    assert offenders == []
