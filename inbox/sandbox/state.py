"""What the sandbox remembers: numbers owned per API key, the texts it carried,
the patient phonebook, and faults queued by tests."""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app

from ..config import private_dir, private_file

# Area codes the sandbox has inventory for, with a few numbers each.
INVENTORY_AREAS = (
    "201", "212", "213", "305", "312", "347", "415", "512", "617", "646", "702", "718",
    "732", "773", "818", "917", "973",
)  # fmt: skip


def inventory(area_code: str) -> list[str]:
    """Deterministic available numbers (digits, country code 1) for an area code."""
    if area_code not in INVENTORY_AREAS:
        return []
    return [f"1{area_code}555{n:04d}" for n in range(130, 142)]


@dataclass
class Fault:
    kind: str  # http500 | http503 | http429 | throttle | timeout | drop | sold | error
    path: str = "/sms/json"
    seconds: float = 0.0


@dataclass
class SandboxState:
    api_key: str = "sandbox-key"
    api_secret: str = "sandbox-secret"
    signature_secret: str = "sandbox-signature-secret"
    signature_method: str = "sha256"
    # Where receipts go when a send names no callback, and inbound when a number has no moHttpUrl.
    default_status_url: str | None = None
    default_inbound_url: str | None = None
    inbound_method: str = "POST"  # GET | POST | POST-JSON
    receipt_status: str = "delivered"  # delivered | failed | none
    receipt_err_code: str = "0"
    receipt_delay: float = 0.05
    path: Path | None = None

    owned: dict[str, dict] = field(default_factory=dict)  # digits -> {country, moHttpUrl}
    phonebook: dict[str, str] = field(default_factory=dict)  # digits -> name
    messages: list[dict] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    # Random faults for soak tests: this share of /sms/json requests fails, with a kind
    # drawn from fault_kinds; seeded, so a run can be repeated.
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = ("http500", "http503", "http429", "throttle", "timeout", "drop")
    fault_timeout: float = 1.0
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    latency: float = 0.0  # seconds every send takes, to widen in-flight windows
    # The installation's shared sender (reminders while an account's Inbox is off).
    shared_senders: set[str] = field(default_factory=lambda: {"12125550199"})
    lock: threading.RLock = field(default_factory=threading.RLock)
    _counter: int = 0
    # Receipts on their way to the app (each from a thread of its own, after receipt_delay).
    _in_flight: int = 0
    _settled: threading.Condition = field(default_factory=threading.Condition)

    # --- persistence (dev only; tests keep it in memory) ---------------------------------
    def load(self) -> None:
        if self.path and self.path.exists():
            data = json.loads(self.path.read_text())
            self.owned = data.get("owned", {})
            self.phonebook = data.get("phonebook", {})
            self.messages = data.get("messages", [])[-500:]

    def save(self) -> None:
        if not self.path:
            return
        private_dir(self.path.parent)
        # Under the lock: request threads and receipt threads save at the same time, and
        # two writers sharing the .tmp file made one's replace() fail (a 500 to the caller).
        with self.lock:
            tmp = self.path.with_suffix(".tmp")
            snapshot = {
                "owned": self.owned,
                "phonebook": self.phonebook,
                "messages": self.messages[-500:],
            }
            private_file(tmp).write_text(json.dumps(snapshot))  # names and texts: 0600
            tmp.replace(self.path)

    # --- helpers ---------------------------------------------------------------------------
    def next_id(self) -> str:
        with self.lock:
            self._counter += 1
            return f"SBX{int(time.time() * 1000):X}{self._counter:06X}"

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for i, fault in enumerate(self.faults):
                if fault.path == path:
                    return self.faults.pop(i)
            if path == "/sms/json" and self.fault_rate and self.rng.random() < self.fault_rate:
                kind = self.rng.choice(self.fault_kinds)
                return Fault(kind, path, self.fault_timeout if kind == "timeout" else 0.0)
        return None

    def record_request(self, method: str, path: str, params: dict) -> None:
        with self.lock:
            self.requests.append({"method": method, "path": path, "params": params})

    def receipt_sent(self) -> None:
        """A receipt is on its way (counted before its thread starts)."""
        with self._settled:
            self._in_flight += 1

    def receipt_done(self) -> None:
        with self._settled:
            self._in_flight -= 1
            self._settled.notify_all()

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait until no receipt is on its way to the app (a test's last send must not land
        in the next test, where ids start again). False if some still are after `timeout`."""
        with self._settled:
            return self._settled.wait_for(lambda: self._in_flight == 0, timeout)

    def reset(self) -> None:
        with self.lock:
            self.owned.clear()
            self.phonebook.clear()
            self.messages.clear()
            self.requests.clear()
            self.faults.clear()
            self.fault_rate = 0.0
            self.latency = 0.0
            self.receipt_status = "delivered"
            self.receipt_err_code = "0"
            self.inbound_method = "POST"
            self.rng = random.Random(7)


def current_state() -> SandboxState:
    """The state of the sandbox serving this request."""
    return current_app.config["SANDBOX"]
