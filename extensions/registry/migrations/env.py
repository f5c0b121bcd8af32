"""Alembic environment: run on the connection the registry hands over (see ``db.upgrade``)."""

from alembic import context
from sqlalchemy import create_engine
from twinhub.extensions.registry.db import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    # `alembic -x url=... revision --autogenerate` by a developer
    url = context.get_x_argument(as_dictionary=True).get("url", "sqlite:///registry.sqlite")
    connection = create_engine(url).connect()
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite needs batch mode to alter tables
)
with context.begin_transaction():
    context.run_migrations()
