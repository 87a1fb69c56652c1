"""PostgreSQL vacuums conversations after every 200 changed rows, not 20% of the table

The list, its keyset pages, searches and counts read conversations from indexes alone
(index-only scans). That holds only for table pages the visibility map marks all-visible,
and every text changes a conversation row (its list columns). With the default threshold
(50 rows + 20% of the table: 40,000 changes at 200,000 conversations) a busy day left
most pages unmarked: after 2,062 changed rows, 695 of 3,074 pages were still marked, a
broad search's page took 12.8 ms instead of 2.5 and its count 22 ms instead of 17.
Vacuuming a table whose pages are nearly all marked costs milliseconds.

Revision ID: f1b3d5e7a9c2
Revises: e7a9c1b3d5f6
Create Date: 2026-12-01 12:50:00
"""

from alembic import op

revision = "f1b3d5e7a9c2"
down_revision = "e7a9c1b3d5f6"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE conversations SET (autovacuum_vacuum_scale_factor = 0, "
            "autovacuum_vacuum_threshold = 200)"
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE conversations RESET (autovacuum_vacuum_scale_factor, "
            "autovacuum_vacuum_threshold)"
        )
