"""Each Inbox view is defined once (conversations.VIEWS): its list WHERE and its test of
a bucket of the counters must hold the same conversations, for every combination of the
facts the counters are kept by."""

from itertools import product

from sqlalchemy import create_engine, insert, select

from inbox.models import Conversation
from inbox.services import conversations as convs


def test_every_view_lists_exactly_the_conversations_its_counts_count():
    engine = create_engine("sqlite://")
    table = Conversation.__table__
    table.create(engine)  # alone: the facts are all this test needs of a conversation
    combos = list(product((True, False), ("in", "out", None), (True, False), (True, False)))
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # no accounts or patients here
        for i, (unread, direction, failed, opted_out) in enumerate(combos, start=1):
            conn.execute(insert(table).values(
                id=i, account_id=1, patient_id=i, unread=unread, last_direction=direction,
                has_failed=failed, opted_out=opted_out,
            ))  # fmt: skip
        for key, view in convs.VIEWS.items():
            listed = set(conn.scalars(select(table.c.id).where(*view.where())))
            counted = {
                i
                for i, (unread, direction, failed, opted_out) in enumerate(combos, start=1)
                if view.holds(convs.Bucket(unread, direction == "in", failed, opted_out, 1))
            }
            assert listed == counted, key
            assert listed, key  # every view holds some combination
    assert {k for k, v in convs.VIEWS.items() if v.counted} == {"unread", "needs_reply", "failed"}


def test_a_conversation_is_judged_by_the_same_facts():
    needs_reply = convs.VIEWS["needs_reply"]
    conv = Conversation(unread=True, last_direction="in", has_failed=False, opted_out=False)
    assert needs_reply.holds(convs.facts(conv))
    conv.opted_out = True
    assert not needs_reply.holds(convs.facts(conv))
    assert convs.VIEWS["opted_out"].holds(convs.facts(conv))
    conv.last_direction = None
    assert not needs_reply.holds(convs.facts(conv))
