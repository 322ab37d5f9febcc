"""user time zone: the zone a user reads times in

users.time_zone (nullable IANA name; NULL follows the default rule: a programme's
zone on its pages, UTC for the portal's own records).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('time_zone')
