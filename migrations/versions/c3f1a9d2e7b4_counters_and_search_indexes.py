"""performance at practice-chain scale: unread counters, search keys and indexes

Revision ID: c3f1a9d2e7b4
Revises: 607b48e4a40e
Create Date: 2026-11-27 07:50:00

- conversation_counts: one row per (account, number, clinic, unread, last inbound,
  failed, opted out) bucket, kept exact by triggers on conversations (row triggers on
  SQLite; statement triggers over transition tables on PostgreSQL, which apply their
  deltas in key order so two transactions never deadlock on the counters).
- patients.name_reversed ("last first"), both name keys byte-wise (COLLATE "C" on
  PostgreSQL) so a name prefix is an index range on either order.
- ix_conversations_patient: a search's conversations from the index alone.
- phone fragments: a pg_trgm GIN index on PostgreSQL (skipped if the extension may not be
  created), an FTS5 trigram table kept by triggers on SQLite.

NOTE for later migrations: SQLite batch mode ("move and copy") recreates a table and drops
its triggers. A migration that batch-alters `conversations` or `patients` on SQLite must
call create_sqlite_triggers() again (tests/integration/test_counts.py fails otherwise).
"""

import sqlalchemy as sa
from alembic import op

revision = "c3f1a9d2e7b4"
down_revision = "607b48e4a40e"
branch_labels = None
depends_on = None

KEY = ("account_id", "inbox_number_id", "clinic_key", "unread", "last_in", "has_failed",
       "opted_out")  # fmt: skip
KEY_SQL = ", ".join(KEY)


def _bucket(row: str, pg: bool) -> str:
    false = "false" if pg else "0"
    return (
        # COALESCE: reminder conversations of the default sender have no inbox number (never
        # listed; counted under 0 so the key stays NOT NULL).
        f"{row}.account_id, COALESCE({row}.inbox_number_id, 0), COALESCE({row}.clinic_id, 0), "
        f"{row}.unread, "
        f"COALESCE({row}.last_direction = 'in', {false}), {row}.has_failed, {row}.opted_out"
    )


SQLITE_TRIGGERS = {
    "conversation_counts_ins": f"""
CREATE TRIGGER conversation_counts_ins AFTER INSERT ON conversations
WHEN NEW.last_message_at IS NOT NULL
BEGIN
  INSERT INTO conversation_counts ({KEY_SQL}, n) VALUES ({_bucket("NEW", False)}, 1)
  ON CONFLICT ({KEY_SQL}) DO UPDATE SET n = n + 1;
END""",
    "conversation_counts_upd": f"""
CREATE TRIGGER conversation_counts_upd AFTER UPDATE ON conversations
WHEN (OLD.last_message_at IS NULL) IS NOT (NEW.last_message_at IS NULL)
  OR OLD.account_id IS NOT NEW.account_id OR OLD.inbox_number_id IS NOT NEW.inbox_number_id
  OR OLD.clinic_id IS NOT NEW.clinic_id OR OLD.unread IS NOT NEW.unread
  OR (OLD.last_direction = 'in') IS NOT (NEW.last_direction = 'in')
  OR OLD.has_failed IS NOT NEW.has_failed OR OLD.opted_out IS NOT NEW.opted_out
BEGIN
  UPDATE conversation_counts SET n = n - 1
  WHERE OLD.last_message_at IS NOT NULL AND ({KEY_SQL}) = ({_bucket("OLD", False)});
  INSERT INTO conversation_counts ({KEY_SQL}, n)
  SELECT {_bucket("NEW", False)}, 1 WHERE NEW.last_message_at IS NOT NULL
  ON CONFLICT ({KEY_SQL}) DO UPDATE SET n = n + 1;
END""",
    "conversation_counts_del": f"""
CREATE TRIGGER conversation_counts_del AFTER DELETE ON conversations
WHEN OLD.last_message_at IS NOT NULL
BEGIN
  UPDATE conversation_counts SET n = n - 1 WHERE ({KEY_SQL}) = ({_bucket("OLD", False)});
END""",
    "patients_phone_fts_ins": """
CREATE TRIGGER patients_phone_fts_ins AFTER INSERT ON patients BEGIN
  INSERT INTO patients_phone_fts (rowid, phone_digits) VALUES (NEW.id, NEW.phone_digits);
END""",
    "patients_phone_fts_upd": """
CREATE TRIGGER patients_phone_fts_upd AFTER UPDATE OF phone_digits ON patients BEGIN
  INSERT INTO patients_phone_fts (patients_phone_fts, rowid, phone_digits)
  VALUES ('delete', OLD.id, OLD.phone_digits);
  INSERT INTO patients_phone_fts (rowid, phone_digits) VALUES (NEW.id, NEW.phone_digits);
END""",
    "patients_phone_fts_del": """
CREATE TRIGGER patients_phone_fts_del AFTER DELETE ON patients BEGIN
  INSERT INTO patients_phone_fts (patients_phone_fts, rowid, phone_digits)
  VALUES ('delete', OLD.id, OLD.phone_digits);
END""",
}


def create_sqlite_triggers() -> None:
    for name, ddl in SQLITE_TRIGGERS.items():
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(ddl)


def _pg_delta(source: str, sign: int) -> str:
    return (
        f"SELECT {_bucket('r', True)}, {sign} AS d FROM {source} r "
        "WHERE r.last_message_at IS NOT NULL"
    )


def _pg_function(name: str, parts: list[str]) -> str:
    # Deltas grouped per bucket, applied in key order (no deadlock between two writers),
    # buckets whose count does not change are not touched (no lock at all).
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO conversation_counts AS c ({KEY_SQL}, n)
  SELECT {KEY_SQL}, sum(d) FROM (
    SELECT account_id, inbox_number_id, clinic_key, unread, last_in, has_failed, opted_out, d
    FROM ({" UNION ALL ".join(parts)}) AS raw
      (account_id, inbox_number_id, clinic_key, unread, last_in, has_failed, opted_out, d)
  ) AS x
  GROUP BY {KEY_SQL} HAVING sum(d) <> 0 ORDER BY {KEY_SQL}
  ON CONFLICT ({KEY_SQL}) DO UPDATE SET n = c.n + EXCLUDED.n;
  RETURN NULL;
END $$"""


PG_TRIGGERS = {
    "conversation_counts_ins": ("INSERT", "NEW TABLE AS new_rows", [_pg_delta("new_rows", 1)]),
    "conversation_counts_upd": (
        "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        [_pg_delta("old_rows", -1), _pg_delta("new_rows", 1)],
    ),
    "conversation_counts_del": ("DELETE", "OLD TABLE AS old_rows", [_pg_delta("old_rows", -1)]),
}  # fmt: skip


def create_pg_triggers() -> None:
    for name, (event, referencing, parts) in PG_TRIGGERS.items():
        op.execute(_pg_function(name, parts))
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON conversations")
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON conversations REFERENCING {referencing} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )


def _pg_trigram_available() -> bool:
    """CREATE EXTENSION needs a privilege a hosted database may not grant: try it in a
    savepoint and do without the index if it is refused."""
    bind = op.get_bind()
    if bind.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").scalar():
        return True
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        return True
    except sa.exc.DBAPIError:
        return False


def upgrade():
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"

    # --- patients: both name orders as byte-wise prefix keys; phone fragments ---
    with op.batch_alter_table("patients") as batch_op:
        batch_op.add_column(
            sa.Column("name_reversed", sa.String(400), nullable=False, server_default="")
        )
    if pg:
        op.execute("UPDATE patients SET name_reversed = split_part(name_search, '|', 2)")
        op.execute('ALTER TABLE patients ALTER COLUMN name_search TYPE VARCHAR(400) COLLATE "C"')
        op.execute('ALTER TABLE patients ALTER COLUMN name_reversed TYPE VARCHAR(400) COLLATE "C"')
    else:
        op.execute(
            "UPDATE patients SET name_reversed = CASE WHEN instr(name_search, '|') > 0 "
            "THEN substr(name_search, instr(name_search, '|') + 1) ELSE '' END"
        )
    # Name prefixes answered from the index alone: the keys and the id.
    op.drop_index("ix_patients_account_name_search", table_name="patients")
    op.create_index("ix_patients_name_search", "patients", ["account_id", "name_search", "id"])
    op.create_index(
        "ix_patients_name_reversed", "patients", ["account_id", "name_reversed", "id"]
    )
    if pg:
        if _pg_trigram_available():
            op.execute(
                "CREATE INDEX ix_patients_phone_digits_trgm ON patients "
                "USING gin (phone_digits gin_trgm_ops)"
            )
    else:
        op.execute(
            "CREATE VIRTUAL TABLE patients_phone_fts USING fts5(phone_digits, "
            "content='patients', content_rowid='id', tokenize='trigram')"
        )
        op.execute("INSERT INTO patients_phone_fts (patients_phone_fts) VALUES ('rebuild')")

    # A search's conversations, answered from the index alone.
    op.create_index(
        "ix_conversations_patient", "conversations",
        ["account_id", "inbox_number_id", "patient_id", "unread", "last_message_at", "id"],
    )

    # --- conversation_counts ---
    op.create_table(
        "conversation_counts",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("inbox_number_id", sa.Integer(), nullable=False),
        sa.Column("clinic_key", sa.Integer(), nullable=False),
        sa.Column("unread", sa.Boolean(), nullable=False),
        sa.Column("last_in", sa.Boolean(), nullable=False),
        sa.Column("has_failed", sa.Boolean(), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*KEY, name="pk_conversation_counts"),
    )
    op.execute(
        f"INSERT INTO conversation_counts ({KEY_SQL}, n) "
        f"SELECT {_bucket('conversations', pg)}, count(*) FROM conversations "
        "WHERE last_message_at IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7"
    )
    if pg:
        create_pg_triggers()
    else:
        create_sqlite_triggers()


def downgrade():
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    if pg:
        for name in PG_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON conversations")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        op.execute("DROP INDEX IF EXISTS ix_patients_phone_digits_trgm")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS patients_phone_fts")
    op.drop_table("conversation_counts")
    op.drop_index("ix_conversations_patient", table_name="conversations")
    op.drop_index("ix_patients_name_reversed", table_name="patients")
    op.drop_index("ix_patients_name_search", table_name="patients")
    op.create_index("ix_patients_account_name_search", "patients", ["account_id", "name_search"])
    if pg:
        op.execute('ALTER TABLE patients ALTER COLUMN name_search TYPE VARCHAR(400) COLLATE "default"')
    with op.batch_alter_table("patients") as batch_op:
        batch_op.drop_column("name_reversed")
