"""The messages' keyset index is named for what it serves: a conversation's texts

One word for one thing: the record is a conversation everywhere (code, templates, URLs),
so its messages' index (conversation_id, sent_at, id) is ix_messages_conversation, not
ix_messages_thread. PostgreSQL renames it in place; SQLite, which cannot rename an index,
builds it again under the new name.

Revision ID: a6c8e0f2b4d7
Revises: a4b6c8d0e2f4
Create Date: 2026-12-04 16:40:00
"""

from alembic import op

revision = "a6c8e0f2b4d7"
down_revision = "a4b6c8d0e2f4"
branch_labels = None
depends_on = None

COLUMNS = ["conversation_id", "sent_at", "id"]


def _rename(old: str, new: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER INDEX {old} RENAME TO {new}")
    else:
        op.drop_index(old, table_name="messages")
        op.create_index(new, "messages", COLUMNS)


def upgrade():
    _rename("ix_messages_thread", "ix_messages_conversation")


def downgrade():
    _rename("ix_messages_conversation", "ix_messages_thread")
