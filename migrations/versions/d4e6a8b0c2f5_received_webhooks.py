"""received webhooks: held for the one-at-a-time handlers, or when a stored group failed

Revision ID: d4e6a8b0c2f5
Revises: c3f1a9d2e7b4
Create Date: 2026-11-27 17:40:00
"""

import sqlalchemy as sa
from alembic import op


revision = "d4e6a8b0c2f5"
down_revision = "c3f1a9d2e7b4"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "received_webhooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("dedupe_key", sa.String(length=80), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_received_webhooks")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_received_webhooks_dedupe_key")),
    )
    op.create_index(
        "ix_received_webhooks_pending",
        "received_webhooks",
        ["id"],
        unique=False,
        postgresql_where=sa.text("processed_at IS NULL"),
        sqlite_where=sa.text("processed_at IS NULL"),
    )


def downgrade():
    op.drop_index("ix_received_webhooks_pending", table_name="received_webhooks")
    op.drop_table("received_webhooks")
