"""The migrations build the schema the models describe: every index a model declares is in
the migrated database, on the same columns (queries are written against the models'
indexes; a migration that forgot one would only show as a slow page)."""

from sqlalchemy import inspect

from inbox.extensions import db

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
