"""Settings › Inbox › Saved replies: add, edit, reorder and delete the texts staff pick
under Templates; merge fields checked as for the reminder text, a live preview for a sample
patient, refusals that keep what was typed, every change audited."""

from __future__ import annotations

import re

from sqlalchemy import select

from inbox.extensions import db
from inbox.models import AuditEvent, Conversation, ReplyTemplate
from inbox.services import templates
from tests.conftest import csrf_token, fresh, login

HTMX = {"HX-Request": "true"}


def _names(account_id: int) -> list[str]:
    fresh()
    return [r.name for r in templates.saved_replies(account_id)]


def _post(client, url: str, **data):
    return client.post(
        url, data={"csrf_token": csrf_token(client, "/settings/inbox/replies"), **data}
    )


def test_add_edit_reorder_and_delete_a_saved_reply(client, demo):
    login(client, "admin@glow.test")
    page = client.get("/settings/inbox/replies").get_data(as_text=True)
    before = _names(demo.id)
    assert before and all(n in page for n in before)
    assert "Add saved reply" in page and "Saved replies" in page

    r = _post(client, "/settings/inbox/replies", name="  Running   behind ",
              body="Hi {first_name}, we are running 10 minutes late at {clinic_name}.",
              paperwork="on")  # fmt: skip
    assert r.status_code == 302
    added = db.session.scalars(
        select(ReplyTemplate).where(ReplyTemplate.name == "Running behind")
    ).one()
    assert added.kind == "paperwork" and _names(demo.id)[-1] == "Running behind"

    # It shows, filled in, under Templates in a conversation (the menu loads its items
    # when it is opened).
    conv = db.session.scalars(select(Conversation).order_by(Conversation.id)).first()
    conversation = client.get(f"/inbox/c/{conv.id}").get_data(as_text=True)
    menu = re.search(r'<details class="template-menu" hx-get="([^"]+)"', conversation)[1]
    items = client.get(menu, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert f"Hi {conv.patient.first_name}, we are running 10 minutes late" in items

    r = _post(client, f"/settings/inbox/replies/{added.id}", name="Running behind",
              body="Sorry {first_name}, we are 10 minutes behind today.")  # fmt: skip
    assert r.status_code == 302
    fresh()
    edited = db.session.get(ReplyTemplate, added.id)
    assert edited.body.startswith("Sorry {first_name}") and edited.kind == "general"

    # Move up twice, then it is second from the end... up to first.
    for _ in range(len(before)):
        assert (
            _post(client, f"/settings/inbox/replies/{added.id}/move", direction="up").status_code
            == 302
        )
    assert _names(demo.id)[0] == "Running behind"
    assert (
        _post(client, f"/settings/inbox/replies/{added.id}/move", direction="up").status_code == 302
    )
    assert _names(demo.id)[0] == "Running behind"  # already first
    _post(client, f"/settings/inbox/replies/{added.id}/move", direction="down")
    assert _names(demo.id)[1] == "Running behind"

    page = client.get("/settings/inbox/replies").get_data(as_text=True)
    assert 'hx-confirm="Delete the saved reply “Running behind”?' in page
    assert _post(client, f"/settings/inbox/replies/{added.id}/delete").status_code == 302
    assert _names(demo.id) == before

    fresh()
    actions = list(db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.account_id == demo.id).order_by(AuditEvent.id)
    ))  # fmt: skip
    for action in ("added_saved_reply", "edited_saved_reply", "reordered_saved_replies",
                   "deleted_saved_reply"):  # fmt: skip
        assert action in actions
    log = client.get("/settings/audit").get_data(as_text=True)
    assert "Added a saved reply" in log and "“Running behind”" in log


def test_refusals_name_the_problem_and_keep_what_was_typed(client, demo):
    login(client, "admin@glow.test")
    count = len(_names(demo.id))
    cases = [
        ({"name": "", "body": "Hello"}, "Give the saved reply a name"),
        ({"name": "Empty", "body": "   "}, "Write the text of the saved reply"),
        ({"name": "Typo", "body": "Hi {firstname}!"}, "Unknown merge field {firstname}"),
        ({"name": "Brace", "body": "Hi {first_name"}, "has no partner"),
        ({"name": "Long", "body": "x" * 999 + "{first_name}"}, "the limit is 6"),
        ({"name": _names(demo.id)[0].upper(), "body": "Hello"}, "There is already a saved reply"),
    ]
    for data, reason in cases:
        r = _post(client, "/settings/inbox/replies", **data)
        assert r.status_code == 422, data
        page = r.get_data(as_text=True)
        assert reason in page, (reason, data)
        if data["body"].strip():
            assert data["body"][:40] in page  # what was typed is still in the box
    assert len(_names(demo.id)) == count


def test_live_preview_fills_in_a_sample_patient(client, demo):
    login(client, "admin@glow.test")
    token = csrf_token(client, "/settings/inbox/replies")
    body = "Hi {first_name}, see you at {practice_name}: {next_appointment}"
    r = client.post("/settings/inbox/replies/preview", headers=HTMX,
                    data={"csrf_token": token, "body": body})  # fmt: skip
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "Hi Ava, see you at Glow Aesthetics: " in html and " at Downtown" in html
    assert "1 text" in html
    bad = client.post("/settings/inbox/replies/preview", headers=HTMX,
                      data={"csrf_token": token, "body": "Hi {nme}"})  # fmt: skip
    bad = bad.get_data(as_text=True)
    assert "Unknown merge field {nme}" in bad


def test_only_the_main_admin_manages_saved_replies_and_ids_are_scoped(app, client, demo):
    reply = templates.saved_replies(demo.id)[0]
    for email in ("admin2@glow.test", "staff@glow.test"):
        login(client, email)
        assert client.get("/settings/inbox/replies").status_code == 403
    login(client, "admin@fresh.test")  # another practice's Main Admin
    assert client.get(f"/settings/inbox/replies/{reply.id}").status_code == 404
    r = _post(client, f"/settings/inbox/replies/{reply.id}/delete")
    assert r.status_code == 404
    assert reply.name in _names(demo.id)
