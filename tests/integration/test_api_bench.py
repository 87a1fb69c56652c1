"""bench/api_bench.py must not rot: a few hundred appointments through it on SQLite, the
upsert and the re-upsert counted exactly (figures live in bench/RESULTS.md, never
asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import api_bench  # noqa: E402


def test_the_api_bench_creates_then_updates_every_appointment():
    results = api_bench.run("sqlite", 300)
    assert results["upsert summary"] == {"created": 300, "updated": 0, "skipped": 0}
    assert results["re-upsert summary"] == {"created": 0, "updated": 300, "skipped": 0}
    assert results["baseline"] > 0 and results["upsert"] > 0
