"""programme summary: latest run and open-alert count on the programme row; page indexes

The programme list read the latest run and the open-alert count of every programme
by grouping all runs and alerts per request; they now live on the programme row,
kept by the run state machine and the alert service (portal.services.programme_summary),
and are backfilled here. Three indexes serve the pages: a programme's runs by id, the
alert inbox's order, and a user's active steward roles (list scoping).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0002'  # 0003 was never used
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN with constant defaults, never batch mode: on SQLite a batch
    # "move and copy" drops the old table, and with foreign keys on that cascades to
    # every run, alert and steward of every programme.
    op.add_column('monitoring_programmes', sa.Column('latest_run_id', sa.Integer(), nullable=True))
    op.add_column('monitoring_programmes',
                  sa.Column('latest_run_uuid', sa.String(length=36), nullable=True))
    op.add_column('monitoring_programmes',
                  sa.Column('latest_run_status', sa.String(length=20), nullable=True))
    op.add_column('monitoring_programmes',
                  sa.Column('latest_run_dry_run', sa.Boolean(), nullable=False,
                            server_default=sa.false()))
    op.add_column('monitoring_programmes',
                  sa.Column('open_alert_count', sa.Integer(), nullable=False,
                            server_default='0'))

    op.create_index('ix_runs_programme_id_id', 'monitoring_programme_runs',
                    ['programme_id', 'id'], unique=False)
    op.create_index('ix_alerts_last_seen_id', 'monitoring_programme_alerts',
                    ['last_seen_at', 'id'], unique=False)
    op.create_index('ix_stewards_user_active_role', 'monitoring_programme_stewards',
                    ['user_id', 'is_active', 'role', 'programme_id'], unique=False)

    _backfill(op.get_bind())


def _backfill(conn):
    """One UPDATE with correlated sub-queries (the indexes above make each a range)."""
    programmes = sa.table(
        'monitoring_programmes', sa.column('id', sa.Integer),
        sa.column('latest_run_id', sa.Integer), sa.column('latest_run_uuid', sa.String),
        sa.column('latest_run_status', sa.String), sa.column('latest_run_dry_run', sa.Boolean),
        sa.column('open_alert_count', sa.Integer))
    runs = sa.table(
        'monitoring_programme_runs', sa.column('id', sa.Integer),
        sa.column('programme_id', sa.Integer), sa.column('uuid', sa.String),
        sa.column('status', sa.String), sa.column('dry_run', sa.Boolean))
    alerts = sa.table(
        'monitoring_programme_alerts', sa.column('programme_id', sa.Integer),
        sa.column('state', sa.String))

    def latest(column):
        return (sa.select(column).where(runs.c.programme_id == programmes.c.id)
                .order_by(runs.c.id.desc()).limit(1).scalar_subquery())

    open_count = (sa.select(sa.func.count()).select_from(alerts)
                  .where(alerts.c.programme_id == programmes.c.id,
                         alerts.c.state.in_(['open', 'acknowledged']))
                  .scalar_subquery())
    conn.execute(programmes.update().values(
        latest_run_id=latest(runs.c.id), latest_run_uuid=latest(runs.c.uuid),
        latest_run_status=latest(runs.c.status),
        latest_run_dry_run=sa.func.coalesce(latest(runs.c.dry_run), sa.false()),
        open_alert_count=open_count))


def downgrade():
    op.drop_index('ix_stewards_user_active_role', table_name='monitoring_programme_stewards')
    op.drop_index('ix_alerts_last_seen_id', table_name='monitoring_programme_alerts')
    op.drop_index('ix_runs_programme_id_id', table_name='monitoring_programme_runs')
    # Plain DROP COLUMN (SQLite >= 3.35), for the same reason as above.
    for column in ('open_alert_count', 'latest_run_dry_run', 'latest_run_status',
                   'latest_run_uuid', 'latest_run_id'):
        op.drop_column('monitoring_programmes', column)
