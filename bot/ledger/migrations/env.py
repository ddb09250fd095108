"""Alembic environment: runs against the connection ``bot.ledger.db.migrate`` hands over.

When Alembic's own commands are used (``alembic_config(url)``), it connects to that URL.
"""

from __future__ import annotations

from alembic import context

from bot.ledger.db import make_engine
from bot.ledger.schema import TABLE_NAMES, Money, UTCDateTime, metadata

config = context.config


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Only the ledger's tables: other SQLModel tables are not this history's business."""
    return type_ != "table" or name in TABLE_NAMES


def render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Autogenerate writes plain SQLAlchemy types, so revisions never import the models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, Money):
        return "sa.Numeric(18, 8)"
    return False


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=metadata,
        include_name=include_name,
        render_item=render_item,
        compare_type=True,
        render_as_batch=True,  # SQLite can only ALTER through table copies
        **kwargs,
    )


def run_offline() -> None:
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: pass a connection or set sqlalchemy.url")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            _configure(connection=connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
