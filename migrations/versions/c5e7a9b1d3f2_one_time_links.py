"""One-time links: set a password (invitation, first run) and reset a forgotten one

One table for every purpose; the token is stored as its SHA-256 only.

Revision ID: c5e7a9b1d3f2
Revises: b2c4e6f8a0d1
Create Date: 2026-12-03 07:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "c5e7a9b1d3f2"
down_revision = "b2c4e6f8a0d1"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "one_time_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_one_time_links_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_one_time_links_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_one_time_links"),
        sa.UniqueConstraint("token_hash", name="uq_one_time_links_token_hash"),
    )
    op.create_index(
        "ix_one_time_links_user_purpose", "one_time_links", ["user_id", "purpose", "id"]
    )


def downgrade():
    op.drop_index("ix_one_time_links_user_purpose", table_name="one_time_links")
    op.drop_table("one_time_links")
