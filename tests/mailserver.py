"""A real SMTP server process for the tests (inbox.devmail, on aiosmtpd): it writes every
email it receives to a folder, and the tests read them from there."""

from __future__ import annotations

import email
import email.policy
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"https?://\S+/password/set/[A-Za-z0-9_\-]+")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MailServer:
    def __init__(self) -> None:
        self.port = _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="clinic-inbox-mail-"))
        self.proc: subprocess.Popen | None = None

    def start(self) -> MailServer:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inbox.devmail", "--port", str(self.port),
             "--save-to", str(self.folder)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError("the test mail server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)

    def clear(self) -> None:
        for path in self.folder.glob("*.eml"):
            path.unlink()

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(self.folder.glob("*.eml"))
        ]

    def wait_for(self, count: int = 1, timeout: float = 15) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.messages()
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"expected {count} email(s), the server got {len(self.messages())}")


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def link_in(message: EmailMessage) -> str:
    match = LINK.search(text_of(message))
    assert match, text_of(message)
    return match.group(0)
