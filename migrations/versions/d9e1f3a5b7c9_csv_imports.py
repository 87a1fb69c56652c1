"""CSV imports hold appointments as well as patients: patient_imports becomes csv_imports,
with the kind of rows and, for appointments, whether those starting within a day are
reminded at once

Revision ID: d9e1f3a5b7c9
Revises: f2b4d6e8a0c1
Create Date: 2026-12-03 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "d9e1f3a5b7c9"
down_revision = "f2b4d6e8a0c1"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_patient_imports_account", table_name="patient_imports")
    op.rename_table("patient_imports", "csv_imports")
    op.add_column(
        "csv_imports",
        sa.Column("kind", sa.String(length=20), nullable=False, server_default="patients"),
    )
    op.add_column(
        "csv_imports",
        sa.Column("remind_soon", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_csv_imports_account", "csv_imports", ["account_id", "id"])


def downgrade():
    op.drop_index("ix_csv_imports_account", table_name="csv_imports")
    op.drop_column("csv_imports", "remind_soon")
    op.drop_column("csv_imports", "kind")
    op.rename_table("csv_imports", "patient_imports")
    op.create_index("ix_patient_imports_account", "patient_imports", ["account_id", "id"])
