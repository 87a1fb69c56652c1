"""Event webhooks out: the rules that need no I/O (addresses, bodies, signatures)."""

from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from inbox.services import event_hooks, hook_delivery, hook_endpoints


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.0.0.8", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # loopback, mapped into IPv6
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::", False),  # 6to4 of the metadata address
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo, client 127.0.0.1
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
        ("2606:4700:4700::1111", True),
        ("224.0.0.1", False),
    ],
)
def test_only_public_addresses_pass(address, public):
    assert hook_endpoints.is_public_address(address) is public


PAYLOAD = '{"type":"message.received","timestamp":"t","data":{"message_id":7}}'


def _claimed(include_text: bool, message_id: int | None = 7) -> hook_delivery._Claimed:
    now = datetime.now(UTC)
    return hook_delivery._Claimed(
        id=1, endpoint_id=1, url="https://example.com/h", secret=hook_endpoints.new_secret(),
        webhook_id="msg_1", payload=PAYLOAD,
        message_id=message_id, include_text=include_text, attempts=1,
        created_at=now, due_at=now, tried_at=now,
    )  # fmt: skip


def test_text_goes_along_only_when_the_endpoint_asked():
    texts = {7: "Can I come at 4?"}
    assert "text" not in hook_delivery.body_for(_claimed(False), texts)
    assert '"text":"Can I come at 4?"' in hook_delivery.body_for(_claimed(True), texts)
    assert "text" not in hook_delivery.body_for(_claimed(True, None), texts)


def test_a_signed_try_verifies_with_the_standard_library_and_a_changed_body_does_not():
    secret = hook_endpoints.new_secret()
    assert secret.startswith("whsec_")
    body = '{"type":"webhook.test","data":{}}'
    headers = hook_delivery.sign(secret, "msg_abc", datetime.now(UTC), body)
    assert Webhook(secret).verify(body, headers) == {"type": "webhook.test", "data": {}}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("test", "tset"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(hook_endpoints.new_secret()).verify(body, headers)


def test_every_event_type_has_words_for_the_page():
    from inbox.models import EVENT_TYPES

    assert set(event_hooks.EVENT_WORDS) == set(EVENT_TYPES)


# Standard Webhooks' suggestion, the default WEBHOOK_RETRY_SCHEDULE: seconds before each try.
SCHEDULE = [0, 5, 300, 1800, 7200, 18000, 36000, 36000]
DAY = 86400.0


def _tries(schedule: list[float], give_up: float, late: float = 0.0) -> list[float]:
    """When each try of an always-failing delivery is made (seconds after it was written),
    each made `late` seconds after it was due."""
    created = datetime(2026, 12, 3, 11, 40, tzinfo=UTC)
    at, made = created, []
    while at is not None:
        made.append((at - created).total_seconds())
        at = hook_delivery.next_try_at(created, at, len(made), schedule=schedule, give_up=give_up)
        at = at and at + timedelta(seconds=late)
    return made


def test_the_last_try_lands_at_the_give_up_mark_not_before_it():
    # The schedule's own next try (27.6 h) would pass the 24 hours: it is made at 24 h.
    assert _tries(SCHEDULE, DAY) == [0, 5, 305, 2105, 9305, 27305, 63305, DAY]
    # A span the schedule reaches exactly, and one it passes early.
    assert _tries([0, 10, 10], 30) == [0, 10, 20, 30]
    assert _tries([0, 10, 100], 30) == [0, 10, 30]
    # Tries made late still end with one at (or just past) the mark, never one after it.
    assert _tries(SCHEDULE, DAY, late=2)[-2:] == [63317, DAY + 2]


def test_a_try_ending_at_or_after_the_mark_was_the_last():
    created = datetime(2026, 12, 3, 11, 40, tzinfo=UTC)
    for seconds in (DAY, DAY + 1, 3 * DAY):  # the final try, or a first try made very late
        now = created + timedelta(seconds=seconds)
        assert hook_delivery.next_try_at(created, now, 1, schedule=SCHEDULE, give_up=DAY) is None
