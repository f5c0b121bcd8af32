"""Runs keep why they failed: ``runs.error`` (null unless the status is 'failed').

A run the Dask cluster broke (scheduler lost, workers dying) is recorded as failed with the
message its user saw, so the API shows why without opening the provenance.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("error", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("error")
