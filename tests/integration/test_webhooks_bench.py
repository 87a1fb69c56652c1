"""bench/webhooks_bench.py must not rot: a few dozen events through it on SQLite, every
one delivered (figures live in bench/RESULTS.md, never asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import webhooks_bench  # noqa: E402


def test_the_webhooks_bench_delivers_every_event():
    results = webhooks_bench.run("sqlite", 40)  # asserts all 40 rows delivered
    assert results["baseline"] > 0 and results["deliver"] > 0 and results["emit"] > 0
