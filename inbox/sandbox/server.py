"""Run the sandbox: in a thread on a free port (tests) or as a process (make dev)."""

from __future__ import annotations

import threading

import requests
from werkzeug.serving import make_server

from .app import create_sandbox_app
from .state import Fault, SandboxState


class SandboxServer:
    """The sandbox on 127.0.0.1, in a background thread; inspect `state` directly."""

    def __init__(self, state: SandboxState | None = None, port: int = 0) -> None:
        self.state = state or SandboxState()
        self.app = create_sandbox_app(self.state)
        self._server = make_server("127.0.0.1", port, self.app, threaded=True)
        self.port = self._server.server_port
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> SandboxServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    def fail_next(self, kind: str, path: str = "/sms/json", seconds: float = 0.0) -> None:
        with self.state.lock:
            self.state.faults.append(Fault(kind=kind, path=path, seconds=seconds))

    def requests_to(self, path: str) -> list[dict]:
        with self.state.lock:
            return [r for r in self.state.requests if r["path"] == path]


def register_phonebook(base_url: str, entries: dict[str, str]) -> bool:
    """Tell a running sandbox the names behind patient numbers (demo data)."""
    try:
        return requests.post(f"{base_url}/_sandbox/phonebook", json=entries, timeout=3).ok
    except requests.RequestException:
        return False
