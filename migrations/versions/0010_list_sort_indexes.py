"""list sort indexes: the runs list sorted by status or by trigger

The runs list is a keyset list read in ``(sort value, id)`` order
(portal.services.list_sorts); sorted by status or trigger it walks these indexes and
stops after a page, instead of sorting every run of the scope.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-18 10:00:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_runs_status_id', 'monitoring_programme_runs', ['status', 'id'],
                    unique=False)
    op.create_index('ix_runs_trigger_id', 'monitoring_programme_runs', ['trigger', 'id'],
                    unique=False)


def downgrade():
    op.drop_index('ix_runs_trigger_id', table_name='monitoring_programme_runs')
    op.drop_index('ix_runs_status_id', table_name='monitoring_programme_runs')
