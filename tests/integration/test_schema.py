"""The migrations build the schema the models describe: every index a model declares is in
the migrated database, on the same columns (queries are written against the models'
indexes; a migration that forgot one would only show as a slow page)."""

import importlib.util
from pathlib import Path

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import inspect, select, text

from inbox.extensions import db
from inbox.models import Patient

# Declared with ddl_if(dialect="postgresql"): SQLite keeps an FTS5 table instead.
POSTGRESQL_ONLY = {"ix_patients_phone_digits_trgm"}


def test_every_model_index_is_migrated_with_its_columns(app):
    with app.app_context():
        found = inspect(db.engine)
        missing = []
        for table in db.metadata.sorted_tables:
            migrated = {i["name"]: i["column_names"] for i in found.get_indexes(table.name)}
            for index in table.indexes:
                if index.name in POSTGRESQL_ONLY and db.engine.dialect.name != "postgresql":
                    continue
                columns = [c.name for c in index.columns]
                if migrated.get(index.name) != columns:
                    missing.append((table.name, index.name, columns, migrated.get(index.name)))
        assert not missing, missing


def test_postgresql_is_told_its_pages_are_in_memory_and_vacuums_conversations_often(app):
    """Index-only reads of conversations stay index-only on a busy day (the table is
    vacuumed after every 200 changed rows), and where they cannot, the planner still
    prefers the index to a sequential scan (bench/RESULTS.md)."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL settings")
        assert db.session.execute(text("SHOW random_page_cost")).scalar() == "1.1"
        assert db.session.execute(text("SHOW max_parallel_workers_per_gather")).scalar() == "0"
        options = db.session.execute(
            text("SELECT reloptions FROM pg_class WHERE relname = 'conversations'")
        ).scalar()
        assert set(options) >= {
            "autovacuum_vacuum_scale_factor=0",
            "autovacuum_vacuum_threshold=200",
        }


def test_stored_name_keys_are_folded_like_a_search(app, demo):
    """Keys stored before apostrophes were folded ("priya o'brien") are folded by the
    migration, so "obrien" finds them as it finds a patient added since."""
    path = next(Path("migrations/versions").glob("a1c3e5f7b9d2_*.py"))
    spec = importlib.util.spec_from_file_location("fold_migration", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with app.app_context():
        patient = db.session.scalars(select(Patient).where(Patient.last_name == "O'Brien")).first()
        assert "obrien|obrien" in patient.name_search  # added since: folded already
        db.session.execute(
            text("UPDATE patients SET name_search = :s, name_reversed = :r WHERE id = :id"),
            {"s": "priya o’brien|o'brien priya", "r": "o'brien priya", "id": patient.id},
        )
        with Operations.context(MigrationContext.configure(db.session.connection())):
            migration.upgrade()
        db.session.commit()
        db.session.refresh(patient)
        assert (patient.name_search, patient.name_reversed) == (
            "priya obrien|obrien priya",
            "obrien priya",
        )
