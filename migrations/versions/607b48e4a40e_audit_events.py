"""audit_events: the append-only audit log

Revision ID: 607b48e4a40e
Revises: 0f54ef250ff5
Create Date: 2026-11-27 07:55:00.000000

Hand-written. Batch mode for the indexes so it reads the same on SQLite and PostgreSQL.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '607b48e4a40e'
down_revision = '0f54ef250ff5'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'audit_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('action', sa.String(length=40), nullable=False),
        sa.Column('object_type', sa.String(length=40), nullable=True),
        sa.Column('object_id', sa.Integer(), nullable=True),
        sa.Column('summary', sa.String(length=255), nullable=False),
        sa.Column('ip', sa.String(length=45), nullable=True),
        sa.Column('user_agent', sa.String(length=120), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['account_id'], ['accounts.id'], name=op.f('fk_audit_events_account_id_accounts')
        ),
        sa.ForeignKeyConstraint(
            ['user_id'], ['users.id'], name=op.f('fk_audit_events_user_id_users')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_account', ['account_id', 'id'], unique=False)
        batch_op.create_index(
            'ix_audit_events_account_user', ['account_id', 'user_id', 'id'], unique=False
        )
        batch_op.create_index(
            'ix_audit_events_account_action', ['account_id', 'action', 'id'], unique=False
        )
        batch_op.create_index(
            'ix_audit_events_account_created', ['account_id', 'created_at'], unique=False
        )


def downgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_account_created')
        batch_op.drop_index('ix_audit_events_account_action')
        batch_op.drop_index('ix_audit_events_account_user')
        batch_op.drop_index('ix_audit_events_account')
    op.drop_table('audit_events')
