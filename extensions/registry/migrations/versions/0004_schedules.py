"""Schedules, the jobs they submitted, owners' notifications, catalog checksums seen.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False, index=True),
        sa.Column("process", sa.String(40), nullable=False),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("cron", sa.String(120), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("missed", sa.String(8), nullable=False),
        sa.Column("on_data_change", sa.Boolean, nullable=False),
        sa.Column("condition", sa.JSON, nullable=True),
        sa.Column("webhook", sa.String(2000), nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("next_run_at", TS, nullable=False, index=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "schedule_runs",
        sa.Column("job_id", sa.String(32), primary_key=True),
        sa.Column(
            "schedule_id",
            sa.String(32),
            sa.ForeignKey("schedules.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("input_checksums", sa.JSON, nullable=False),
        sa.Column("checked", sa.Boolean, nullable=False, index=True),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False, index=True),
        sa.Column("schedule_id", sa.String(32), nullable=True),
        sa.Column("job_id", sa.String(32), nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("webhook_status", sa.String(200), nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "catalog_checksums",
        sa.Column("entry", sa.String(100), primary_key=True),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("checked_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("catalog_checksums", "notifications", "schedule_runs", "schedules"):
        op.drop_table(table)
