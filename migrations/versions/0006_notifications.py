"""notifications: subscriptions, the event outbox, deliveries, webhooks, expected deliveries

Events are written to notification_events in the transaction that causes them; workers
fan them out to notification_deliveries (the delivery log) and send them by e-mail or
signed webhook. expected_deliveries declares when a programme's inbox expects data.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 17:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'notification_subscriptions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('programme_id', sa.Integer(), nullable=True),
        sa.Column('events_json', sa.JSON(), nullable=False),
        sa.Column('mode', sa.String(length=20), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['programme_id'], ['monitoring_programmes.id'],
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('user_id', 'programme_id'),
    )
    op.create_index('ix_notification_subscriptions_user_id', 'notification_subscriptions',
                    ['user_id'])
    op.create_index('ix_notification_subscriptions_programme_id', 'notification_subscriptions',
                    ['programme_id'])
    op.create_table(
        'notification_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('uuid', sa.String(length=36), nullable=False),
        sa.Column('event_type', sa.String(length=40), nullable=False),
        sa.Column('programme_id', sa.Integer(), nullable=False),
        sa.Column('dedup_key', sa.String(length=120), nullable=True),
        sa.Column('payload_json', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('fanned_out_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['programme_id'], ['monitoring_programmes.id'],
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('uuid'),
        sa.UniqueConstraint('dedup_key'),
    )
    op.create_index('ix_notification_events_programme_id', 'notification_events',
                    ['programme_id'])
    op.create_index('ix_notification_events_fanned', 'notification_events',
                    ['fanned_out_at', 'id'])
    op.create_table(
        'programme_webhooks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('programme_id', sa.Integer(), nullable=False),
        sa.Column('url', sa.String(length=500), nullable=False),
        sa.Column('secret', sa.String(length=100), nullable=False),
        sa.Column('events_json', sa.JSON(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['programme_id'], ['monitoring_programmes.id'],
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_programme_webhooks_programme_id', 'programme_webhooks',
                    ['programme_id'])
    op.create_table(
        'notification_deliveries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('webhook_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('response_status', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['event_id'], ['notification_events.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['webhook_id'], ['programme_webhooks.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_notification_deliveries_event_id', 'notification_deliveries',
                    ['event_id'])
    op.create_index('ix_notification_deliveries_user_id', 'notification_deliveries',
                    ['user_id'])
    op.create_index('ix_notification_deliveries_webhook_id', 'notification_deliveries',
                    ['webhook_id'])
    op.create_index('ix_notification_deliveries_due', 'notification_deliveries',
                    ['status', 'next_attempt_at'])
    op.create_table(
        'expected_deliveries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('programme_id', sa.Integer(), nullable=False),
        sa.Column('cadence', sa.String(length=20), nullable=False),
        sa.Column('due_day', sa.Integer(), nullable=False),
        sa.Column('grace_days', sa.Integer(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('late_deadline_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['programme_id'], ['monitoring_programmes.id'],
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('programme_id'),
    )


def downgrade():
    op.drop_table('expected_deliveries')
    op.drop_table('notification_deliveries')
    op.drop_table('programme_webhooks')
    op.drop_table('notification_events')
    op.drop_table('notification_subscriptions')
