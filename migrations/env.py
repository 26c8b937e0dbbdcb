"""Alembic environment, run by Flask-Migrate inside the app context.

It uses the app's own engine (``db.engine``; the generated template's ``db.get_engine()`` is
deprecated) and the models' metadata, and renders SQLite migrations in batch mode.
"""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

config = context.config
if config.config_file_name and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

migrate_extension = current_app.extensions["migrate"]
db = migrate_extension.db
target_metadata = db.metadata


def include_object(obj, name, type_, reflected, compare_to):
    """Alembic's own version table is not part of the models, and an index the models declare
    for one database only (``info={"only_on": ...}``, e.g. trigram indexes) is not expected on
    the others."""
    if type_ == "table" and name == "alembic_version":
        return False
    only_on = obj.info.get("only_on") if type_ == "index" and not reflected else None
    return only_on is None or only_on == db.engine.dialect.name


def run_migrations_offline() -> None:
    context.configure(
        url=db.engine.url.render_as_string(hide_password=False),
        target_metadata=target_metadata,
        literal_binds=True,
        include_object=include_object,
        **migrate_extension.configure_args,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    def skip_empty_autogenerate(context_, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")

    configure_args = dict(migrate_extension.configure_args)
    configure_args.setdefault("process_revision_directives", skip_empty_autogenerate)
    with db.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            include_object=include_object,
            **configure_args,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
