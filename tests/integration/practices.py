"""Two practices with data on both sides, and one signed-in client per role: what the
permission, tenancy and audit tests share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from inbox.extensions import db
from inbox.models import (
    DIRECTION_IN,
    PLAN_ACCELERATOR,
    STATUS_FAILED,
    STATUS_RECEIVED,
    Account,
    Appointment,
    AuditEvent,
    BillingLine,
    Clinic,
    Conversation,
    CsvImport,
    InboxNumber,
    Message,
    PaperworkItem,
    Patient,
    ReplyTemplate,
    User,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from tests.conftest import csrf_token, login

FRESH_NUMBER = "+13125550188"
FRESH_PATIENT = "+13125550177"

# Every role of the matrix, and who plays it.
ROLES = {
    "anonymous": None,
    "staff": "frontdesk@glow.test",  # signed in, no Inbox privilege
    "inbox": "staff@glow.test",  # staff with the Inbox privilege
    "admin": "admin2@glow.test",  # an admin (has the Inbox privilege too)
    "main_admin": "admin@glow.test",
    "other_account": "admin@fresh.test",  # the Main Admin of the other practice
}

# Path parameters that name objects, and the model each one is an id of. A new route
# with a new id parameter fails the tests until it is added here (so it gets covered).
ID_PARAMS = {
    "conversation_id": Conversation,
    "message_id": Message,
    "patient_id": Patient,
    "user_id": User,
    "appointment_id": Appointment,
    "number_id": InboxNumber,
    "billing_line_id": BillingLine,
    "event_id": AuditEvent,
    "reply_id": ReplyTemplate,
    "paperwork_id": PaperworkItem,
    "clinic_id": Clinic,
    "import_id": CsvImport,
    "endpoint_id": WebhookEndpoint,
    "delivery_id": WebhookDelivery,
}
# Path parameters that are not object ids, and what the matrix fills in: a one-time link's
# token that matches no link (every role gets the same 404 page).
NON_ID_PARAMS = {"filename": "css/app.css", "token": "no-such-link-token"}


@dataclass
class Practice:
    account: Account
    ids: dict[str, int]  # path parameter -> an id of this account


def _first(model, account_id: int, *where) -> int:
    stmt = select(model.id).where(model.account_id == account_id, *where).order_by(model.id)
    return db.session.scalars(stmt).first()


def _ids(account: Account, user_email: str) -> dict[str, int]:
    return {
        # A failed outbound text, so Retry has something to do.
        "message_id": _first(
            Message, account.id, Message.direction == "out", Message.status == STATUS_FAILED
        )
        or _first(Message, account.id),
        "conversation_id": _first(Conversation, account.id),
        "patient_id": _first(Patient, account.id),
        "user_id": db.session.scalars(select(User.id).where(User.email == user_email)).one(),
        "appointment_id": _first(Appointment, account.id),
        "number_id": _first(InboxNumber, account.id),
        "billing_line_id": _first(BillingLine, account.id),
        "event_id": _first(AuditEvent, account.id),
        "reply_id": _first(ReplyTemplate, account.id),
        "paperwork_id": _first(PaperworkItem, account.id),
        "clinic_id": _first(Clinic, account.id),
        "import_id": _first(CsvImport, account.id),
        "endpoint_id": _first(WebhookEndpoint, account.id),
        "delivery_id": _first(WebhookDelivery, account.id),
    }


def set_up_two_practices() -> tuple[Practice, Practice]:
    """Glow as seeded, and Fresh Face Clinic with the Inbox on, its own number, a patient,
    a conversation with a failed text and an appointment, and an audit entry each."""
    glow = db.session.scalars(select(Account).where(Account.name == "Glow Aesthetics")).one()
    fresh = db.session.scalars(select(Account).where(Account.name == "Fresh Face Clinic")).one()
    fresh.plan, fresh.inbox_enabled = PLAN_ACCELERATOR, True
    clinic = db.session.scalars(select(Clinic).where(Clinic.account_id == fresh.id)).one()
    number = InboxNumber(account_id=fresh.id, e164=FRESH_NUMBER, status="active")
    patient = Patient(
        account_id=fresh.id, first_name="Quinn", last_name="Fresh", phone=FRESH_PATIENT,
        phone_digits=FRESH_PATIENT[2:], name_search="quinn fresh|fresh quinn",
        home_clinic=clinic,
    )  # fmt: skip
    db.session.add_all([number, patient])
    db.session.flush()
    now = utcnow()
    conv = Conversation(
        account_id=fresh.id, inbox_number_id=number.id, patient_id=patient.id,
        clinic_id=clinic.id, unread=True, last_message_at=now, last_direction=DIRECTION_IN,
        last_message_preview="Fresh secret",
    )  # fmt: skip
    db.session.add(conv)
    db.session.flush()
    db.session.add_all(
        [
            Message(
                account_id=fresh.id, conversation_id=conv.id, direction=DIRECTION_IN,
                body="Fresh secret question", from_number=FRESH_PATIENT, to_number=FRESH_NUMBER,
                status=STATUS_RECEIVED, carrier_message_id="FRESH0001",
                sent_at=now - timedelta(minutes=5),
            ),
            Message(
                account_id=fresh.id, conversation_id=conv.id, direction="out",
                body="Fresh secret answer", from_number=FRESH_NUMBER, to_number=FRESH_PATIENT,
                status=STATUS_FAILED, sent_at=now,
            ),
            Appointment(
                account_id=fresh.id, patient_id=patient.id, clinic_id=clinic.id,
                starts_at=now + timedelta(days=2), service="Fresh facial",
            ),
            ReplyTemplate(account_id=fresh.id, name="Fresh secret reply", body="Fresh secret"),
            PaperworkItem(account_id=fresh.id, patient_id=patient.id, name="Fresh secret form"),
        ]
    )  # fmt: skip
    for account, email in ((glow, "admin@glow.test"), (fresh, "admin@fresh.test")):
        user = db.session.scalars(select(User).where(User.email == email)).one()
        db.session.add(AuditEvent(account_id=account.id, user_id=user.id, action="signed_in"))
        # A previewed CSV import of one new patient (Patients › Import patients).
        home = db.session.scalars(
            select(Clinic.id).where(Clinic.account_id == account.id).order_by(Clinic.id)
        ).first()
        db.session.add(
            CsvImport(
                account_id=account.id, user_id=user.id, filename="patients.csv",
                content="First Name,Last Name,Mobile\nIda,Import,(312) 555-0166\n",
                mapping='{"first_name": 0, "last_name": 1, "phone": 2}',
                default_clinic_id=home, total_rows=1,
            )
        )  # fmt: skip
        # An event webhook endpoint (on a port nothing listens on) and one delivery.
        endpoint = WebhookEndpoint(
            account_id=account.id, url="http://127.0.0.1:9/hook", events="message.received",
            secret="whsec_" + "A" * 32,
        )  # fmt: skip
        db.session.add(endpoint)
        db.session.flush()
        db.session.add(
            WebhookDelivery(
                account_id=account.id, endpoint_id=endpoint.id, event="message.received",
                webhook_id=f"msg_{account.id}", payload='{"type":"message.received","data":{}}',
                state="failed",
            )
        )  # fmt: skip
    db.session.commit()
    return (
        Practice(glow, _ids(glow, "frontdesk@glow.test")),
        Practice(fresh, _ids(fresh, "staff@fresh.test")),
    )


def signed_in(app, role: str):
    """A test client for a role, and a CSRF token valid for its session."""
    client = app.test_client()
    email = ROLES[role]
    if email is None:
        return client, csrf_token(client, "/login")
    r = login(client, email)
    assert r.status_code == 302, (role, r.status_code)
    return client, csrf_token(client, "/settings/profile")


def fill(rule, ids: dict[str, int]) -> dict[str, object]:
    """Path parameters of a url rule, filled with the given ids."""
    values: dict[str, object] = {}
    for name in rule.arguments:
        if name in NON_ID_PARAMS:
            values[name] = NON_ID_PARAMS[name]
        else:
            assert name in ID_PARAMS, f"{rule.rule}: add <{name}> to ID_PARAMS in {__file__}"
            assert ids.get(name), f"no id for <{name}> in the test data"
            values[name] = ids[name]
    return values
