"""Patients carry the practice's own id (external_id, unique per practice when set), and
CSV imports are rows: the file, the columns chosen, progress and counts

Revision ID: e8a0c2d4f6b8
Revises: d7f9b1c3e5a7
Create Date: 2026-12-03 08:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "e8a0c2d4f6b8"
down_revision = "d7f9b1c3e5a7"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("external_id", sa.String(length=64), nullable=True))
    op.create_index(
        "ux_patients_account_external_id", "patients", ["account_id", "external_id"],
        unique=True, sqlite_where=sa.text("external_id IS NOT NULL"),
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )  # fmt: skip
    op.create_table(
        "patient_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("mapping", sa.Text(), nullable=False),
        sa.Column("default_clinic_id", sa.Integer(), sa.ForeignKey("clinics.id"), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("processed_rows", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("skipped_csv", sa.Text(), nullable=False),
        sa.Column("error", sa.String(length=255), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=120), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_patient_imports_account", "patient_imports", ["account_id", "id"])


def downgrade():
    op.drop_index("ix_patient_imports_account", table_name="patient_imports")
    op.drop_table("patient_imports")
    op.drop_index("ux_patients_account_external_id", table_name="patients")
    # A plain DROP COLUMN (SQLite 3.35+): batch mode would copy the table and lose the
    # phone-search FTS triggers that live on it.
    op.drop_column("patients", "external_id")
