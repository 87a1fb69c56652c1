"""Badge, tab and menu counts come from conversation_counts, kept by database triggers.
A wrong badge is worse than a slow one: after every kind of change the counters must equal
a COUNT(*) over the conversations, for every user and clinic filter."""

from sqlalchemy import delete, select, update

from inbox.extensions import db
from inbox.models import PRIVILEGE_INBOX, ROLE_STAFF, Clinic, Conversation, Message, User
from inbox.services import conversations as convs
from inbox.services import sending
from inbox.services.conversations import Filters
from tests.conftest import fresh


def _users(account) -> list[User]:
    admin = db.session.scalars(select(User).where(User.email == "admin@glow.test")).one()
    limited = db.session.scalars(select(User).where(User.email == "limited@glow.test")).first()
    if limited is None:
        limited = User(account=account, email="limited@glow.test", name="Lim Ited",
                       role=ROLE_STAFF, privileges=[PRIVILEGE_INBOX], all_clinics=False,
                       password_hash="x")  # fmt: skip
        limited.clinics = [account.clinics[0]]
        db.session.add(limited)
        db.session.commit()
    return [admin, limited]


def _key(buckets):
    return sorted((b.unread, b.last_in, b.has_failed, b.opted_out, b.n) for b in buckets if b.n)


def assert_exact(account) -> None:
    fresh()
    for user in _users(account):
        for clinic_id in [None, *[c.id for c in account.clinics]]:
            assert _key(convs.buckets(user, clinic_id)) == _key(convs.recount(user, clinic_id))
            for view in convs.VIEWS:
                f = Filters(view=view, clinic_id=clinic_id)
                counted = {
                    tab: db.session.scalar(
                        select(db.func.count()).select_from(
                            convs._filtered(user, Filters(view, tab, clinic_id)).subquery()
                        )
                    )
                    for tab in ("unread", "read")
                }
                assert convs.tab_counts(user, f) == counted, (user.email, clinic_id, view)
        visible_unread = db.session.scalar(
            select(db.func.count()).select_from(
                convs.visible(user).where(Conversation.unread.is_(True)).subquery()
            )
        )
        assert convs.unread_count(user) == visible_unread


def test_counters_stay_exact_through_every_change(demo, sandbox):
    from inbox.sandbox import send_inbound

    assert_exact(demo)
    admin, limited = _users(demo)
    # Inbound texts: an existing patient (read -> unread) and an unknown number (new row).
    conv = db.session.scalars(select(Conversation).where(Conversation.unread.is_(False))).first()
    send_inbound(sandbox.state, conv.patient.phone.lstrip("+"), "12125550134", "Hello again")
    send_inbound(sandbox.state, "19175559876", "12125550134", "Who is this?")
    assert_exact(demo)
    # One conversation read, then many unread and read again.
    convs.mark_many(admin, [conv.id], unread=False)
    assert_exact(demo)
    ids = list(db.session.scalars(select(Conversation.id)))
    convs.mark_many(admin, ids, unread=True)
    assert_exact(demo)
    convs.mark_many(limited, ids, unread=False)
    assert_exact(demo)
    # A new conversation from the composer (created before its first message).
    clinic = demo.clinics[1]
    sending.send_new(user=admin, clinic_id=clinic.id, body="Welcome!", phone="+19175554321")
    assert_exact(demo)
    # Flags and clinic moves, through the ORM and as a bulk statement.
    c = db.session.scalars(select(Conversation)).first()
    c.has_failed, c.opted_out, c.clinic_id = True, True, demo.clinics[2].id
    db.session.commit()
    assert_exact(demo)
    db.session.execute(update(Conversation).values(last_direction="out", clinic_id=None))
    db.session.commit()
    assert_exact(demo)
    # A conversation deleted (with its messages).
    db.session.execute(delete(Message).where(Message.conversation_id == c.id))
    db.session.execute(delete(Conversation).where(Conversation.id == c.id))
    db.session.commit()
    assert_exact(demo)
    assert db.session.scalar(select(db.func.count()).select_from(Clinic)) >= 3
