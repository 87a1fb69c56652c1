"""Appointments and paperwork carry the practice's own id (external_id, unique per practice
when set); patients, appointments and paperwork record when they last changed (updated_at),
so imports and the integration API can upsert them and page through changes

Revision ID: f2b4d6e8a0c1
Revises: e8a0c2d4f6b8
Create Date: 2026-12-03 11:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "f2b4d6e8a0c1"
down_revision = "e8a0c2d4f6b8"
branch_labels = None
depends_on = None

EXTERNAL_IDS = {
    "appointments": "ux_appointments_account_external_id",
    "paperwork_items": "ux_paperwork_account_external_id",
}
UPDATED = {
    "patients": ("ix_patients_account_updated", "created_at"),
    "appointments": ("ix_appointments_account_updated", "created_at"),
    "paperwork_items": (None, "requested_at"),
}


def upgrade():
    # Plain ADD COLUMN (no batch copy): the patients table keeps its FTS triggers.
    for table, index in EXTERNAL_IDS.items():
        op.add_column(table, sa.Column("external_id", sa.String(length=64), nullable=True))
        op.create_index(
            index, table, ["account_id", "external_id"], unique=True,
            sqlite_where=sa.text("external_id IS NOT NULL"),
            postgresql_where=sa.text("external_id IS NOT NULL"),
        )  # fmt: skip
    for table, (index, since) in UPDATED.items():
        op.add_column(table, sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        op.execute(f"UPDATE {table} SET updated_at = {since}")
        if op.get_bind().dialect.name == "postgresql":  # SQLite would copy the table
            op.alter_column(table, "updated_at", nullable=False)
        if index:
            op.create_index(index, table, ["account_id", "updated_at", "id"])


def downgrade():
    for table, (index, _since) in UPDATED.items():
        if index:
            op.drop_index(index, table_name=table)
        op.drop_column(table, "updated_at")
    for table, index in EXTERNAL_IDS.items():
        op.drop_index(index, table_name=table)
        op.drop_column(table, "external_id")
