"""Published twins: ``twin_versions``, one row per uploaded archive (issue 17 section 4).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

TS = sa.DateTime(timezone=True)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "twin_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("twin_name", sa.String(40), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("manifest", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("log", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index(
        "ix_twin_versions_name_number", "twin_versions", ["twin_name", "number"], unique=True
    )
    op.create_index("ix_twin_versions_owner", "twin_versions", ["owner"])


def downgrade() -> None:
    op.drop_table("twin_versions")
