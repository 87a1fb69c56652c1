"""The only code that talks to Vonage: the SMS API and the Numbers API through the
`vonage` SDK, and webhook signature checks."""

from __future__ import annotations

import functools
import importlib.metadata
import ipaddress
import logging
import os
import threading
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter
from urllib3 import Retry
from vonage_http_client import Auth, HttpClient, HttpClientOptions
from vonage_http_client.errors import (
    AuthenticationError,
    HttpRequestError,
    RateLimitedError,
    ServerError,
)
from vonage_numbers import (
    ListOwnedNumbersFilter,
    NumberParams,
    Numbers,
    NumbersError,
    SearchAvailableNumbersFilter,
    UpdateNumberParams,
)
from vonage_sms import Sms, SmsError, SmsMessage

from .errors import CarrierError, NumberUnavailable
from .wire import SEND_STATUS, from_wire, to_wire

# The SDK logs request bodies (patient text) at DEBUG and response bodies at WARNING.
logging.getLogger("vonage").setLevel(logging.ERROR)


@dataclass(frozen=True)
class CarrierSettings:
    api_key: str
    api_secret: str
    rest_host: str
    signature_secret: str = ""
    signature_method: str = "sha256"
    timeout: int = 10

    @classmethod
    def from_config(cls, config) -> CarrierSettings:
        return cls(
            api_key=config["VONAGE_API_KEY"],
            api_secret=config["VONAGE_API_SECRET"],
            rest_host=config["VONAGE_REST_HOST"] or "rest.nexmo.com",
            signature_secret=config["VONAGE_SIGNATURE_SECRET"],
            signature_method=config["VONAGE_SIGNATURE_METHOD"],
            timeout=int(config["VONAGE_TIMEOUT"]),
        )


@dataclass(frozen=True)
class SendResult:
    message_ids: list[str]
    parts: int


@dataclass(frozen=True)
class AvailableNumber:
    e164: str
    country: str
    type: str
    features: tuple[str, ...]
    monthly_cost: str | None


@dataclass(frozen=True)
class OwnedNumber:
    e164: str
    country: str
    mo_http_url: str | None


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class _PlainHttpAdapter(HTTPAdapter):
    """Sends the SDK's https:// requests as http://, for the loopback sandbox only."""

    def send(self, request, *args, **kwargs):
        request.url = "http://" + request.url.removeprefix("https://")
        return super().send(request, *args, **kwargs)


def _adapter(plain_http: bool) -> HTTPAdapter:
    # Retry only connection set-up (nothing was sent); never a read, so a POST is
    # never re-sent behind our back. One pooled connection, as in DESIGN.md.
    retry = Retry(total=2, connect=2, read=0, status=0, other=0, backoff_factor=0.1)
    cls = _PlainHttpAdapter if plain_http else HTTPAdapter
    return cls(pool_connections=1, pool_maxsize=1, max_retries=retry)


class Vonage:
    """The two parts of the SDK's `vonage.Vonage` this app uses, built as it builds them.
    `import vonage` loads every one of its twenty APIs (0.9 s of imports in each web,
    worker and command process); these are what send texts and manage numbers."""

    def __init__(self, auth: Auth, options: HttpClientOptions) -> None:
        self.http_client = HttpClient(auth, options, _sdk_version())
        self.sms = Sms(self.http_client)
        self.numbers = Numbers(self.http_client)


@functools.cache
def _sdk_version() -> str:
    return importlib.metadata.version("vonage")  # what `vonage.Vonage` sends as its agent


def build_client(settings: CarrierSettings) -> Vonage:
    # No signature_secret here: SDK 4.9.1 would sign fields it then does not send.
    auth = Auth(api_key=settings.api_key, api_secret=settings.api_secret)
    options = HttpClientOptions(
        rest_host=settings.rest_host,
        api_host=settings.rest_host if _is_loopback(settings.rest_host) else "api.nexmo.com",
        timeout=settings.timeout,
        pool_maxsize=1,
    )
    client = Vonage(auth, options)
    session = client.http_client._session
    # requests reads the proxy and CA-bundle variables from the whole environment on every
    # request (~0.5 ms a send); read them once here instead.
    session.proxies.update(requests.utils.get_environ_proxies(f"https://{settings.rest_host}"))
    session.verify = (
        os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    )
    session.trust_env = False
    if _is_loopback(settings.rest_host):
        session.mount(f"https://{settings.rest_host}", _adapter(plain_http=True))
    else:
        session.mount("https://", _adapter(plain_http=False))
    return client


_local = threading.local()


def _client(settings: CarrierSettings) -> Vonage:
    # The SDK's HttpClient keeps per-request headers on the instance: one per thread.
    cache = getattr(_local, "clients", None)
    if cache is None:
        cache = _local.clients = {}
    client = cache.get(settings)
    if client is None:
        client = cache[settings] = build_client(settings)
    return client


def _last_json(client: Vonage) -> dict:
    try:
        return client.http_client.last_response.json()
    except Exception:  # noqa: BLE001 - no response or not JSON
        return {}


def _http_error(exc: HttpRequestError, action: str) -> CarrierError:
    if isinstance(exc, RateLimitedError):
        return CarrierError("Vonage is rate limiting us; trying again", code="429", transient=True)
    if isinstance(exc, AuthenticationError):
        return CarrierError("Vonage rejected our API credentials", code="401")
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, ServerError) or (status and status >= 500):
        return CarrierError(
            f"Vonage had a server error while {action}", code=str(status), transient=True
        )
    return CarrierError(f"Vonage refused {action} (HTTP {status})", code=str(status))


def _network_error(exc: requests.RequestException, action: str) -> CarrierError:
    # A refused or timed-out connection never carried the request; a read timeout
    # or a dropped connection after sending leaves the outcome unknown.
    if isinstance(exc, requests.ConnectTimeout) or (
        isinstance(exc, requests.ConnectionError) and "NewConnectionError" in repr(exc)
    ):
        return CarrierError(f"Vonage could not be reached while {action}", transient=True)
    return CarrierError(
        f"The connection to Vonage was lost while {action}; it may or may not have happened",
        transient=True,
        outcome_unknown=True,
    )


def send_sms(
    settings: CarrierSettings,
    *,
    from_e164: str,
    to_e164: str,
    text: str,
    unicode: bool,
    client_ref: str,
    callback_url: str | None,
) -> SendResult:
    client = _client(settings)
    message = SmsMessage(
        to=to_wire(to_e164),
        from_=to_wire(from_e164),
        text=text,
        type="unicode" if unicode else "text",
        client_ref=client_ref,
        callback=callback_url if callback_url and len(callback_url) <= 100 else None,
        status_report_req=True,
    )
    try:
        response = client.sms.send(message)
    except SmsError as exc:
        body = getattr(exc, "response", None) or _last_json(client)
        parts = body.get("messages") or [{}]
        failed = next((p for p in parts if str(p.get("status", "0")) != "0"), parts[0])
        code = str(failed.get("status", ""))
        words, transient = SEND_STATUS.get(code, (failed.get("error-text") or str(exc), False))
        sent_ids = [p["message-id"] for p in parts if p.get("message-id")]
        if sent_ids:
            # Some parts went out: re-sending would duplicate them at the patient.
            raise CarrierError(
                f"Only part of the message was accepted: {words}",
                code=code,
                outcome_unknown=True,
            ) from exc
        raise CarrierError(words, code=code, transient=transient) from exc
    except HttpRequestError as exc:
        raise _http_error(exc, "sending the text") from exc
    except requests.RequestException as exc:
        raise _network_error(exc, "sending the text") from exc
    ids = [m.message_id for m in response.messages if m.message_id]
    return SendResult(message_ids=ids, parts=int(response.message_count))


def _numbers_call(client: Vonage, action: str, call):
    try:
        return call()
    except NumbersError as exc:
        body = _last_json(client)
        raise CarrierError(
            f"Vonage could not complete {action}: {body.get('error-code-label') or exc}",
            code=str(body.get("error-code", "")),
        ) from exc
    except HttpRequestError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 420 and action == "the purchase":
            raise NumberUnavailable(
                "That number was just taken by someone else. Please pick another one.",
                code="420",
            ) from exc
        raise _http_error(exc, action) from exc
    except requests.RequestException as exc:
        raise _network_error(exc, action) from exc


def search_numbers(
    settings: CarrierSettings, *, country: str, pattern: str
) -> list[AvailableNumber]:
    client = _client(settings)
    flt = SearchAvailableNumbersFilter(
        country=country, type="mobile-lvn", features="SMS", pattern=pattern, search_pattern=0,
        size=50,
    )  # fmt: skip
    numbers, _count, _next = _numbers_call(
        client, "the number search", lambda: client.numbers.search_available_numbers(flt)
    )
    return [
        AvailableNumber(
            e164=from_wire(n.msisdn or ""),
            country=n.country or country,
            type=n.type or "",
            features=tuple(n.features or ()),
            monthly_cost=n.cost,
        )
        for n in numbers
        if n.msisdn
    ]


def buy_number(settings: CarrierSettings, *, e164: str, country: str) -> None:
    client = _client(settings)
    params = NumberParams(country=country, msisdn=to_wire(e164))
    _numbers_call(client, "the purchase", lambda: client.numbers.buy_number(params))


def cancel_number(settings: CarrierSettings, *, e164: str, country: str) -> None:
    client = _client(settings)
    params = NumberParams(country=country, msisdn=to_wire(e164))
    _numbers_call(client, "releasing the number", lambda: client.numbers.cancel_number(params))


def update_number(settings: CarrierSettings, *, e164: str, country: str, mo_http_url: str) -> None:
    client = _client(settings)
    params = UpdateNumberParams(country=country, msisdn=to_wire(e164), mo_http_url=mo_http_url)
    _numbers_call(
        client, "setting the number's webhook", lambda: client.numbers.update_number(params)
    )


def owned_numbers(settings: CarrierSettings) -> list[OwnedNumber]:
    client = _client(settings)
    numbers, _count, _next = _numbers_call(
        client, "listing our numbers",
        lambda: client.numbers.list_owned_numbers(ListOwnedNumbersFilter()),
    )  # fmt: skip
    return [
        OwnedNumber(e164=from_wire(n.msisdn), country=n.country or "", mo_http_url=n.mo_http_url)
        for n in numbers
        if n.msisdn
    ]


@functools.lru_cache(maxsize=4)
def _verifier(api_key: str, signature_secret: str, signature_method: str) -> Auth:
    """A verify-only Auth per settings, built once: building one is a validated call
    (pydantic), a tenth of a webhook's signature check. check_signature keeps no state."""
    return Auth(
        api_key=api_key, signature_secret=signature_secret, signature_method=signature_method
    )


def verify_signature(settings: CarrierSettings, params: dict[str, str]) -> bool:
    """Check a signed webhook with a verify-only Auth (never the sending one)."""
    if not settings.signature_secret or "sig" not in params:
        return False
    try:
        auth = _verifier(settings.api_key, settings.signature_secret, settings.signature_method)
        return auth.check_signature(dict(params))
    except Exception:  # noqa: BLE001 - a malformed body is simply not signed correctly
        return False


def sign(settings: CarrierSettings, params: dict[str, str]) -> dict[str, str]:
    """Sign webhook params the way Vonage does (used by the sandbox and tests)."""
    auth = Auth(
        api_key=settings.api_key,
        signature_secret=settings.signature_secret,
        signature_method=settings.signature_method,
    )
    signed = dict(params)
    signed["sig"] = auth.sign_params(signed)
    signed["timestamp"] = str(signed["timestamp"])
    return signed
