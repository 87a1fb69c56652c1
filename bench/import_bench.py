"""Patients › Import patients at scale: a 100,000-row CSV through the import job, next to a
plain executemany INSERT of the same rows (already normalised) measured in the same run.

    .venv/bin/python bench/import_bench.py --db sqlite
    .venv/bin/python bench/import_bench.py --db postgres   # BENCH_IMPORT_DATABASE_URL

For each database: a fresh schema from the migrations, one practice, then
1. baseline: the rows, normalised beforehand, inserted into `patients` with executemany in
   batches of 1,000 (one commit each), then deleted again;
2. import: the CSV (Patient ID, names, mobile in display format, email, US date of birth)
   through `imports.run`, as the RQ job runs it: every row parsed and checked, matched in
   bulk per batch, inserted with executemany, progress written per batch;
3. re-import: the same file again, every row an update.
Before each, the preview's plan of the file (what the preview page and Start compute in the
web request). Prints rows/s for each and the ratio of each to the baseline.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
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
    "BENCH_IMPORT_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/wt23c_bench"
)


def make_csv(n: int) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["Patient ID", "First Name", "Last Name", "Mobile", "Email", "DOB"])
    for i in range(n):
        exchange, line = 200 + i // 10000, i % 10000
        w.writerow([f"P{i:06d}", f"First{i}", f"Last{i % 997}", f"(917) {exchange}-{line:04d}",
                    f"p{i}@example.com", f"{1 + i % 12}/{1 + i % 28}/{1950 + i % 50}"])  # fmt: skip
    return out.getvalue()


def run(db: str, n: int) -> dict:
    from inbox import create_app
    from inbox.extensions import db as sa_db
    from inbox.models import IMPORT_QUEUED, CsvImport, Patient, User, utcnow
    from inbox.services import csv_rows, imports, patient_rows, practices

    if db == "postgres":
        url = PG_URL
        generate.ensure_database(url)
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='import-bench-')}/bench.sqlite3"
    generate.reset_and_migrate(url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": "redis://unused"})
    text = make_csv(n)
    with app.app_context():
        made = practices.create("Bench Med Spa", "bench@example.com", "Bench Admin")
        user = sa_db.session.get(User, made.main_admin.id)
        clinic_id = user.account.clinics[0].id
        # The same rows, normalised beforehand, for the baseline.
        table = csv_rows.read_table(text)
        mapping = patient_rows.guess_mapping(table.headers)
        by_name: dict[str, int] = {}
        rows = [patient_rows.check_row(i, r, mapping, by_name)
                for i, r in enumerate(table.rows, 2)]  # fmt: skip
        assert not [r for r in rows if r.problem], [r.problem for r in rows if r.problem][:3]
        now = utcnow()
        plain = [{"account_id": user.account_id, "home_clinic_id": clinic_id,
                  "unknown_sender": False, "created_at": now, **r.values}
                 for r in rows]  # fmt: skip
        t0 = time.perf_counter()
        for start in range(0, n, imports.BATCH):
            sa_db.session.execute(Patient.__table__.insert(), plain[start : start + imports.BATCH])
            sa_db.session.commit()
        baseline = time.perf_counter() - t0
        sa_db.session.execute(Patient.__table__.delete())
        sa_db.session.commit()

        results = {"baseline": baseline}
        for label in ("import", "re-import"):
            item = CsvImport(
                account_id=user.account_id, user_id=user.id, filename="bench.csv",
                content=text, mapping=json.dumps(mapping), default_clinic_id=clinic_id,
                total_rows=n, status=IMPORT_QUEUED,
            )  # fmt: skip
            sa_db.session.add(item)
            sa_db.session.commit()
            # The preview page plans the file in its web request (every row checked and
            # matched, nothing written), and Start plans it once more.
            t0 = time.perf_counter()
            plan = imports.make_plan(user, item)
            results[label + " preview"] = time.perf_counter() - t0
            assert plan.to_add + plan.to_update == n, (plan.to_add, plan.to_update)
            t0 = time.perf_counter()
            summary = imports.run(item.id)
            results[label] = time.perf_counter() - t0
            results[label + " summary"] = summary
        count = sa_db.session.query(Patient).count()
        assert count == n, count
        sa_db.engine.dispose()
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        r = run(db, args.rows)
        base = r["baseline"]
        print(f"\n{db}, {args.rows:,} rows, {os.cpu_count()} CPUs")
        print(f"{'':28} {'seconds':>8} {'rows/s':>9} {'x baseline':>10}")
        print(f"{'baseline executemany':28} {base:8.2f} {args.rows / base:9,.0f} {1:10.2f}")
        for label in ("import", "re-import"):
            t = r[label + " preview"]
            print(f"{label + ' preview (plan)':28} {t:8.2f} {args.rows / t:9,.0f} {t / base:10.2f}")
            t = r[label]
            print(f"{label + ' job':28} {t:8.2f} {args.rows / t:9,.0f} {t / base:10.2f}"
                  f"   {r[label + ' summary']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
