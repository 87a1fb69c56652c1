"""A page on another site can make the browser open a conversation (a link, a redirect, a
script setting location: the Lax session cookie goes along on top-level GETs). Such a
navigation is answered, but changes nothing: the conversation stays unread and no "viewed"
entry is written. The same open from the app itself marks it read, as before."""

from __future__ import annotations

from sqlalchemy import select

from inbox.extensions import db
from inbox.models import AuditEvent, Conversation, Patient
from inbox.models.audit import AUDIT_VIEWED_CONVERSATION, AUDIT_VIEWED_PATIENT
from tests.conftest import fresh, login, row_count


def _unread() -> Conversation:
    return db.session.scalars(
        select(Conversation).where(Conversation.unread.is_(True)).order_by(Conversation.id)
    ).first()


def _entries(action: str) -> int:
    return row_count(AuditEvent) and db.session.scalar(
        select(db.func.count(AuditEvent.id)).where(AuditEvent.action == action)
    )


def test_a_navigation_from_another_site_marks_nothing_read(client, demo):
    login(client, "staff@glow.test")
    conv = _unread()
    viewed = _entries(AUDIT_VIEWED_CONVERSATION)
    for site in ("cross-site", "same-site"):
        headers = {
            "Sec-Fetch-Site": site,
            "Sec-Fetch-Mode": "navigate",
            "Sec-Fetch-Dest": "document",
        }
        r = client.get(f"/inbox/c/{conv.id}", headers=headers)
        assert r.status_code == 200  # the user's own browser: shown, but nothing changes
        fresh()
        assert db.session.get(Conversation, conv.id).unread, site
        assert _entries(AUDIT_VIEWED_CONVERSATION) == viewed, site
    # Opened from the app itself (or typed into the address bar): read, and audited.
    for site in ("same-origin", "none"):
        conv = _unread()
        r = client.get(f"/inbox/c/{conv.id}", headers={"Sec-Fetch-Site": site})
        assert r.status_code == 200
        fresh()
        assert not db.session.get(Conversation, conv.id).unread, site
    assert _entries(AUDIT_VIEWED_CONVERSATION) == viewed + 2


def test_a_navigation_from_another_site_writes_no_viewed_patient_entry(client, demo):
    login(client, "staff@glow.test")
    patient = db.session.scalars(select(Patient).order_by(Patient.id)).first()
    viewed = _entries(AUDIT_VIEWED_PATIENT)
    assert (
        client.get(f"/patients/{patient.id}", headers={"Sec-Fetch-Site": "cross-site"}).status_code
        == 200
    )
    assert _entries(AUDIT_VIEWED_PATIENT) == viewed
    client.get(f"/patients/{patient.id}", headers={"Sec-Fetch-Site": "same-origin"})
    assert _entries(AUDIT_VIEWED_PATIENT) == viewed + 1
