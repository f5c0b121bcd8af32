"""Jobs: runs the platform executes (the run executor's queue, OGC API - Processes' jobs).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False, index=True),
        sa.Column("process", sa.String(40), nullable=False, index=True),
        sa.Column("process_version", sa.String(128), nullable=False),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("trigger", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("outputs", sa.JSON, nullable=True),
        sa.Column("provenance", sa.JSON, nullable=True),
        sa.Column("executor", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_jobs_status_created", "jobs", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_status_created", "jobs")
    op.drop_table("jobs")
