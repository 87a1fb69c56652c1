"""The API's reads and their filters through the real app and database: patient search and
paging, PATCH of a patient, appointments by clinic and start time, conversations by each
filter the Inbox offers, a conversation paged back with `before`; and the audit trail of
paperwork updates and appointment batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import func, select

from inbox.extensions import db
from inbox.models import (
    Account,
    Appointment,
    AuditEvent,
    Clinic,
    Conversation,
    Message,
    Patient,
    utcnow,
)
from inbox.models.audit import (
    AUDIT_ADDED_APPOINTMENT,
    AUDIT_ADDED_PAPERWORK,
    AUDIT_EDITED_APPOINTMENT,
    AUDIT_EDITED_PAPERWORK,
    AUDIT_EDITED_PATIENT,
)
from inbox.services import phones, search_text
from tests.conftest import fresh
from tests.integration.test_api import V1, _client, _clinic, _key


def _clinics(account_id: int) -> list[int]:
    return list(
        db.session.scalars(
            select(Clinic.id).where(Clinic.account_id == account_id).order_by(Clinic.id)
        )
    )


def _put_patient(client, key, external_id: str, first: str, last: str, phone: str, clinic):
    r = client.put(
        f"{V1}/patients/by-external-id/{external_id}",
        headers=key,
        json={"first_name": first, "last_name": last, "phone": phone, "home_clinic_id": clinic},
    )
    assert r.status_code == 201, r.json
    return r.json["id"]


def _other_practices_patient(demo, first: str, last: str, phone: str) -> int:
    other = db.session.scalars(select(Account).where(Account.id != demo.id)).first()
    patient = Patient(
        account_id=other.id, first_name=first, last_name=last, phone=phone,
        phone_digits=phones.national_digits(phone), name_search=search_text.name_key(first, last),
    )  # fmt: skip
    db.session.add(patient)
    db.session.commit()
    return patient.id


def _walk(client, key, url: str, params: dict) -> list[list[dict]]:
    """Every page of a list, following next_cursor to the end."""
    pages, cursor = [], None
    while True:
        query = {**params, "cursor": cursor} if cursor else params
        r = client.get(url, headers=key, query_string=query)
        assert r.status_code == 200, r.json
        pages.append(r.json["data"])
        cursor = r.json["next_cursor"]
        if not cursor:
            return pages
        assert len(pages) < 100, "paging does not end"


def _api_events(action: str) -> list[AuditEvent]:
    fresh()
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == action, AuditEvent.api_key_id.is_not(None))
            .order_by(AuditEvent.id)
        )
    )


# ---- patients ------------------------------------------------------------------------------


def test_patient_search_finds_only_the_matching_patients(app, demo):
    client, key, clinic = _client(app), _key(demo.id), _clinic(demo.id)
    zelda = _put_patient(client, key, "Q-1", "Zelda", "Quimby", "+12125550301", clinic)
    zeb = _put_patient(client, key, "Q-2", "Zeb", "Quimby", "+12125550302", clinic)
    quincy = _put_patient(client, key, "Q-3", "Quincy", "Zeller", "+12125550303", clinic)
    eloise = _put_patient(client, key, "Q-4", "Éloïse", "Quimby", "+12125550304", clinic)
    # The same name in another practice is never found through this practice's key.
    _other_practices_patient(demo, "Zelda", "Quimby", "+12125550305")

    def found(q: str, **params) -> set[int]:
        return {p["id"] for page in _walk(client, key, f"{V1}/patients", {"q": q, **params})
                for p in page}  # fmt: skip

    assert found("quimby") == {zelda, zeb, eloise}  # last name prefix
    assert found("QUIM") == {zelda, zeb, eloise}
    assert found("zel") == {zelda, quincy}  # first name of one, last name of the other
    assert found("Zelda Quimby") == {zelda}
    assert found("  quimby   zeb ") == {zeb}  # "last first", spaces squeezed
    assert found("eloise") == {eloise}  # accents folded
    assert found("555-0302") == {zeb}  # digits anywhere in the number, any format
    assert found("(212) 555-0303") == {quincy}
    assert found("quimby", limit=1) == {zelda, zeb, eloise}  # a search pages too
    assert found("nobody-by-that-name") == set()


def test_plain_cursor_paging_walks_every_patient_once(app, demo):
    client, key = _client(app), _key(demo.id)
    expected = list(
        db.session.scalars(
            select(Patient.id).where(Patient.account_id == demo.id).order_by(Patient.id)
        )
    )
    assert len(expected) > 20
    pages = _walk(client, key, f"{V1}/patients", {"limit": 7})
    ids = [p["id"] for page in pages for p in page]
    assert ids == expected  # each once, by id, nothing of another practice
    assert all(len(page) == 7 for page in pages[:-1]) and 1 <= len(pages[-1]) <= 7
    assert len(pages) == -(-len(expected) // 7)
    # Exactly one page: no cursor to a page that would be empty.
    r = client.get(f"{V1}/patients", headers=key, query_string={"limit": len(expected)})
    assert len(r.json["data"]) == len(expected) and r.json["next_cursor"] is None
    r = client.get(f"{V1}/patients", headers=key, query_string={"cursor": "not-a-cursor"})
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert [e["field"] for e in r.json["errors"]] == ["cursor"]


def test_patching_a_patient_saves_the_fields_sent_and_names_a_bad_one(app, demo):
    client, key, clinic = _client(app), _key(demo.id), _clinic(demo.id)
    pid = _put_patient(client, key, "PA-1", "Ann", "Lee", "+12125550311", clinic)
    url = f"{V1}/patients/{pid}"
    r = client.patch(
        url, headers=key,
        json={"first_name": "Annabel", "email": "ann@example.com", "date_of_birth": "1990-02-03"},
    )  # fmt: skip
    assert r.status_code == 200, r.json
    got = client.get(url, headers=key).json
    assert (got["first_name"], got["email"], got["date_of_birth"]) == (
        "Annabel", "ann@example.com", "1990-02-03",
    )  # fmt: skip
    # What was not sent stays as it was.
    assert (got["last_name"], got["phone"], got["home_clinic_id"], got["external_id"]) == (
        "Lee", "+12125550311", clinic, "PA-1",
    )  # fmt: skip
    # null clears an optional field.
    r = client.patch(url, headers=key, json={"email": None, "phone": "(212) 555-0312"})
    assert r.status_code == 200, r.json
    got = client.get(url, headers=key).json
    assert got["email"] is None and got["phone"] == "+12125550312"
    assert got["first_name"] == "Annabel"
    assert [e.object_id for e in _api_events(AUDIT_EDITED_PATIENT)] == [pid, pid]

    def refused(body: dict) -> dict:
        r = client.patch(url, headers=key, json=body)
        assert r.status_code == 422, r.json
        assert r.mimetype == "application/problem+json"
        return r.json

    for body, field in [
        ({"shoe_size": 9}, "shoe_size"),
        ({"date_of_birth": "someday"}, "date_of_birth"),
        ({"first_name": "x" * 81}, "first_name"),
        ({"home_clinic_id": "downtown"}, "home_clinic_id"),
        ({"phone": None}, "phone"),
        ({"phone": "12"}, "phone"),
    ]:
        problem = refused(body)
        assert field in [e["field"] for e in problem["errors"]], (body, problem)
        assert field in problem["detail"]
    # Refused by the patient's own checks: the reason in words.
    assert "not an email address" in refused({"email": "ann at example"})["detail"]
    other_clinic = db.session.scalars(select(Clinic.id).where(Clinic.account_id != demo.id)).first()
    assert "home clinic" in refused({"home_clinic_id": other_clinic})["detail"]
    # Nothing refused was saved.
    got = client.get(url, headers=key).json
    assert (got["first_name"], got["email"], got["phone"], got["home_clinic_id"]) == (
        "Annabel", None, "+12125550312", clinic,
    )  # fmt: skip
    assert len(_api_events(AUDIT_EDITED_PATIENT)) == 2
    # Another practice's patient is not there to change.
    theirs = _other_practices_patient(demo, "Ann", "Lee", "+12125550313")
    r = client.patch(f"{V1}/patients/{theirs}", headers=key, json={"first_name": "Mine"})
    assert r.status_code == 404
    fresh()
    assert db.session.get(Patient, theirs).first_name == "Ann"
    assert client.patch(f"{V1}/patients/{2**31 - 1}", headers=key, json={}).status_code == 404


# ---- appointments ------------------------------------------------------------------------


def test_appointments_by_clinic_and_start_time_with_documented_bounds(app, demo):
    client, key = _client(app), _key(demo.id)
    first, second = _clinics(demo.id)[:2]
    pid = _put_patient(client, key, "AP-1", "Ida", "Ames", "+12125550321", first)
    # Far beyond the demo's appointments (weeks either side of today), on the hour.
    base = (utcnow() + timedelta(days=400)).replace(minute=0, second=0, microsecond=0)
    plan = [("A", 0, first), ("B", 1, second), ("C", 2, first), ("D", 3, second), ("E", 3, first)]
    r = client.post(
        f"{V1}/appointments/batch", headers=key,
        json={"appointments": [
            {"external_id": ext, "patient_id": pid, "clinic_id": clinic, "service": "Peel",
             "starts_at": (base + timedelta(hours=h)).isoformat()}
            for ext, h, clinic in plan
        ]},
    )  # fmt: skip
    assert r.json["created"] == 5, r.json

    def listed(**params) -> list[str]:
        pages = _walk(client, key, f"{V1}/appointments", params)
        return [a["external_id"] for page in pages for a in page]

    def at(hours: int, tz=UTC) -> str:
        return (base + timedelta(hours=hours)).astimezone(tz).isoformat()

    # starts_from: at or after (included); starts_before: before (excluded).
    assert listed(starts_from=at(1), starts_before=at(3)) == ["B", "C"]
    assert listed(starts_from=at(0), starts_before=at(1)) == ["A"]
    assert listed(starts_from=at(3)) == ["D", "E"]  # same start: by id
    assert listed(starts_from=at(1), starts_before=at(1)) == []
    # The same instants written with another offset.
    eastern = timezone(timedelta(hours=-5))
    assert listed(starts_from=at(1, eastern), starts_before=at(3, eastern)) == ["B", "C"]
    assert listed(starts_from=at(0), clinic_id=second) == ["B", "D"]
    assert listed(starts_from=at(0), clinic_id=first, starts_before=at(3)) == ["A", "C"]
    assert listed(starts_from=at(0), limit=2) == ["A", "B", "C", "D", "E"]  # paged by 2
    # Everything before base: the demo's, not ours.
    assert not {"A", "B", "C", "D", "E"} & set(listed(starts_before=at(0)))
    # clinic_id alone: exactly that clinic's appointments, every one once, oldest first.
    pages = _walk(client, key, f"{V1}/appointments", {"clinic_id": second, "limit": 9})
    rows = [a for page in pages for a in page]
    expected = set(
        db.session.scalars(
            select(Appointment.id).where(
                Appointment.account_id == demo.id, Appointment.clinic_id == second
            )
        )
    )
    assert {a["id"] for a in rows} == expected
    assert len(rows) == len(expected) and len(expected) > 2
    keys = [(datetime.fromisoformat(a["starts_at"]), a["id"]) for a in rows]
    assert keys == sorted(keys)
    # A time without its offset is refused, naming the parameter.
    naive = {"starts_from": "2030-01-01T09:00:00"}
    r = client.get(f"{V1}/appointments", headers=key, query_string=naive)
    assert r.status_code == 422 and [e["field"] for e in r.json["errors"]] == ["starts_from"]


# ---- conversations -----------------------------------------------------------------------


def test_conversation_list_filters_match_the_conversations(app, demo):
    client, key = _client(app), _key(demo.id)
    convs = list(db.session.scalars(select(Conversation).where(Conversation.account_id == demo.id)))
    first, second = _clinics(demo.id)[:2]

    def listed(**params) -> list[int]:
        pages = _walk(client, key, f"{V1}/conversations", {"limit": 200, **params})
        assert len(pages) == 1
        return [c["id"] for c in pages[0]]

    def expect(pred) -> set[int]:
        return {c.id for c in convs if pred(c)}

    everyone = listed()
    assert set(everyone) == expect(lambda c: True) and len(everyone) == len(convs)
    order = sorted(convs, key=lambda c: (c.last_message_at, c.id), reverse=True)
    assert everyone == [c.id for c in order]  # newest activity first

    cases = {
        "unread": ({"unread": "true"}, lambda c: c.unread),
        "read": ({"unread": "false"}, lambda c: not c.unread),
        "needs reply": (
            {"needs_reply": "true"}, lambda c: c.last_direction == "in" and not c.opted_out,
        ),
        "clinic": ({"clinic_id": second}, lambda c: c.clinic_id == second),
        "unread in a clinic": (
            {"unread": "true", "clinic_id": first}, lambda c: c.unread and c.clinic_id == first,
        ),
        "needs reply, read": (
            {"needs_reply": "true", "unread": "false"},
            lambda c: c.last_direction == "in" and not c.opted_out and not c.unread,
        ),
    }  # fmt: skip
    for name, (params, pred) in cases.items():
        want = expect(pred)
        assert want and want != set(everyone), f"{name}: the demo data does not test it"
        got = listed(**params)
        assert set(got) == want and len(got) == len(want), name
        assert got == [i for i in everyone if i in want], f"{name}: not in list order"
    # The replies the API gives say the same as the filter.
    r = client.get(f"{V1}/conversations", headers=key, query_string={"needs_reply": "true"})
    assert all(c["needs_reply"] for c in r.json["data"])
    # false is not "those that need none" (no such view): refused rather than ignored.
    r = client.get(f"{V1}/conversations", headers=key, query_string={"needs_reply": "false"})
    assert r.status_code == 422 and "needs_reply" in r.get_data(as_text=True)
    r = client.get(f"{V1}/conversations", headers=key, query_string={"unread": "false"})
    assert not any(c["unread"] for c in r.json["data"])
    # Search by a patient's name.
    conv = convs[0]
    patient = db.session.get(Patient, conv.patient_id)
    got = listed(q=f"{patient.first_name} {patient.last_name}")
    assert conv.id in got and all(
        db.session.get(Conversation, i).patient_id == patient.id for i in got
    )
    # Paged by 5: every conversation once, in the same order.
    pages = _walk(client, key, f"{V1}/conversations", {"limit": 5})
    assert [c["id"] for page in pages for c in page] == everyone
    # The Inbox off: none.
    demo.inbox_enabled = False
    db.session.commit()
    assert listed() == []


def test_a_conversation_pages_back_with_before_without_gaps_or_overlap(app, demo):
    client, key = _client(app), _key(demo.id)
    conv = db.session.scalars(
        select(Conversation)
        .where(Conversation.account_id == demo.id, Conversation.unread.is_(True))
        .order_by(Conversation.id)
    ).first()
    patient = db.session.get(Patient, conv.patient_id)
    oldest = db.session.scalar(
        select(func.min(Message.sent_at)).where(Message.conversation_id == conv.id)
    )
    # Older texts, two at each second (ties on sent_at, told apart by id).
    for i in range(23):
        db.session.add(
            Message(account_id=demo.id, conversation_id=conv.id, direction="in",
                    body=f"older {i}", from_number=patient.phone, to_number="+12125550100",
                    status="received", sent_at=oldest - timedelta(days=1, seconds=30 - i // 2))
        )  # fmt: skip
    db.session.commit()
    expected = [
        m.id
        for m in db.session.scalars(
            select(Message)
            .where(Message.conversation_id == conv.id)
            .order_by(Message.sent_at, Message.id)
        )
    ]
    assert len(expected) > 25

    url = f"{V1}/conversations/{conv.id}"
    pages, before = [], None
    while True:
        query = {"limit": 4, "before": before} if before else {"limit": 4}
        r = client.get(url, headers=key, query_string=query)
        assert r.status_code == 200, r.json
        ids = [m["id"] for m in r.json["messages"]]
        pages.append(ids)
        before = r.json["before_cursor"]
        if before is None:
            break
        assert len(ids) == 4 and len(pages) < 50
    walked = [i for page in reversed(pages) for i in page]  # each page oldest first
    assert walked == expected  # together every text, in order, none twice
    assert pages[0] == expected[-4:]  # no `before`: the newest
    # Reading through the API does not mark it read.
    fresh()
    assert db.session.get(Conversation, conv.id).unread is True
    r = client.get(url, headers=key, query_string={"before": "nope"})
    assert r.status_code == 422 and [e["field"] for e in r.json["errors"]] == ["before"]


# ---- the audit trail of writes -------------------------------------------------------------


def test_a_paperwork_update_is_audited_as_well_as_its_creation(app, demo):
    client, key, clinic = _client(app), _key(demo.id), _clinic(demo.id)
    pid = _put_patient(client, key, "PW-1", "Eve", "Ng", "+12125550331", clinic)
    url = f"{V1}/paperwork/by-external-id/F-1"
    assert (
        client.put(url, headers=key, json={"patient_id": pid, "name": "Med hx"}).status_code == 201
    )
    r = client.put(url, headers=key, json={"patient_id": pid, "name": "Medical history"})
    assert r.status_code == 200 and r.json["name"] == "Medical history"
    r = client.put(url, headers=key, json={"patient_id": pid, "name": "Medical history"})
    assert r.status_code == 200
    added = _api_events(AUDIT_ADDED_PAPERWORK)
    assert [(e.object_id, e.summary) for e in added] == [(pid, "Med hx, through the API")]
    edits = _api_events(AUDIT_EDITED_PAPERWORK)
    assert [(e.object_type, e.object_id) for e in edits] == [("patient", pid)]  # not the resync
    assert "“Medical history” renamed from “Med hx”" in edits[0].summary
    # A refused update writes nothing.
    other = _put_patient(client, key, "PW-2", "Flo", "Ng", "+12125550332", clinic)
    r = client.put(url, headers=key, json={"patient_id": other, "name": "Medical history"})
    assert r.status_code == 409
    assert len(_api_events(AUDIT_EDITED_PAPERWORK)) == 1


def test_an_appointment_batch_is_audited_as_added_and_changed(app, demo):
    client, key, clinic = _client(app), _key(demo.id), _clinic(demo.id)
    pid = _put_patient(client, key, "AB-1", "Gus", "Ng", "+12125550341", clinic)
    when = (utcnow() + timedelta(days=60)).replace(microsecond=0)

    def appt(ext: str, hours: int = 0, patient_id: int = pid) -> dict:
        starts = (when + timedelta(hours=hours)).isoformat()
        return {"external_id": ext, "patient_id": patient_id, "clinic_id": clinic,
                "service": "Facial", "starts_at": starts}  # fmt: skip

    def batch(*records) -> dict:
        r = client.post(f"{V1}/appointments/batch", headers=key, json={"appointments": records})
        assert r.status_code == 200, r.json
        return r.json

    assert batch(appt("X-1"), appt("X-2"))["created"] == 2
    assert [e.summary for e in _api_events(AUDIT_ADDED_APPOINTMENT)] == [
        "2 of a batch through the API (2 added, 0 updated, 0 skipped)"
    ]
    assert _api_events(AUDIT_EDITED_APPOINTMENT) == []
    # Two updates (one moved), one new, one skipped.
    out = batch(appt("X-1", 1), appt("X-2"), appt("X-3"), appt("X-4", patient_id=2**31 - 1))
    assert (out["created"], out["updated"], out["skipped"]) == (1, 2, 1)
    tally = "(1 added, 2 updated, 1 skipped)"
    assert [e.summary for e in _api_events(AUDIT_ADDED_APPOINTMENT)][1:] == [
        f"1 of a batch through the API {tally}"
    ]
    assert [e.summary for e in _api_events(AUDIT_EDITED_APPOINTMENT)] == [
        f"2 of a batch through the API {tally}"
    ]
    # Only updates: no "added" entry; nothing written: no entry at all.
    batch(appt("X-3", 2))
    assert len(_api_events(AUDIT_ADDED_APPOINTMENT)) == 2
    assert len(_api_events(AUDIT_EDITED_APPOINTMENT)) == 2
    batch(appt("X-9", patient_id=2**31 - 1))
    assert len(_api_events(AUDIT_ADDED_APPOINTMENT)) == 2
    assert len(_api_events(AUDIT_EDITED_APPOINTMENT)) == 2
