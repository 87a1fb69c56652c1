"""The live events' wire format, made by one constructor each (inbox/events.py): what
live.py renders from and what the tests of every tier listen for."""

import json

from inbox import events


def test_each_event_names_its_type_and_carries_ids_only():
    assert events.message_added(5, 81) == {"type": "message", "conversation_id": 5, "id": 81}
    assert events.message_added(5, 81, inbound=True) == {
        "type": "message", "conversation_id": 5, "id": 81, "direction": "in",
    }  # fmt: skip
    assert events.status_changed(5, 81, "delivered") == {
        "type": "status", "conversation_id": 5, "id": 81, "status": "delivered",
    }  # fmt: skip
    assert events.status_changed(5, 81) == {"type": "status", "conversation_id": 5, "id": 81}
    assert events.read_changed([1, 2]) == {"type": "read", "conversation_ids": [1, 2]}
    assert events.consent_changed((3,)) == {"type": "consent", "conversation_ids": [3]}
    assert events.access_changed() == {"type": "access"}
    assert events.access_changed(7) == {"type": "access", "user_id": 7}
    assert events.resync() == {"type": "resync"}


def test_events_travel_as_json():
    for event in (events.message_added(1, 2, inbound=True), events.read_changed([1])):
        assert json.loads(json.dumps(event)) == event
