"""Users carry a session generation: raising it ends every session issued before

Signed cookies cannot be taken back once copied; each session now records the generation
it was issued under, and a request whose generation is not the user's current one is
signed out (logout, password change, losing access, "Sign out everywhere").

Revision ID: b2c4e6f8a0d1
Revises: a1c3e5f7b9d2
Create Date: 2026-12-03 07:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "b2c4e6f8a0d1"
down_revision = "a1c3e5f7b9d2"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_generation")
