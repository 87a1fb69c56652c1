"""Patients' name search keys fold apostrophes: "obrien" finds Priya O'Brien

search_text.fold() now drops apostrophes (', ’, ʼ, `, ´) from names and from what is
typed. The keys stored before keep theirs; this folds them the same way, so a search
with or without the apostrophe finds the name either way.

Revision ID: a1c3e5f7b9d2
Revises: f1b3d5e7a9c2
Create Date: 2026-12-02 07:05:00
"""

from alembic import op

revision = "a1c3e5f7b9d2"
down_revision = "f1b3d5e7a9c2"
branch_labels = None
depends_on = None

APOSTROPHES = ("'", "\u2019", "\u02bc", "`", "\u00b4")


def _folded(column: str) -> str:
    expr = column
    for mark in APOSTROPHES:
        quoted = mark.replace("'", "''")
        expr = f"replace({expr}, '{quoted}', '')"
    return expr


def upgrade():
    where = " OR ".join(
        f"name_search LIKE '%{mark.replace(chr(39), chr(39) * 2)}%'" for mark in APOSTROPHES
    )
    op.execute(
        f"UPDATE patients SET name_search = {_folded('name_search')}, "
        f"name_reversed = {_folded('name_reversed')} WHERE {where}"
    )


def downgrade():
    pass  # the folded keys find everything the old ones did
