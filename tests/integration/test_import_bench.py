"""bench/import_bench.py must not rot: a few hundred rows through it on SQLite, the import
and the re-import counted exactly (figures live in bench/RESULTS.md, never asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import import_bench  # noqa: E402


def test_the_import_bench_imports_then_updates_every_row():
    results = import_bench.run("sqlite", 300)
    assert results["import summary"] == {"added": 300, "updated": 0, "skipped": 0}
    assert results["re-import summary"] == {"added": 0, "updated": 300, "skipped": 0}
    assert results["baseline"] > 0 and results["import"] > 0 and results["import preview"] > 0
