"""A local SMTP server for development and tests (aiosmtpd): it accepts every email, prints
who it is for, its subject and its plain-text part, and, with --save-to, writes each one
as an .eml file there. `make dev` runs it so password emails show up in the console.

    python -m inbox.devmail --port 8025 [--save-to DIR]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import signal
import sys
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller


def plain_text(message: email.message.EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


class PrintAndSave:
    def __init__(self, save_to: Path | None) -> None:
        self.save_to = save_to
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.count += 1
            number = self.count
        if self.save_to is not None:
            path = self.save_to / f"{time.time_ns()}-{number:04d}.eml"
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(envelope.content)
            tmp.rename(path)  # readers never see half a file
        lines = [
            "",
            f"Mail to {', '.join(envelope.rcpt_tos)}: {message['subject']}",
            *("    " + line for line in plain_text(message).strip().splitlines()),
            "",
        ]
        print("\n".join(lines), flush=True)
        return "250 Message accepted for delivery"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--save-to", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.save_to is not None:
        args.save_to.mkdir(parents=True, exist_ok=True)
    controller = Controller(PrintAndSave(args.save_to), hostname=args.host, port=args.port)
    controller.start()
    print(f"Development mail server on {args.host}:{args.port}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
