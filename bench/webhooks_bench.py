"""Event webhooks out: deliveries per second to a local receiver, next to plain POSTs of
the same bodies to the same receiver from the same process, measured in the same run.

    .venv/bin/python bench/webhooks_bench.py --db sqlite --events 2000
    .venv/bin/python bench/webhooks_bench.py --db postgres   # BENCH_HOOKS_DATABASE_URL

For each database: a fresh schema from the migrations, one practice with one endpoint at a
receiver (a threaded HTTP server in its own process, answering 200 at once), then
1. baseline: N POSTs of a delivery-sized JSON body with one `requests.Session`, one after
   another, as the delivery job sends them;
2. emit: the N events' outbox rows written as the hot paths write them (`emit` with the
   batch's connection, 100 events a batch, one INSERT each, a transaction each), and the
   cost of `emit` inside a batch's transaction for a practice without an endpoint (the
   check alone: one indexed SELECT);
3. deliveries: `deliver_due()` (the RQ job's body, one worker) until every row is delivered:
   claimed by conditional UPDATE, body built, signed (Standard Webhooks), POSTed, recorded.
Prints events/s for each and the ratio of deliveries to the baseline.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import generate  # noqa: E402

PG_URL = os.environ.get(
    "BENCH_HOOKS_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/wt24b_bench"
)
BATCH = 100


def _serve(port_queue) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_queue.put(server.server_port)
    server.serve_forever()


def start_receiver() -> tuple[multiprocessing.Process, str]:
    ctx = multiprocessing.get_context("spawn")
    ports = ctx.Queue()
    proc = ctx.Process(target=_serve, args=(ports,), daemon=True)
    proc.start()
    return proc, f"http://127.0.0.1:{ports.get(timeout=10)}/hooks"


def run(db: str, n: int) -> dict:
    import requests

    from inbox import create_app
    from inbox.extensions import db as sa_db
    from inbox.models import WebhookDelivery
    from inbox.services import event_hooks, hook_delivery, hook_endpoints, practices

    if db == "postgres":
        url = PG_URL
        generate.ensure_database(url)
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='hooks-bench-')}/bench.sqlite3"
    generate.reset_and_migrate(url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": "redis://127.0.0.1:1/0"})
    proc, receiver = start_receiver()
    results: dict = {"events": n}
    try:
        with app.app_context():
            made = practices.create("Bench Med Spa", "bench@example.com", "Bench Admin")
            other = practices.create("Quiet Clinic", "quiet@example.com", "Quiet Admin")
            account = made.main_admin.account
            endpoint = hook_endpoints.create_endpoint(
                account, url=receiver, events=list(event_hooks.EVENT_WORDS)
            )
            events = [
                event_hooks.status_changed(account.id, 10_000 + i, 500 + i % 50, "delivered")
                for i in range(n)
            ]
            sample = event_hooks.payload_json(events[0].type, events[0].data, event_hooks.utcnow())
            headers = hook_delivery.sign(
                endpoint.secret, "msg_baseline", event_hooks.utcnow(), sample
            )

            # 1. baseline: plain POSTs, same receiver, same process, same kind of session.
            http = requests.Session()
            http.trust_env = False
            http.post(receiver, data=sample.encode(), headers=headers, timeout=10)  # warm up
            t0 = time.perf_counter()
            for _ in range(n):
                http.post(
                    receiver,
                    data=sample.encode(),
                    headers={**headers, "content-type": "application/json"},
                    timeout=10,
                    allow_redirects=False,
                ).close()
            results["baseline"] = time.perf_counter() - t0

            # 2. emit: the outbox rows, a batch at a time, on the batch's connection.
            quiet = [
                event_hooks.status_changed(other.main_admin.account_id, i, i, "delivered")
                for i in range(BATCH)
            ]
            batches = max(n // BATCH, 1)
            with sa_db.engine.begin() as conn:  # inside the batch's transaction, as ingest
                t0 = time.perf_counter()
                for _ in range(batches):
                    event_hooks.emit(quiet, conn)
                took = time.perf_counter() - t0
            results["emit, no endpoint, per batch"] = took / batches
            t0 = time.perf_counter()
            for start in range(0, n, BATCH):
                with sa_db.engine.begin() as conn:
                    event_hooks.emit(events[start : start + BATCH], conn)
            results["emit"] = time.perf_counter() - t0

            # 3. deliveries: the job's body, one worker, until every row is delivered.
            t0 = time.perf_counter()
            delivered = 0
            while delivered < n:
                delivered += hook_delivery.deliver_due(seconds=3600).delivered
            results["deliver"] = time.perf_counter() - t0
            states = dict(
                sa_db.session.query(WebhookDelivery.state, sa_db.func.count()).group_by(
                    WebhookDelivery.state
                )
            )
            assert states == {"delivered": n}, states
            sa_db.engine.dispose()
    finally:
        proc.terminate()
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    ap.add_argument("--events", type=int, default=2000)
    args = ap.parse_args()
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        r = run(db, args.events)
        n = r["events"]
        print(f"\n{db}: {n} events, one worker, one receiver")
        print(f"  baseline POSTs     {r['baseline']:.2f} s  {n / r['baseline']:8.0f} /s")
        print(f"  deliveries         {r['deliver']:.2f} s  {n / r['deliver']:8.0f} /s  "
              f"x{r['deliver'] / r['baseline']:.2f} baseline")  # fmt: skip
        print(f"  emit (outbox rows) {r['emit']:.2f} s  {n / r['emit']:8.0f} /s")
        check = r["emit, no endpoint, per batch"] * 1e3
        print(f"  emit, practice without endpoint: {check:.2f} ms per {BATCH}-event batch")
        print(json.dumps({k: v for k, v in r.items()}, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
