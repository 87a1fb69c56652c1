"""list indexes carry patient_id: a broad search's page from the list index alone

A search matching hundreds of patients reads the list index newest first and tests each
entry's patient against the matched set (conversations.list_page). With patient_id in
the entry, that walk reads no table rows.

Revision ID: e7a9c1b3d5f6
Revises: d4e6a8b0c2f5
Create Date: 2026-12-01 12:20:00
"""

from alembic import op

revision = "e7a9c1b3d5f6"
down_revision = "d4e6a8b0c2f5"
branch_labels = None
depends_on = None

LIST = ["account_id", "inbox_number_id", "unread", "last_message_at", "id"]
CLINIC_LIST = ["account_id", "inbox_number_id", "clinic_id", "unread", "last_message_at", "id"]


def _replace(name: str, columns: list[str]) -> None:
    op.drop_index(name, table_name="conversations")
    op.create_index(name, "conversations", columns, unique=False)


def upgrade():
    _replace("ix_conversations_list", [*LIST, "patient_id"])
    _replace("ix_conversations_clinic_list", [*CLINIC_LIST, "patient_id"])


def downgrade():
    _replace("ix_conversations_list", LIST)
    _replace("ix_conversations_clinic_list", CLINIC_LIST)
