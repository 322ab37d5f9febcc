"""programme licence: the licence a programme's releases are published under

An SPDX id, or a URL and a title (portal.services.licences). Empty means the release
takes the licence its input declares; a publish with neither is refused
(jobs.steps.publish), so no release is ever published under a default licence.
Existing programmes get none: their next publish fails, naming the setting, until a
steward sets one (releases before this revision said CC0-1.0 by default; a replay of
such a run uses that).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 17:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN with a constant default (no batch mode: see 0004).
    op.add_column('monitoring_programmes',
                  sa.Column('licence', sa.String(length=300), nullable=False,
                            server_default=''))


def downgrade():
    # Plain DROP COLUMN (SQLite >= 3.35), never batch mode: see 0004.
    op.drop_column('monitoring_programmes', 'licence')
