"""A realistic, seeded data set for one practice chain, loaded in bulk.

    .venv/bin/python bench/generate.py --db sqlite            # bench/.data/bench.sqlite3
    .venv/bin/python bench/generate.py --db postgres          # $BENCH_DATABASE_URL
    .venv/bin/python bench/generate.py --db sqlite --scale 0.02   # 1/50, for smoke tests

Full scale: one account, 25 clinics, 200,000 patients, 200,000 conversations, 3,000,000
messages. Conversation lengths are long-tailed: most conversations are a handful of texts, a few
hundred run to hundreds, and 20 run past 2,000. 30% of conversations are unread.

The schema comes from the real migrations (`flask db upgrade`), triggers included (the
counters and SQLite's phone index are filled by them as rows arrive). Rows go in through
executemany on SQLite (journal off, synchronous off while loading) and COPY on
PostgreSQL, then ANALYZE. Writes a manifest (ids and search terms run.py needs) next to
the data.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / ".data"
sys.path.insert(0, str(ROOT))

FULL = {"clinics": 25, "patients": 200_000, "messages": 3_000_000}
GIANT_CONVERSATIONS = 20  # past 2,000 messages each, at any scale
GIANT_SIZE = (2_050, 2_600)
UNREAD_SHARE = 0.30
NUMBER = "+12125550134"
PASSWORD = "bench1234"
AREAS = ("212", "646", "917", "347", "718", "332", "929", "516", "631", "914")
FIRST_NAMES = """Ava Liam Noah Emma Olivia Sophia Isabella Mia Amelia Harper Evelyn Abigail Emily
Ella Elizabeth Camila Luna Sofia Avery Mila Aria Scarlett Penelope Layla Chloe Victoria
Madison Eleanor Grace Nora Riley Zoey Hannah Hazel Lily Ellie Violet Lillian Zoe Stella
Aurora Natalie Emilia Everly Leah Aubrey Willow Addison Lucy Audrey Bella Nova Brooklyn
Paisley Savannah Claire Skylar Isla Genesis Naomi Elena Caroline Eliana Anna Maya Valentina
Ruby Kennedy Ivy Ariana Aaliyah Cora Madelyn Alice Kinsley Hailey Gabriella Allison Gianna
Serenity Samantha Sarah Autumn Quinn Eva Piper Sophie Sadie Delilah Josephine Nevaeh
Adeline Arya Emery Lydia Clara Vivian Madeline Peyton Julia Rylee Brielle Reagan Natalia
Jade Athena Maria Leilani Everleigh Liliana Melanie Mackenzie Hadley Raelynn Kaylee Rose
Arianna Isabelle Melody Eliza Lyla Katherine Aubree Adalynn Kylie Faith Mary Margaret
Ximena Iris Alexandra Jasmine Charlie Amaya Taylor Isabel Ashley Khloe Ryleigh Alexa
Amara Valeria Andrea Parker Norah Eden Elliana Brianna Emersyn Valerie Anastasia Eloise
Emerson Cecilia Remi Josie Reese Bailey Lucia Adalyn Molly Ayla Sara Daisy London Jordyn
Esther Genevieve Harmony Annabelle Alyssa Ariel Aaliya Londyn Juliana Morgan Summer Juliette
Renée Zoë Chloé Inés José Mateo Lucas Ethan Mason Logan James Benjamin Elijah Oliver
Jacob Michael Daniel Henry Jackson Sebastian Aiden Matthew Samuel David Joseph Carter"""
LAST_NAMES = """Martinez Chen Patel Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez
Hernandez Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez
Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright
Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell
Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart
Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly
Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza
Ruiz Hughes Price Alvarez Castillo Sanders Myers Long Ross Foster Jimenez Powell Jenkins
Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Fisher Vasquez Simmons Romero
Jordan Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes
Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens
Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb
Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder
Mason Dixon Muñoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar
Fox Warren Mills Meyer Rice Schmidt García Núñez Müller O'Brien Dubois Lefèvre Nakamura
Yamamoto Kowalski Novak Petrov Ivanova Haddad Okafor Mensah Singh Kaur Das Rahman"""
FIRST, LAST = FIRST_NAMES.split(), LAST_NAMES.split()
INBOUND = [
    "Can I move my appointment to Thursday?",
    "Thanks! See you then",
    "Running 10 min late",
    "What time is my appointment tomorrow?",
    "Do you have anything open this week?",
    "Is it ok to wear makeup after the treatment?",
    "Yes please book me in",
    "How long does the swelling last?",
    "I filled in the forms",
    "Can I bring a friend?",
    "Is parking available?",
    "What's the price for a follow-up?",
    "Perfect, thank you!",
    "I need to cancel, sorry",
    "Could you send the aftercare instructions again?",
    "Got it 👍",
    "Where do I find the paperwork link?",
    "Can I pay with HSA?",
]
OUTBOUND = [
    "Reminder: your appointment is tomorrow at 3pm. Reply C to confirm.",
    "Sure! Thursday at 3pm works. See you then.",
    "Your forms are ready: please fill them in.",
    "Thanks for visiting today! Here are your aftercare notes.",
    "We have an opening on Friday at 11am, would that suit you?",
    "Happy to help. Anything else?",
    "Please arrive 10 minutes early.",
    "Your treatment plan is attached in the portal.",
]


def sizes(rng: random.Random, conversations: int, total: int, scale: float = 1.0) -> list[int]:
    """Long-tailed conversation lengths summing to `total`: 20 giants past 2,000 (at least one at
    any scale), a few hundred long conversations, the rest short (geometric)."""
    n_giants = min(conversations, max(1, round(GIANT_CONVERSATIONS * scale)))
    giants = [rng.randint(*GIANT_SIZE) for _ in range(n_giants)]
    n_long = min(conversations - len(giants), max(1, conversations // 100))
    longs = [rng.randint(60, 400) for _ in range(n_long)]
    rest = conversations - len(giants) - len(longs)
    remaining = max(rest, total - sum(giants) - sum(longs))
    mean = remaining / max(rest, 1)
    p = 1 / max(mean, 1.0)
    shorts = []
    for _ in range(rest):
        k = 1
        while rng.random() > p and k < 59:
            k += 1
        shorts.append(k)
    out = giants + longs + shorts
    # Nudge the short conversations until the total is exact.
    diff = total - sum(out)
    i = len(giants) + len(longs)
    while diff and rest:
        j = i + rng.randrange(rest)
        step = 1 if diff > 0 else -1
        if out[j] + step >= 1 and out[j] + step <= 59:
            out[j] += step
            diff -= step
    order = list(range(conversations))
    rng.shuffle(order)
    return [out[k] for k in order]


def phone_for(i: int) -> str:
    """Unique, valid US numbers spread over exchanges 200-999: +1 AAA XXX XXXX."""
    rest = (i * 7919) % 8_000_000  # 7919 is prime: i -> rest is one-to-one below 8M
    return f"+1{AREAS[i % len(AREAS)]}{200 + rest // 10_000:03d}{rest % 10_000:04d}"


def _ts_sqlite(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S.%f")


def _ts_pg(t: datetime) -> str:
    return t.isoformat()


class Loader:
    """executemany on SQLite, COPY on PostgreSQL: the same rows either way."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pg = url.startswith("postgresql")
        if self.pg:
            import psycopg

            self.conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        else:
            import sqlite3

            self.conn = sqlite3.connect(url.removeprefix("sqlite:///"))
            for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-400000",
                           "temp_store=MEMORY", "foreign_keys=OFF"):  # fmt: skip
                self.conn.execute(f"PRAGMA {pragma}")
        self.ts = _ts_pg if self.pg else _ts_sqlite

    def rows(self, table: str, columns: list[str], rows: Iterator[tuple]) -> int:
        n = 0
        if self.pg:
            with (
                self.conn.cursor() as cur,
                cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
                    n += 1
            return n
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        batch: list[tuple] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= 50_000:
                self.conn.executemany(sql, batch)
                n += len(batch)
                batch.clear()
        if batch:
            self.conn.executemany(sql, batch)
            n += len(batch)
        return n

    def finish(self) -> None:
        self.conn.commit()
        if self.pg:
            import psycopg

            self.conn.autocommit = True
            for table in ("patients", "conversations", "messages", "users", "clinics"):
                self.conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
            self.conn.execute("VACUUM ANALYZE")
            # Write the load out now: otherwise the next timed checkpoint writes gigabytes
            # while run.py measures (the PostgreSQL sections ran 10-15% slower in a full
            # run than rerun minutes later).
            try:
                self.conn.execute("CHECKPOINT")
            except psycopg.errors.InsufficientPrivilege:
                print("  (no CHECKPOINT: needs a superuser or pg_checkpoint)", flush=True)
        else:
            self.conn.execute("ANALYZE")
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.commit()
        self.conn.close()


def reset_and_migrate(url: str) -> None:
    """A fresh schema from the real migrations."""
    if url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
            conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
            conn.execute("CREATE SCHEMA public")
    else:
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
    from flask_migrate import upgrade

    from inbox import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": "redis://unused"})
    with app.app_context():
        upgrade()
        from inbox.extensions import db

        db.engine.dispose()


def generate(url: str, scale: float = 1.0, seed: int = 8, manifest: Path | None = None) -> dict:
    from werkzeug.security import generate_password_hash

    from inbox.services import phones, search_text

    t0 = time.perf_counter()
    rng = random.Random(seed)
    n_patients = max(100, int(FULL["patients"] * scale))
    n_messages = max(n_patients * 3, int(FULL["messages"] * scale))
    n_clinics = FULL["clinics"]
    ensure_database(url)
    reset_and_migrate(url)
    load = Loader(url)
    ts = load.ts
    now = datetime.now(UTC).replace(microsecond=0)
    true, false = (True, False) if load.pg else (1, 0)

    load.rows("accounts", ["id", "name", "plan", "inbox_enabled", "contact_phone", "created_at"],
              iter([(1, "Lumière Skin Clinics", "accelerator", true, "+12125550100",
                     ts(now))]))  # fmt: skip
    clinic_rows = [(i, 1, f"Clinic {i:02d}", "America/New_York") for i in range(1, n_clinics + 1)]
    load.rows("clinics", ["id", "account_id", "name", "timezone"], iter(clinic_rows))
    pw = generate_password_hash(PASSWORD)
    users = [
        (1, 1, "admin@bench.test", "Morgan Admin", "main_admin", '["inbox"]', true),
        (2, 1, "staff@bench.test", "Sam Staff", "staff", '["inbox"]', true),
        (3, 1, "limited@bench.test", "Lee Limited", "staff", '["inbox"]', false),
    ]
    load.rows("users", ["id", "account_id", "email", "name", "role", "privileges",
                        "all_clinics", "password_hash", "active", "created_at"],
              iter([(*u[:6], u[6], pw, true, ts(now)) for u in users]))  # fmt: skip
    load.rows("user_clinics", ["user_id", "clinic_id"], iter([(3, 1), (3, 2), (3, 3)]))
    load.rows("inbox_numbers", ["id", "account_id", "e164", "country", "status", "purchased_at"],
              iter([(1, 1, NUMBER, "US", "active", ts(now - timedelta(days=400)))]))  # fmt: skip
    load.rows("reply_templates", ["id", "account_id", "name", "body", "kind", "position"], iter([
        (1, 1, "Confirm", "Hi {first_name}, see you {next_appointment}!", "general", 1),
        (2, 1, "Forms", "Hi {first_name}, your forms: {portal_link}", "paperwork", 2),
        (3, 1, "Running late", "No problem {first_name}, we'll see you soon.", "general", 3),
        (4, 1, "Directions", "{clinic_name} is on the 2nd floor, parking behind.", "general", 4),
    ]))  # fmt: skip
    t_setup = time.perf_counter()

    # Patients: clinics of uneven size (a flagship and smaller satellites).
    weights = [1.0 / (k + 1) ** 0.6 for k in range(n_clinics)]
    names: list[tuple[str, str]] = []
    homes: list[int] = []

    def patient_rows():
        for i in range(1, n_patients + 1):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            if rng.random() < 0.03:
                last = f"{last}-{rng.choice(LAST)}"
            clinic = rng.choices(range(1, n_clinics + 1), weights)[0]
            names.append((first, last))
            homes.append(clinic)
            phone = phone_for(i)
            yield (i, 1, first, last, phone, phones.national_digits(phone),
                   search_text.name_key(first, last), search_text.name_key(last, first)
                   .partition("|")[0], None, clinic, false, None, ts(now), ts(now))  # fmt: skip

    load.rows("patients", ["id", "account_id", "first_name", "last_name", "phone", "phone_digits",
                           "name_search", "name_reversed", "email", "home_clinic_id",
                           "unknown_sender", "opted_out_at", "created_at", "updated_at"],
              patient_rows())  # fmt: skip
    t_patients = time.perf_counter()

    # Conversations: lengths, each conversation's last activity (what the list shows), then the
    # messages walking up to it.
    lengths = sizes(rng, n_patients, n_messages, scale)
    horizon = 365 * 24 * 3600
    conversations: list[tuple[datetime, float, str, str]] = []
    conv_rows: list[tuple] = []
    for cid in range(1, n_patients + 1):
        # Recent activity is denser: most conversations moved in the last weeks.
        last = now - timedelta(seconds=int(horizon * rng.random() ** 3), microseconds=cid)
        span = min(horizon, 600 * lengths[cid - 1] * (1 + rng.random()))
        direction = "in" if rng.random() < 0.55 else "out"
        body = rng.choice(INBOUND if direction == "in" else OUTBOUND)
        conversations.append((last, span, direction, body))
        unread = direction == "in" and rng.random() < UNREAD_SHARE / 0.55
        conv_rows.append((cid, 1, 1, cid, homes[cid - 1], true if unread else false, ts(last),
                          body if direction == "in" else "You: " + body, direction,
                          true if rng.random() < 0.01 else false,
                          true if rng.random() < 0.01 else false, ts(last)))  # fmt: skip
    load.rows("conversations", ["id", "account_id", "inbox_number_id", "patient_id", "clinic_id",
                                "unread", "last_message_at", "last_message_preview",
                                "last_direction", "has_failed", "opted_out", "created_at"],
              iter(conv_rows))  # fmt: skip
    conv_rows.clear()
    t_convs = time.perf_counter()
    msg_columns = ["id", "account_id", "conversation_id", "direction", "body", "from_number",
                   "to_number", "status", "carrier", "carrier_message_id", "segments",
                   "encoding", "sent_by_user_id", "created_at", "sent_at"]  # fmt: skip

    def message_rows():
        mid = 0
        rand = rng.random
        for cid in range(1, n_patients + 1):
            size = lengths[cid - 1]
            last, span, last_direction, last_body = conversations[cid - 1]
            phone = phone_for(cid)
            step = span / size
            t = last - timedelta(seconds=span)
            for k in range(size):
                mid += 1
                if k == size - 1:
                    t, direction, body = last, last_direction, last_body
                else:
                    t = min(t + timedelta(seconds=step * (0.5 + rand())), last)
                    direction = "in" if rand() < 0.55 else "out"
                    body = rng.choice(INBOUND if direction == "in" else OUTBOUND)
                stamp = ts(t)
                if direction == "in":
                    yield (mid, 1, cid, "in", body, phone, NUMBER, "received", "vonage",
                           f"in-{mid}", 1, "GSM-7", None, stamp, stamp)  # fmt: skip
                else:
                    yield (mid, 1, cid, "out", body, NUMBER, phone, "delivered", "vonage",
                           f"out-{mid}", 1, "GSM-7", 2, stamp, stamp)  # fmt: skip

    n_loaded = load.rows("messages", msg_columns, message_rows())
    t_messages = time.perf_counter()
    load.finish()
    t_done = time.perf_counter()
    giants = [c for c in range(1, n_patients + 1) if lengths[c - 1] >= 2000]

    by_size = sorted(range(1, n_patients + 1), key=lambda c: lengths[c - 1])
    first, last = names[len(names) // 3]
    info = {
        "url": url.split("@")[-1],
        "scale": scale,
        "clinics": n_clinics,
        "patients": n_patients,
        "conversations": n_patients,
        "messages": n_loaded,
        "unread_share": UNREAD_SHARE,
        "longest_conversations": sorted(giants, key=lambda c: -lengths[c - 1])[:5],
        "longest_conversation_messages": max(lengths),
        "median_conversation_messages": lengths[by_size[len(by_size) // 2] - 1],
        "search": {
            "prefix": first[:3],
            "full_name": f"{first} {last}",
            "phone_fragment": phone_for(n_patients // 2)[-7:-3],
        },  # fmt: skip
        "users": {
            "staff": "staff@bench.test",
            "limited": "limited@bench.test",
            "admin": "admin@bench.test",
            "password": PASSWORD,
        },  # fmt: skip
        "number": NUMBER,
        "seconds": {
            "setup": round(t_setup - t0, 1),
            "patients": round(t_patients - t_setup, 1),
            "conversations": round(t_convs - t_patients, 1),
            "messages": round(t_messages - t_convs, 1),
            "analyze": round(t_done - t_messages, 1),
            "total": round(t_done - t0, 1),
        },  # fmt: skip
    }
    if manifest:
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(json.dumps(info, indent=2))
    return info


def default_url(db: str, scale: float = 1.0) -> str:
    """Full scale and smaller scales live in separate databases."""
    suffix = "" if scale == 1 else f"_{scale:g}".replace(".", "_")
    if db == "postgres":
        base = os.environ.get(
            "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bench"
        )
        return base + suffix
    return f"sqlite:///{DATA / f'bench{suffix}.sqlite3'}"


def ensure_database(url: str) -> None:
    """CREATE DATABASE for a PostgreSQL URL that names one not there yet."""
    if not url.startswith("postgresql"):
        return
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    base, _, name = dsn.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def manifest_path(db: str, scale: float) -> Path:
    return DATA / f"{db}-{scale:g}.json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--url", help="a database URL instead of the --db default")
    ap.add_argument("--scale", type=float, default=1.0, help="1 = 3M messages; 0.02 = 1/50")
    ap.add_argument("--seed", type=int, default=8)
    args = ap.parse_args()
    url = args.url or default_url(args.db, args.scale)
    info = generate(url, args.scale, args.seed, manifest_path(args.db, args.scale))
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
