"""Clinics carry an address, a phone and when they were archived

Settings › Clinics: the Main Admin adds and edits clinics; an archived clinic leaves menus
and pickers while its conversations keep its name.

Revision ID: d7f9b1c3e5a7
Revises: c5e7a9b1d3f2
Create Date: 2026-12-03 08:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "d7f9b1c3e5a7"
down_revision = "c5e7a9b1d3f2"
branch_labels = None
depends_on = None


def upgrade():
    # Nullable additions: no table rebuild on SQLite, no rewrite on PostgreSQL.
    op.add_column("clinics", sa.Column("address", sa.String(length=255), nullable=True))
    op.add_column("clinics", sa.Column("phone", sa.String(length=20), nullable=True))
    op.add_column("clinics", sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("clinics") as batch:
        batch.drop_column("archived_at")
        batch.drop_column("phone")
        batch.drop_column("address")
