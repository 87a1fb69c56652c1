"""Inbound-webhook-to-websocket latency with many open sockets, against a bare Redis
publish-to-subscribe baseline measured in the same run.

    .venv/bin/python bench/ws_latency.py --sockets 500 --messages 30

Starts its own stack on free ports (SQLite + embedded Redis unless DATABASE_URL /
REDIS_URL are set): gunicorn with 2 gthread workers sized for the sockets, the demo data,
then opens N websockets as the same staff user (N tabs on the Inbox list), posts signed
inbound webhooks and times each arrival on every socket. Prints a table; writes JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import redis
import requests
from simple_websocket import Client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inbox import embedded_redis  # noqa: E402
from inbox.sandbox import SandboxState, sign_params  # noqa: E402

KEY, SECRET, SIG = "bench-key", "bench-secret", "bench-signature-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def bare_redis_baseline(url: str, samples: int) -> list[float]:
    r = redis.Redis.from_url(url)
    got: dict[str, float] = {}
    ready = threading.Event()

    def listen():
        ps = r.pubsub(ignore_subscribe_messages=True)
        ps.subscribe("bench-baseline")
        ready.set()
        for m in ps.listen():
            got[m["data"].decode()] = time.perf_counter()
            if len(got) >= samples:
                return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    ready.wait(5)
    time.sleep(0.2)
    sent = {}
    for i in range(samples):
        sent[str(i)] = time.perf_counter()
        r.publish("bench-baseline", str(i))
        time.sleep(0.02)
    t.join(5)
    return [(got[k] - sent[k]) * 1000 for k in sent if k in got]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sockets", type=int, default=500)
    ap.add_argument("--messages", type=int, default=30)
    ap.add_argument("--out", default=str(ROOT / "bench" / "ws_latency.json"))
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-ws-"))
    redis_url = os.environ.get("REDIS_URL") or embedded_redis.ensure_running(tmp / "redis")
    port, sandbox_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ, "INSTANCE_PATH": str(tmp), "REDIS_URL": redis_url, "APP_ENV": "test",
        "SECRET_KEY": "bench", "VONAGE_API_KEY": KEY, "VONAGE_API_SECRET": SECRET,
        "VONAGE_SIGNATURE_SECRET": SIG, "VONAGE_SIGNATURE_METHOD": "sha256",
        "VONAGE_REST_HOST": f"127.0.0.1:{sandbox_port}", "SANDBOX_PORT": str(sandbox_port),
        "PUBLIC_BASE_URL": base, "RQ_QUEUE": "bench",
    }  # fmt: skip
    env.setdefault("DATABASE_URL", f"sqlite:///{tmp / 'bench.sqlite3'}")
    bin_dir = Path(sys.executable).parent
    threads = args.sockets // 2 + 40
    procs = []
    try:
        subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
                       cwd=ROOT, env=env, check=True, capture_output=True)  # fmt: skip
        procs.append(subprocess.Popen([sys.executable, "-m", "inbox.sandbox"], cwd=ROOT, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True))  # fmt: skip
        procs.append(subprocess.Popen(
            [str(bin_dir / "gunicorn"), "app:app", "-k", "gthread", "-w", "2", "--threads",
             str(threads), "-b", f"127.0.0.1:{port}", "--no-control-socket"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True))  # fmt: skip
        for _ in range(200):
            try:
                if requests.get(base + "/login", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        subprocess.run([sys.executable, "-m", "flask", "--app", "app", "seed-demo"], cwd=ROOT,
                       env=env, check=True, capture_output=True)  # fmt: skip

        s = requests.Session()
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', s.get(base + "/login").text)
        s.post(base + "/login", data={"email": "staff@glow.test", "password": "demo1234",
                                      "csrf_token": token.group(1)})  # fmt: skip
        cookie = "; ".join(f"{k}={v}" for k, v in s.cookies.items())
        headers = {"Cookie": cookie, "Origin": base,
                   "User-Agent": requests.utils.default_user_agent()}  # fmt: skip

        arrivals: dict[str, list[float]] = {}
        lock = threading.Lock()
        sockets = []
        for _ in range(args.sockets):
            ws = Client.connect(base.replace("http", "ws") + "/ws", headers=headers)
            ws.receive(timeout=10)  # the badge on connect
            ws.send(json.dumps({"path": "/inbox", "search": "?tab=unread", "visible": False}))
            sockets.append(ws)

        def reader(ws):
            while ws.connected:
                try:
                    data = ws.receive(timeout=1)
                except Exception:  # noqa: BLE001
                    return
                if data and "BENCH-" in data:
                    marker = re.search(r"BENCH-[0-9a-f]{8}", data).group(0)
                    with lock:
                        arrivals.setdefault(marker, []).append(time.perf_counter())

        readers = [threading.Thread(target=reader, args=(ws,), daemon=True) for ws in sockets]
        for t in readers:
            t.start()
        time.sleep(1)
        state = SandboxState(api_key=KEY, signature_secret=SIG, signature_method="sha256")
        sent: dict[str, float] = {}
        for _ in range(args.messages):
            marker = f"BENCH-{uuid.uuid4().hex[:8]}"
            params = sign_params(state, {
                "msisdn": "19175550100", "to": "12125550134", "messageId": uuid.uuid4().hex[:16],
                "text": marker, "type": "text", "message-timestamp": time.strftime(
                    "%Y-%m-%d %H:%M:%S", time.gmtime()), "nonce": str(uuid.uuid4())})  # fmt: skip
            sent[marker] = time.perf_counter()
            requests.post(base + "/webhooks/vonage/inbound", data=params, timeout=10)
            time.sleep(0.3)
        time.sleep(3)
        latencies = [(t - sent[m]) * 1000 for m, ts in arrivals.items() for t in ts if m in sent]
        delivered = sum(len(ts) for m, ts in arrivals.items() if m in sent)
        baseline = bare_redis_baseline(redis_url, args.messages)
        for ws in sockets:
            ws.close()
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        if not os.environ.get("REDIS_URL"):
            embedded_redis.stop(tmp / "redis")

    expected = args.sockets * args.messages

    def summary(values: list[float]) -> dict[int, float]:
        return {p: round(pct(values, p), 3) for p in (50, 95, 99)} if values else {}

    result = {
        "sockets": args.sockets, "messages": args.messages,
        "delivered": delivered, "expected": expected,
        "webhook_to_ws_ms": summary(latencies), "redis_pubsub_ms": summary(baseline),
    }  # fmt: skip
    if latencies and baseline:
        result["ratio_p50"] = round(pct(latencies, 50) / max(statistics.median(baseline), 1e-3), 1)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"{'figure':<32}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
    for name, key in (("webhook -> websocket", "webhook_to_ws_ms"),
                      ("bare Redis publish -> subscribe", "redis_pubsub_ms")):  # fmt: skip
        row = result[key]
        print(f"{name:<32}{row.get(50, 0):>10}{row.get(95, 0):>10}{row.get(99, 0):>10}")
    print(f"delivered {delivered}/{expected} socket messages; p50 ratio {result.get('ratio_p50')}")
    return 0 if delivered == expected else 1


if __name__ == "__main__":
    sys.exit(main())
