"""A bounded wait for request bodies, for gunicorn facing clients without a proxy.

gunicorn's threads read a request's body as the app asks for it: a client that promises 10
bytes and sends 7 holds a thread for as long as it likes, and 70 such clients stall every
page, login and webhook. Behind the shipped nginx (`inbox/proxy.py`), nginx buffers whole
bodies first and this never happens; without it, this middleware reads the body before the
app sees the request, and gives up on it at REQUEST_BODY_TIMEOUT_SECONDS: a watchdog shuts
the socket's reading side, the blocked read returns, and the client gets 408. One watchdog
thread per process, and a heap entry per request with a body: nothing for requests without
one (pages, the websocket), and no thread per request."""

from __future__ import annotations

import contextlib
import heapq
import io
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

_TIMED_OUT = b"The request body did not arrive in time.\n"


class _Watchdog:
    """Shuts the reading side of sockets whose deadline passed."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[list[Any]] = []  # [deadline, seq, sock, live]
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, seconds: float) -> list[Any]:
        entry = [time.monotonic() + seconds, next(self._seq), sock, True]
        with self._cond:
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="body-watchdog", daemon=True)
                self._thread.start()
            if self._heap[0] is entry:
                self._cond.notify()
        return entry

    @staticmethod
    def done(entry: list[Any]) -> None:
        entry[3] = False

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and not self._heap[0][3]:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                entry = heapq.heappop(self._heap)
                if entry[3]:
                    entry[3] = False
                    with contextlib.suppress(OSError):
                        entry[2].shutdown(socket.SHUT_RD)  # the blocked read returns now


_watchdog = _Watchdog()


class BoundedBody:
    """WSGI middleware: the whole body within `timeout` seconds, or 408."""

    def __init__(
        self,
        app: Callable,
        timeout: float,
        limit: int,
        larger: dict[str, tuple[int, float]] | None = None,
    ) -> None:
        self.app = app
        self.timeout = timeout
        self.limit = limit
        # path -> (limit, timeout) for the few routes that take larger uploads.
        self.larger = larger or {}

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        length = environ.get("CONTENT_LENGTH") or ""
        if sock is None or not (chunked or (length.isdigit() and int(length) > 0)):
            return self.app(environ, start_response)
        limit, timeout = self.larger.get(environ.get("PATH_INFO", ""), (self.limit, self.timeout))
        if length.isdigit() and int(length) > limit:
            return self.app(environ, start_response)  # the app answers 413 without reading
        want = int(length) if length.isdigit() else limit + 1
        entry = _watchdog.watch(sock, timeout)
        parts, got, ended = [], 0, False
        try:
            stream = environ["wsgi.input"]
            while got < want:
                data = stream.read(min(65536, want - got))
                if not data:
                    ended = True
                    break
                parts.append(data)
                got += len(data)
        except Exception:  # noqa: BLE001 - a socket shut mid-chunk: gunicorn's parse errors
            got = -1
        finally:
            cut = not entry[3]  # the watchdog shut the socket (read before done() clears it)
            _watchdog.done(entry)
        complete = got == want if length.isdigit() else (got > limit or (ended and not cut))
        if not complete:
            start_response(
                "408 Request Timeout",
                [("Content-Type", "text/plain"), ("Connection", "close"),
                 ("Content-Length", str(len(_TIMED_OUT)))],
            )  # fmt: skip
            return [_TIMED_OUT]
        body = b"".join(parts)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.app(environ, start_response)
