"""The benchmark harness must not rot: generate a tiny data set with bench/generate.py
(the real migrations, the bulk loader, the triggers) and drive it the way bench/run.py
does, on SQLite. Figures are not asserted here (they live in bench/RESULTS.md); only that
every page the bench measures answers, with rows, and the counters are exact."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import generate  # noqa: E402
import run  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "tiny.sqlite3"
    url = f"sqlite:///{path}"
    info = generate.generate(url, scale=0.001, seed=3)
    return url, info


@pytest.fixture
def data(tiny, tmp_path):
    """A copy of the tiny data set for a test that writes into it (the ingest writes
    texts): each test, whatever the order, sees the data set as generated."""
    url, info = tiny
    copy = tmp_path / "tiny.sqlite3"
    shutil.copyfile(url.removeprefix("sqlite:///"), copy)
    return f"sqlite:///{copy}", info


def test_generate_builds_the_shape_the_bench_needs(tiny):
    import sqlite3

    url, info = tiny
    assert info["patients"] == info["conversations"] == 200
    assert info["longest_conversation_messages"] > 2000
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    count = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    assert count == info["messages"]
    # The triggers filled the counters and the phone index as the rows went in.
    counted = conn.execute(
        "SELECT sum(unread), count(*) FROM conversations WHERE last_message_at IS NOT NULL"
    ).fetchone()
    kept = conn.execute(
        "SELECT sum(CASE WHEN unread THEN n ELSE 0 END), sum(n) FROM conversation_counts"
    ).fetchone()
    assert counted == kept
    assert conn.execute(
        "SELECT count(*) FROM patients_phone_fts WHERE phone_digits LIKE ?",
        (f"%{info['search']['phone_fragment']}%",),
    ).fetchone()[0]
    # Every conversation's last message is what its row shows.
    assert not conn.execute(
        "SELECT 1 FROM conversations c WHERE c.last_message_at <> "
        "(SELECT max(sent_at) FROM messages m WHERE m.conversation_id = c.id) LIMIT 1"
    ).fetchone()


@pytest.mark.skipif(not shutil.which("wrk"), reason="wrk is not installed")
def test_run_measures_every_page_on_a_real_server(data, tmp_path, redis_url, monkeypatch):
    url, info = data

    class Args:
        seconds = 1
        concurrency = 2

    measured: list[str] = []
    real_wrk = run.wrk

    def one_request(target, headers, **kwargs):
        # Every page is fetched and checked by run.py itself; wrk runs once, on the baseline.
        measured.append(target)
        if target.endswith("/healthz") and len(measured) == 1:
            return real_wrk(target, headers, **kwargs)
        return {"p50_ms": 1.0, "p95_ms": 1.0, "p99_ms": 1.0, "rps": 1.0, "requests": 1,
                "errors": 0, "non_200": 0, "next": []}  # fmt: skip

    monkeypatch.setattr(run, "wrk", one_request)
    stack = run.Stack(url, redis_url, threads=8, tmp=tmp_path).up()
    try:
        figures = run.http_figures(stack, info, Args)
    finally:
        stack.down()
    assert all(v["non_200"] == 0 and v["requests"] > 0 for v in figures.values()), figures
    counts = {"baseline SELECT 1": figures["baseline /healthz"]}
    text = run.table("sqlite", {"data": info, "http": figures, "concurrency": 2, "counts": counts})
    assert "list: Unread, All Clinics" in text and "search: phone fragment" in text


def test_ingest_counts_what_is_stored_and_loses_nothing(data, tmp_path, redis_url):
    """The ingest figure through a real gunicorn and wrk: texts stored, none lost or
    stored twice, nothing left held, and the CPU figures read."""
    url, info = data

    class Args:
        seconds = 1
        concurrency = 2

    stack = run.Stack(url, redis_url, threads=8, tmp=tmp_path).up()
    try:
        figures = run.ingest_figures(stack, info, Args, None)
    finally:
        stack.down()
    assert figures["stored"] > 0 and figures["non_200"] == 0, figures
    assert figures["lost"] == 0 and figures["duplicated"] == 0 and figures["left_pending"] == 0
    assert figures["web_cpu_ms"] > 0 and figures["machine_cpu_ms"] > 0
    assert 0 < figures["ingest_rps"] <= figures["answered_rps"] * 1.01
