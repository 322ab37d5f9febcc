"""input sightings: the first time a programme saw some bytes, from any source

Expected-delivery tracking counts a delivery when a programme first sees a sha256,
whether it was uploaded, dropped into the inbox folder, fetched over HTTP or read from
a shared folder. programme_input_sightings holds those first sightings (filled from
uploads and from finished runs' lineage); scan_cursors records how far the
notification pass has read finished runs (in ix_runs_finished_at_id order). Existing
uploads are copied in, each sha256 at its first upload.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-19 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    sightings = op.create_table(
        'programme_input_sightings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('programme_id', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('source', sa.String(length=20), nullable=False),
        sa.Column('uri', sa.String(length=500), nullable=True),
        sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['programme_id'], ['monitoring_programmes.id'],
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['run_id'], ['monitoring_programme_runs.id'],
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('programme_id', 'sha256', name='uq_input_sightings_programme_sha'),
    )
    op.create_index('ix_input_sightings_programme_seen', 'programme_input_sightings',
                    ['programme_id', 'first_seen_at'])
    op.create_index('ix_programme_input_sightings_run_id', 'programme_input_sightings',
                    ['run_id'])
    op.create_table(
        'scan_cursors',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('position_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('position_id', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.create_index('ix_runs_finished_at_id', 'monitoring_programme_runs',
                    ['finished_at', 'id'])

    uploads = sa.table('programme_uploads', sa.column('programme_id', sa.Integer()),
                       sa.column('sha256', sa.String()), sa.column('stored_path', sa.String()),
                       sa.column('uploaded_at', sa.DateTime(timezone=True)))
    first = (sa.select(uploads.c.programme_id, uploads.c.sha256,
                       sa.func.min(uploads.c.stored_path), sa.func.min(uploads.c.uploaded_at))
             .group_by(uploads.c.programme_id, uploads.c.sha256))
    rows = [{'programme_id': programme_id, 'sha256': sha256, 'source': 'upload',
             # stored under DATA_ROOT as <CODE>/inbox/<name>; lineage URIs are relative
             # to the programme's folder, so the code is dropped
             'uri': path.split('/', 1)[-1][:500], 'first_seen_at': seen}
            for programme_id, sha256, path, seen in op.get_bind().execute(first)]
    if rows:
        op.bulk_insert(sightings, rows)


def downgrade():
    op.drop_index('ix_runs_finished_at_id', table_name='monitoring_programme_runs')
    op.drop_table('scan_cursors')
    op.drop_index('ix_programme_input_sightings_run_id', table_name='programme_input_sightings')
    op.drop_index('ix_input_sightings_programme_seen', table_name='programme_input_sightings')
    op.drop_table('programme_input_sightings')
