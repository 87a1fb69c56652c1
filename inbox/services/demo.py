"""Demo data: two practices, realistic patients and conversations. Idempotent."""

from __future__ import annotations

import random
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ..extensions import db
from ..models import (
    APPOINTMENT_BOOKED,
    APPOINTMENT_COMPLETED,
    DIRECTION_IN,
    DIRECTION_OUT,
    KIND_OPTOUT_CONFIRM,
    PAPERWORK_COMPLETED,
    PAPERWORK_OUTSTANDING,
    PLAN_ACCELERATOR,
    PLAN_ESSENTIALS,
    PRIVILEGE_INBOX,
    ROLE_ADMIN,
    ROLE_MAIN_ADMIN,
    ROLE_STAFF,
    STATUS_DELIVERED,
    STATUS_FAILED,
    STATUS_RECEIVED,
    Account,
    Appointment,
    Clinic,
    Conversation,
    InboxNumber,
    Message,
    PaperworkItem,
    Patient,
    ReplyTemplate,
    User,
    utcnow,
)
from . import billing, consent, conversation_upkeep, phones, search_text

NY = ZoneInfo("America/New_York")
DEMO_PASSWORD = "demo1234"
DEMO_NUMBER = "+12125550134"
DEMO_LOGINS = [
    ("admin@glow.test", "Main Admin, Glow Aesthetics"),
    ("staff@glow.test", "Staff with the Inbox privilege"),
    ("frontdesk@glow.test", "Staff without the Inbox privilege"),
    ("admin@fresh.test", "Main Admin, Fresh Face Clinic (Inbox off)"),
    ("admin2@glow.test", "Admin (not Main Admin), Glow Aesthetics"),
]

FIRST = [
    "Ava", "Liam", "Noah", "Sofia", "Mia", "Ethan", "Isabella", "Lucas", "Chloe", "Mateo",
    "Harper", "Elijah", "Amelia", "James", "Zoe", "Camila", "Benjamin", "Layla", "Henry", "Nora",
    "Aria", "Daniel", "Grace", "Leo", "Hannah", "Julian", "Priya", "Omar", "Renée", "Yuki",
    "Chiara", "Diego", "Fatima", "Grant", "Ingrid", "Jonah", "Keisha", "Marco", "Nadia", "Tessa",
]  # fmt: skip
LAST = [
    "Martinez", "Chen", "Patel", "Rossi", "Johnson", "Nguyen", "García", "Kim", "Williams",
    "Okafor", "Brown", "Davis", "Cohen", "Silva", "Müller", "Lopez", "Tanaka", "Reyes", "Walsh",
    "Haddad", "Novak", "Singh", "Park", "Dubois", "Moreau", "Ali", "O'Brien", "Santos", "Lee",
    "Fischer", "Bianchi", "Hernández", "Khan", "Larsen", "Berg", "Cruz", "Evans", "Russo",
    "Sato", "Young",
]  # fmt: skip

SCRIPTS = [
    [("in", "Hi! Can I move my Botox appointment to Thursday afternoon?"),
     ("out", "Of course! We have 3:00 or 4:30 on Thursday. Which works better?"),
     ("in", "3pm please 😊")],
    [("out", "Hi {first}, a reminder that your HydraFacial is tomorrow at 10:00 at {clinic}."),
     ("in", "Thanks! See you then")],
    [("out", "Hi {first}, you still have forms to complete before your visit. Please log in to "
             "your portal and complete your outstanding forms."),
     ("in", "Done, just filled them out.")],
    [("in", "Is it normal to have a little swelling 2 days after filler?"),
     ("out", "A little swelling is normal for up to a week. Keep icing 10 minutes at a time. "
             "If it gets worse or feels hot, call us right away."),
     ("in", "Ok thank you, that helps a lot")],
    [("in", "Do you have any openings this Saturday for a lash lift?")],
    [("out", "Hi {first}, your package has 2 laser sessions left. Want to book the next one?"),
     ("in", "Yes! Any evening next week works for me"),
     ("out", "Booked you for Tuesday at 6:15pm. See you then!")],
    [("in", "Running 10 min late, so sorry!")],
    [("out", "Hi {first}, thanks for visiting {clinic} today. How are you feeling?"),
     ("in", "Great, love the results!!")],
    [("in", "What's the price for microneedling with PRP?"),
     ("out", "It's $450 per session, or $1,200 for a package of three.")],
    [("out", "Hi {first}, we have a cancellation tomorrow at 11am if you'd like an earlier slot.")],
]  # fmt: skip


def _user(account: Account, email: str, name: str, role: str, privileges: list[str]) -> User:
    user = User(account=account, email=email, name=name, role=role, privileges=privileges)
    user.set_password(DEMO_PASSWORD)
    db.session.add(user)
    return user


def seed_demo() -> tuple[Account, bool]:
    """Create the demo practices. Returns (Glow Aesthetics, created?)."""
    existing = db.session.scalars(select(Account).where(Account.name == "Glow Aesthetics")).first()
    if existing is not None:
        return existing, False
    rng = random.Random(20261127)
    now = utcnow()

    glow = Account(
        name="Glow Aesthetics", plan=PLAN_ACCELERATOR, inbox_enabled=True,
        contact_phone="+12125550100", portal_url="https://portal.glowaesthetics.example",
    )  # fmt: skip
    db.session.add(glow)
    clinics = [
        Clinic(account=glow, name=name, timezone="America/New_York")
        for name in ("Downtown", "Uptown", "Lakeside")
    ]
    db.session.add_all(clinics)
    _user(glow, "admin@glow.test", "Dana Reyes", ROLE_MAIN_ADMIN, [PRIVILEGE_INBOX])
    staff = _user(glow, "staff@glow.test", "Sam Lee", ROLE_STAFF, [PRIVILEGE_INBOX])
    _user(glow, "frontdesk@glow.test", "Fran Miller", ROLE_STAFF, [])
    _user(glow, "admin2@glow.test", "Ari Shah", ROLE_ADMIN, [PRIVILEGE_INBOX])
    number = InboxNumber(account=glow, e164=DEMO_NUMBER, country="US", purchased_at=now)
    db.session.add(number)

    patients = []
    for i, (first, last) in enumerate(zip(FIRST, LAST, strict=True)):
        area = ("917", "646", "347", "718")[i % 4]
        phone = phones.normalize(f"+1{area}555{100 + i:04d}")
        patient = Patient(
            account=glow,
            first_name=first,
            last_name=last,
            phone=phone,
            phone_digits=phones.national_digits(phone),
            name_search=search_text.name_key(first, last),
            email=f"{first.lower()}.{last.lower().replace(' ', '')}@example.com".encode(
                "ascii", "ignore"
            ).decode(),
            home_clinic=clinics[i % 3],
        )
        patients.append(patient)
    db.session.add_all(patients)
    db.session.flush()

    carrier_seq = 0
    for i, patient in enumerate(patients[:28]):
        script = SCRIPTS[i % len(SCRIPTS)]
        start = now - timedelta(days=rng.uniform(0, 9), minutes=rng.randint(0, 600))
        conv = Conversation(
            account=glow, inbox_number=number, patient=patient, clinic=patient.home_clinic
        )
        db.session.add(conv)
        at = start
        for direction, template in script:
            at = at + timedelta(minutes=rng.randint(2, 90))
            body = template.format(first=patient.first_name, clinic=patient.home_clinic.name)
            carrier_seq += 1
            message = Message(
                account=glow,
                conversation=conv,
                direction=direction,
                body=body,
                from_number=patient.phone if direction == DIRECTION_IN else number.e164,
                to_number=number.e164 if direction == DIRECTION_IN else patient.phone,
                status=STATUS_RECEIVED if direction == DIRECTION_IN else STATUS_DELIVERED,
                carrier_message_id=f"DEMO{carrier_seq:08d}",
                sent_by=staff if direction == DIRECTION_OUT else None,
                sent_at=at,
            )
            db.session.add(message)
            conv.last_message_at = at
            conv.last_direction = direction
            prefix = "You: " if direction == DIRECTION_OUT else ""
            conv.last_message_preview = (prefix + body)[:140]
        conv.unread = script[-1][0] == DIRECTION_IN and i % 3 != 2
        # Said STOP last week: the STOP and its one confirmation are in the conversation.
        if i == 12:
            stop_at = at + timedelta(minutes=rng.randint(5, 60))
            confirm_at = stop_at + timedelta(seconds=2)
            carrier_seq += 2
            db.session.add_all([
                Message(account=glow, conversation=conv, direction=DIRECTION_IN, body="STOP",
                        from_number=patient.phone, to_number=number.e164,
                        status=STATUS_RECEIVED, carrier_message_id=f"DEMO{carrier_seq - 1:08d}",
                        sent_at=stop_at),
                Message(account=glow, conversation=conv, direction=DIRECTION_OUT,
                        body=consent.STOP_CONFIRMATION.format(practice=glow.name),
                        kind=KIND_OPTOUT_CONFIRM, from_number=number.e164,
                        to_number=patient.phone, status=STATUS_DELIVERED,
                        carrier_message_id=f"DEMO{carrier_seq:08d}", sent_at=confirm_at),
            ])  # fmt: skip
            conv.last_message_at = confirm_at
            conv.last_direction = DIRECTION_OUT
            conv.last_message_preview = conversation_upkeep.list_preview(
                consent.STOP_CONFIRMATION.format(practice=glow.name),
                DIRECTION_OUT,
                KIND_OPTOUT_CONFIRM,
            )
            patient.opted_out_at = stop_at
            conv.opted_out = True
        if i == 9:
            message.status = STATUS_FAILED
            message.error_code = "3"
            message.error_text = "The number is not active"
            conv.has_failed = True

    _care(glow, patients, clinics, rng, now)
    billing.start_plan(glow, PLAN_ACCELERATOR)
    billing.start_inbox_addon(glow)

    fresh = Account(name="Fresh Face Clinic", plan=PLAN_ESSENTIALS, inbox_enabled=False)
    db.session.add(fresh)
    db.session.add(Clinic(account=fresh, name="Main Street", timezone="America/Chicago"))
    _user(fresh, "admin@fresh.test", "Alex Kim", ROLE_MAIN_ADMIN, [PRIVILEGE_INBOX])
    _user(fresh, "staff@fresh.test", "Robin Diaz", ROLE_STAFF, [PRIVILEGE_INBOX])
    db.session.flush()
    billing.start_plan(fresh, PLAN_ESSENTIALS)
    db.session.commit()
    return glow, True


SERVICES = [
    ("Botox – forehead & crow's feet", "Dr. Lena Ortiz"),
    ("HydraFacial", "Mia Brooks, LE"),
    ("Dermal filler – lips", "Dr. Lena Ortiz"),
    ("Laser hair removal", "Jordan Vega"),
    ("Microneedling with PRP", "Mia Brooks, LE"),
    ("Chemical peel", "Jordan Vega"),
]
FORMS = ["Medical history", "Consent – neurotoxin", "Photo release", "Consent – laser"]
TEMPLATES = [
    ("Paperwork reminder", "paperwork",
     "Hi {first_name}, this is {practice_name}. Before your visit, please log in to your portal "
     "and complete your outstanding forms: {portal_link}"),
    ("Appointment confirmation", "appointment",
     "Hi {first_name}, you're booked for {next_appointment}. Reply here if you need to change it."),
    ("Running late", "general",
     "Hi {first_name}, no problem, we'll see you soon at {practice_name} {clinic_name}!"),
    ("Aftercare check-in", "general",
     "Hi {first_name}, how are you feeling after your treatment? Reply with any questions."),
]  # fmt: skip


def _care(account: Account, patients: list[Patient], clinics, rng, now) -> None:
    """Appointments, paperwork and saved replies, so profiles and timelines have substance."""
    for i, (name, kind, body) in enumerate(TEMPLATES):
        db.session.add(ReplyTemplate(account=account, name=name, kind=kind, body=body, position=i))
    for i, patient in enumerate(patients):
        for j in range(rng.randint(1, 3)):
            service, provider = SERVICES[(i + j) % len(SERVICES)]
            past = j > 0
            day = (now + timedelta(days=rng.randint(1, 20) * (-3 if past else 1))).astimezone(NY)
            starts = day.replace(
                hour=rng.randint(9, 17), minute=(0, 15, 30, 45)[rng.randint(0, 3)], second=0,
                microsecond=0,
            ).astimezone(UTC)  # fmt: skip
            db.session.add(
                Appointment(
                    account=account, patient_id=patient.id, clinic=patient.home_clinic,
                    starts_at=starts,
                    service=service, provider=provider,
                    status=APPOINTMENT_COMPLETED if past else APPOINTMENT_BOOKED,
                    created_at=starts - timedelta(days=rng.randint(5, 30)),
                )
            )  # fmt: skip
        requested = now - timedelta(days=rng.randint(1, 14))
        done = i % 3 != 0
        db.session.add(
            PaperworkItem(
                account=account, patient_id=patient.id, name=FORMS[i % len(FORMS)],
                requested_at=requested,
                status=PAPERWORK_COMPLETED if done else PAPERWORK_OUTSTANDING,
                completed_at=requested + timedelta(hours=rng.randint(2, 48)) if done else None,
            )
        )  # fmt: skip


def phonebook(account: Account) -> dict[str, str]:
    """Patient names by number, for the sandbox's patient-phone page."""
    rows = db.session.execute(
        select(Patient.phone, Patient.first_name, Patient.last_name).where(
            Patient.account_id == account.id
        )
    )
    return {phone: f"{first} {last}".strip() for phone, first, last in rows}
