"""The sandbox signs webhooks the way Vonage does; the carrier edge verifies them with
the SDK's own check (a separate, verify-only Auth)."""

import time

from inbox import carrier
from inbox.sandbox import SandboxState, sign_params

SETTINGS = carrier.CarrierSettings(
    api_key="k", api_secret="s", rest_host="127.0.0.1:1", signature_secret="shh",
    signature_method="sha256",
)  # fmt: skip


def _signed(**extra):
    state = SandboxState(api_key="k", signature_secret="shh", signature_method="sha256")
    params = {"msisdn": "19175550199", "to": "12125550134", "messageId": "abc", "text": "Hi & =",
              "timestamp": str(int(time.time())), **extra}  # fmt: skip
    return sign_params(state, params)


def test_sandbox_signature_verifies_with_sdk():
    assert carrier.verify_signature(SETTINGS, _signed())


def test_tampered_or_unsigned_params_fail():
    params = _signed()
    params["text"] = "changed"
    assert not carrier.verify_signature(SETTINGS, params)
    params = _signed()
    del params["sig"]
    assert not carrier.verify_signature(SETTINGS, params)


def test_wrong_secret_fails():
    other = carrier.CarrierSettings(**{**SETTINGS.__dict__, "signature_secret": "nope"})
    assert not carrier.verify_signature(other, _signed())


def test_a_changed_secret_or_method_is_used_at_once():
    """The verifier is built once per settings: a rotated secret (or another method) is
    checked with the new one on the next webhook, never with the one remembered."""
    assert carrier.verify_signature(SETTINGS, _signed())
    rotated = carrier.CarrierSettings(**{**SETTINGS.__dict__, "signature_secret": "new"})
    assert not carrier.verify_signature(rotated, _signed())
    md5 = carrier.CarrierSettings(**{**SETTINGS.__dict__, "signature_method": "md5"})
    assert not carrier.verify_signature(md5, _signed())
    assert carrier.verify_signature(SETTINGS, _signed())


def test_sign_helper_matches_sandbox():
    params = {"msisdn": "1", "timestamp": "1700000000", "nonce": "n"}
    assert (
        carrier.sign(SETTINGS, params)["sig"]
        == sign_params(
            SandboxState(api_key="k", signature_secret="shh", signature_method="sha256"), params
        )["sig"]
    )
