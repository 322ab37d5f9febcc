"""release review: sign-off gate, release candidates, withdrawals

monitoring_programmes.publish_requires_review / review_allows_self_approval;
release_candidates (one pending per programme, a partial unique index);
release_withdrawals (one per programme and version).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 17:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0006'  # 0007 was never used
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade():
    with op.batch_alter_table('monitoring_programmes') as batch_op:
        batch_op.add_column(sa.Column('publish_requires_review', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('review_allows_self_approval', sa.Boolean(),
                                      nullable=False, server_default=sa.false()))
    op.create_table(
        'release_candidates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('uuid', sa.String(length=36), nullable=False),
        sa.Column('programme_id', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('folder', sa.String(length=64), nullable=False),
        sa.Column('bump', sa.String(length=10), nullable=False),
        sa.Column('version', sa.String(length=20), nullable=True),
        sa.Column('summary_json', sa.JSON(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ['programme_id'], ['monitoring_programmes.id'], ondelete='CASCADE',
            name=op.f('fk_release_candidates_programme_id_monitoring_programmes')),
        sa.ForeignKeyConstraint(
            ['run_id'], ['monitoring_programme_runs.id'], ondelete='SET NULL',
            name=op.f('fk_release_candidates_run_id_monitoring_programme_runs')),
        sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], ondelete='SET NULL',
                                name=op.f('fk_release_candidates_decided_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_release_candidates')),
        sa.UniqueConstraint('uuid', name=op.f('uq_release_candidates_uuid')),
    )
    op.create_index('ix_release_candidates_run_id', 'release_candidates', ['run_id'])
    op.create_index('ix_release_candidates_programme_id_id', 'release_candidates',
                    ['programme_id', 'id'])
    op.create_index('uq_release_candidates_one_pending', 'release_candidates',
                    ['programme_id'], unique=True, sqlite_where=PENDING,
                    postgresql_where=PENDING)
    op.create_table(
        'release_withdrawals',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('programme_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.String(length=20), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('withdrawn_by_id', sa.Integer(), nullable=True),
        sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['programme_id'], ['monitoring_programmes.id'], ondelete='CASCADE',
            name=op.f('fk_release_withdrawals_programme_id_monitoring_programmes')),
        sa.ForeignKeyConstraint(['withdrawn_by_id'], ['users.id'], ondelete='SET NULL',
                                name=op.f('fk_release_withdrawals_withdrawn_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_release_withdrawals')),
        sa.UniqueConstraint('programme_id', 'version',
                            name=op.f('uq_release_withdrawals_programme_id_version')),
    )
    op.create_index('ix_release_withdrawals_programme_id', 'release_withdrawals',
                    ['programme_id'])


def downgrade():
    op.drop_index('ix_release_withdrawals_programme_id', table_name='release_withdrawals')
    op.drop_table('release_withdrawals')
    op.drop_index('uq_release_candidates_one_pending', table_name='release_candidates')
    op.drop_index('ix_release_candidates_programme_id_id', table_name='release_candidates')
    op.drop_index('ix_release_candidates_run_id', table_name='release_candidates')
    op.drop_table('release_candidates')
    with op.batch_alter_table('monitoring_programmes') as batch_op:
        batch_op.drop_column('review_allows_self_approval')
        batch_op.drop_column('publish_requires_review')
