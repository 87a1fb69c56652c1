"""API keys for the integration API (hashed secrets, scopes, last use, revocation), the
answers to sends made with an Idempotency-Key, and the key as an actor in the audit log

Revision ID: a4b6c8d0e2f4
Revises: b5c7d9e1f3a5
Create Date: 2026-12-03 11:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "a4b6c8d0e2f4"
down_revision = "b5c7d9e1f3a5"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=40), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_api_keys_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"], ["users.id"],
            name=op.f("fk_api_keys_created_by_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
    )  # fmt: skip
    op.create_index("ix_api_keys_account", "api_keys", ["account_id", "id"])
    op.create_index("ux_api_keys_secret_hash", "api_keys", ["secret_hash"], unique=True)
    op.create_table(
        "api_idempotent_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"],
            name=op.f("fk_api_idempotent_requests_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"],
            name=op.f("fk_api_idempotent_requests_api_key_id_api_keys"),
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"],
            name=op.f("fk_api_idempotent_requests_message_id_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_idempotent_requests")),
    )  # fmt: skip
    op.create_index(
        "ux_api_idempotent_requests_key", "api_idempotent_requests",
        ["account_id", "idempotency_key"], unique=True,
    )  # fmt: skip
    # Plain ADD COLUMN (no batch copy of the append-only log). SQLite cannot add a foreign
    # key to an existing table; the model declares it and PostgreSQL enforces it.
    op.add_column("audit_events", sa.Column("api_key_id", sa.Integer(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key(
            op.f("fk_audit_events_api_key_id_api_keys"), "audit_events", "api_keys",
            ["api_key_id"], ["id"],
        )  # fmt: skip


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(
            op.f("fk_audit_events_api_key_id_api_keys"), "audit_events", type_="foreignkey"
        )
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("api_key_id")
    op.drop_index("ux_api_idempotent_requests_key", table_name="api_idempotent_requests")
    op.drop_table("api_idempotent_requests")
    op.drop_index("ux_api_keys_secret_hash", table_name="api_keys")
    op.drop_index("ix_api_keys_account", table_name="api_keys")
    op.drop_table("api_keys")
