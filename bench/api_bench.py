"""The API's batch upsert at scale: 10,000 appointments through POST
/api/v1/appointments/batch (10 requests of 1,000: JSON parsed, every field validated by the
schema, the upsert service, the audit entry), next to a plain executemany INSERT of the same
rows (already normalised) measured in the same run.

    .venv/bin/python bench/api_bench.py --db sqlite
    .venv/bin/python bench/api_bench.py --db postgres   # BENCH_API_DATABASE_URL

For each database: a fresh schema from the migrations, one practice with 1,000 patients,
then
1. baseline: the appointments, normalised beforehand, inserted with executemany in batches
   of 1,000 (one commit each), then deleted again;
2. upsert: the same appointments as API requests, all new;
3. re-upsert: the same requests again, every row an update (unchanged times: not moved).
Prints rows/s for each and the ratio of each to the baseline.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import generate  # noqa: E402

PG_URL = os.environ.get(
    "BENCH_API_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/wt24a_bench"
)
BATCH = 1000


def records(n: int, clinic_id: int) -> list[dict]:
    start = datetime(2027, 3, 1, 9, tzinfo=UTC)
    return [
        {
            "external_id": f"APT-{i:06d}", "patient_external_id": f"P{i % 1000:04d}",
            "clinic_id": clinic_id, "starts_at": (start + timedelta(minutes=15 * i)).isoformat(),
            "duration_minutes": 30 + 15 * (i % 4), "service": f"Service {i % 40}",
            "provider": f"Dr. {i % 12}",
        }
        for i in range(n)
    ]  # fmt: skip


def run(db: str, n: int) -> dict:
    from inbox import create_app
    from inbox.extensions import db as sa_db
    from inbox.models import Appointment, Patient, User, utcnow
    from inbox.services import api_keys, practices

    if db == "postgres":
        url = PG_URL
        generate.ensure_database(url)
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='api-bench-')}/bench.sqlite3"
    generate.reset_and_migrate(url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": "redis://unused"})
    results: dict = {}
    with app.app_context():
        made = practices.create("Bench Med Spa", "bench@example.com", "Bench Admin")
        user = sa_db.session.get(User, made.main_admin.id)
        account_id, clinic_id = user.account_id, user.account.clinics[0].id
        now = utcnow()
        sa_db.session.execute(
            Patient.__table__.insert(),
            [
                {"account_id": account_id, "first_name": f"F{i}", "last_name": f"L{i}",
                 "phone": f"+1917555{i:04d}", "phone_digits": f"917555{i:04d}",
                 "name_search": f"f{i} l{i}|l{i} f{i}", "name_reversed": f"l{i} f{i}",
                 "external_id": f"P{i:04d}", "home_clinic_id": clinic_id,
                 "unknown_sender": False, "created_at": now, "updated_at": now}
                for i in range(1000)
            ],
        )  # fmt: skip
        sa_db.session.commit()
        by_ext = dict(sa_db.session.execute(sa_db.select(Patient.external_id, Patient.id)).all())
        body = records(n, clinic_id)
        plain = [
            {"account_id": account_id, "patient_id": by_ext[r["patient_external_id"]],
             "clinic_id": clinic_id, "starts_at": datetime.fromisoformat(r["starts_at"]),
             "duration_minutes": r["duration_minutes"], "service": r["service"],
             "provider": r["provider"], "status": "booked", "external_id": r["external_id"],
             "created_at": now, "updated_at": now}
            for r in body
        ]  # fmt: skip
        t0 = time.perf_counter()
        for start in range(0, n, BATCH):
            sa_db.session.execute(Appointment.__table__.insert(), plain[start : start + BATCH])
            sa_db.session.commit()
        results["baseline"] = time.perf_counter() - t0
        sa_db.session.execute(Appointment.__table__.delete())
        sa_db.session.commit()
        _, secret = api_keys.create(account_id, "bench", "read,write")
        sa_db.session.remove()
    # The rate limit is not what is measured: it fails open without Redis ("redis://unused").
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    for label in ("upsert", "re-upsert"):
        counts = {"created": 0, "updated": 0, "skipped": 0}
        t0 = time.perf_counter()
        for start in range(0, n, BATCH):
            r = client.post(
                "/api/v1/appointments/batch",
                json={"appointments": body[start : start + BATCH]},
                headers=headers,
            )
            assert r.status_code == 200, r.get_data(as_text=True)[:500]
            for key in counts:
                counts[key] += r.json[key]
        results[label] = time.perf_counter() - t0
        results[label + " summary"] = counts
    with app.app_context():
        count = sa_db.session.query(Appointment).count()
        assert count == n, count
        sa_db.engine.dispose()
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    ap.add_argument("--rows", type=int, default=10_000)
    args = ap.parse_args()
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        r = run(db, args.rows)
        base = r["baseline"]
        print(f"\n{db}, {args.rows:,} appointments, {os.cpu_count()} CPUs")
        print(f"{'':28} {'seconds':>8} {'rows/s':>9} {'x baseline':>10}")
        print(f"{'baseline executemany':28} {base:8.2f} {args.rows / base:9,.0f} {1:10.2f}")
        for label in ("upsert", "re-upsert"):
            t = r[label]
            print(f"{label + ' (API batch)':28} {t:8.2f} {args.rows / t:9,.0f} {t / base:10.2f}"
                  f"   {r[label + ' summary']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
