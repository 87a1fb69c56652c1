"""Event webhooks out: the rules that need no I/O (addresses, bodies, signatures)."""

from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from inbox.services import event_hooks


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
        ("224.0.0.1", False),
    ],
)
def test_only_public_addresses_pass(address, public):
    assert event_hooks._public_address(address) is public


PAYLOAD = '{"type":"message.received","timestamp":"t","data":{"message_id":7}}'


def _claimed(include_text: bool, message_id: int | None = 7) -> event_hooks._Claimed:
    return event_hooks._Claimed(
        id=1, endpoint_id=1, url="https://example.com/h", secret=event_hooks.new_secret(),
        webhook_id="msg_1", payload=PAYLOAD,
        message_id=message_id, include_text=include_text, attempts=1,
        created_at=datetime.now(UTC),
    )  # fmt: skip


def test_text_goes_along_only_when_the_endpoint_asked():
    texts = {7: "Can I come at 4?"}
    assert "text" not in event_hooks.body_for(_claimed(False), texts)
    assert '"text":"Can I come at 4?"' in event_hooks.body_for(_claimed(True), texts)
    assert "text" not in event_hooks.body_for(_claimed(True, None), texts)


def test_a_signed_try_verifies_with_the_standard_library_and_a_changed_body_does_not():
    secret = event_hooks.new_secret()
    assert secret.startswith("whsec_")
    body = '{"type":"webhook.test","data":{}}'
    headers = event_hooks.sign(secret, "msg_abc", datetime.now(UTC), body)
    assert Webhook(secret).verify(body, headers) == {"type": "webhook.test", "data": {}}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("test", "tset"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(event_hooks.new_secret()).verify(body, headers)


def test_every_event_type_has_words_for_the_page():
    from inbox.models import EVENT_TYPES

    assert set(event_hooks.EVENT_WORDS) == set(EVENT_TYPES)
