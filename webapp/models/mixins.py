"""Reusable column sets: each mixin is one behaviour, declared once and shared by the models."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    event,
    func,
    inspect,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, Session, UOWTransaction, declared_attr, mapped_column, relationship
from sqlalchemy.sql import FromClause
from sqlalchemy.sql.elements import ColumnElement

from webapp.database import utcnow

if TYPE_CHECKING:
    from webapp.models.tags import Tag


class TimestampMixin:
    """``created_at`` set by the database on insert; ``updated_at`` moved on every update.

    Both are timezone-aware UTC. Set-based ``UPDATE`` statements built with ``update()`` also move
    ``updated_at`` because the Python-side ``onupdate`` applies to Core statements too.
    """

    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        server_default=func.now(), default=utcnow, onupdate=utcnow, nullable=False
    )


class SoftDeleteMixin:
    """Rows are hidden, not removed: ``deleted_at`` is null while the row is live.

    ``deletion_batch`` groups the rows deleted by one operator action (a user and the tasks and
    posts that cascaded with it), so a restore brings back exactly that set and not rows that had
    been deleted on their own before.
    """

    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    deletion_batch: Mapped[str | None] = mapped_column(String(36), default=None)

    @declared_attr
    def deleted_by_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("operators.id", ondelete="SET NULL"), default=None)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @classmethod
    def live(cls) -> ColumnElement[bool]:
        """Criterion for rows that are not deleted: ``select(Task).where(Task.live())``."""
        return cls.deleted_at.is_(None)

    @classmethod
    def trashed(cls) -> ColumnElement[bool]:
        return cls.deleted_at.is_not(None)


def live_rows_index(name: str, *columns: str, **kwargs: Any) -> Index:
    """A partial index over live rows only, which is what every normal list reads.

    PostgreSQL and SQLite both support partial indexes; the condition is written once here.
    """
    condition = text("deleted_at IS NULL")
    return Index(name, *columns, postgresql_where=condition, sqlite_where=condition, **kwargs)


def trash_index(name: str) -> Index:
    """A small partial index that serves the Trash view (deleted rows, newest deletion first)."""
    condition = text("deleted_at IS NOT NULL")
    return Index(name, "deleted_at", postgresql_where=condition, sqlite_where=condition)


def trigram_index(name: str, column: str, *, live_only: bool = True) -> Index:
    """A GIN trigram index that lets ``ILIKE '%term%'`` (admin search, pickers) use an index.

    PostgreSQL only (``pg_trgm``, created by a migration): ``ddl_if`` keeps SQLite's
    ``create_all`` from building a useless b-tree in its place, and ``info`` tells Alembic's
    autogenerate to skip it on other databases. ``live_only`` matches lists that read live rows;
    pickers that search every row need ``live_only=False``.
    """
    options: dict[str, Any] = {
        "postgresql_using": "gin",
        "postgresql_ops": {column: "gin_trgm_ops"},
        "info": {"only_on": "postgresql"},
    }
    if live_only:
        options["postgresql_where"] = text("deleted_at IS NULL")
    return Index(name, column, **options).ddl_if(dialect="postgresql")


def prefix_index(name: str, column: str) -> Index:
    """A b-tree over the column's lower case in character order, which serves
    ``lower(column) LIKE 'ab%'``: a picker's one or two typed letters, which the trigram index
    finds at the start of every word and then rechecks row by row (every "… Hopper" of a million
    users for "ho"). PostgreSQL only, as the trigram indexes; ``text_pattern_ops`` because a
    b-tree in the database's collation serves no ``LIKE`` outside the C locale."""
    lowered = func.lower(literal_column(column)).label(f"{column}_lower")
    options: dict[str, Any] = {"postgresql_ops": {lowered.name: "text_pattern_ops"}, "info": {"only_on": "postgresql"}}
    return Index(name, lowered, **options).ddl_if(dialect="postgresql")


class TaggableMixin:
    """A many-to-many ``tags`` relationship through the model's own association table.

    ``tasks`` get ``task_tags``, ``posts`` get ``post_tags``: (<model>_id, tag_id) primary key,
    both foreign keys cascading on delete, and an index on ``tag_id`` for "filter by tag".

    ``tags`` holds live tags only: a tag in the trash is hidden from its records (badges, forms,
    details, exports, audit labels) while its links stay, so restoring it brings them back, and a
    form saved meanwhile neither shows nor drops them.
    """

    if TYPE_CHECKING:
        # Set by the model (its table's name) and its declarative base, as DeclarativeBase declares them.
        __tablename__: str
        metadata: ClassVar[MetaData]

    @declared_attr
    def tags(cls) -> Mapped[list[Tag]]:
        secondary = _tag_link_table(cls.__tablename__, cls.metadata)
        return relationship(
            "Tag",
            secondary=secondary,
            # A string, resolved by the registry once Tag exists (this module cannot import it).
            secondaryjoin=f"and_(Tag.id == {secondary.name}.c.tag_id, Tag.deleted_at.is_(None))",
            order_by="Tag.name",
            lazy="select",
        )

    @classmethod
    def tag_link_table(cls) -> Table:
        """The association table, for set-based SQL (bulk tag/untag, counts per tag)."""
        return cls.tags.property.secondary

    @classmethod
    def tag_link_column(cls) -> Column[int]:
        """The association table's column that points at this model."""
        return cls.tag_link_table().c[f"{_singular(cls.__tablename__)}_id"]


def _singular(table_name: str) -> str:
    return table_name.removesuffix("s")


def _tag_link_table(owner_table: str, metadata: MetaData) -> Table:
    owner_column = f"{_singular(owner_table)}_id"
    name = f"{_singular(owner_table)}_tags"
    if name in metadata.tables:
        return metadata.tables[name]
    return Table(
        name,
        metadata,
        Column(
            owner_column,
            Integer,
            ForeignKey(f"{owner_table}.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        Column("tag_id", Integer, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
        Index(f"ix_{name}_tag_id", "tag_id"),
    )


# A versioned table's heap pages are filled to 90 % only. A set-based version bump (a bulk tag or
# untag of 100,000 rows) then writes each row's new version on its own page, where it needs no new
# entry in any of the table's indexes (a "heap-only tuple" update): on full pages it wrote one in
# each of them, the trigram indexes included, and took four times as long. PostgreSQL's option;
# other databases ignore it.
VERSIONED_TABLE_OPTIONS: dict[str, Any] = {"postgresql_with": {"fillfactor": 90}}


class VersionMixin:
    """Optimistic locking: SQLAlchemy adds ``WHERE version = <loaded>`` to every ORM update and
    bumps the number, so a stale writer gets ``StaleDataError`` instead of overwriting.

    Set-based updates bypass the ORM; they must bump ``version`` themselves so that a form opened
    before a bulk action still detects the change. A change to a many-to-many collection alone
    (tags) writes only link rows, so the ORM would issue no ``UPDATE`` and leave the version:
    :func:`_bump_version_of_link_changes` bumps it.
    """

    version: Mapped[int] = mapped_column(nullable=False, server_default=text("1"))

    if TYPE_CHECKING:
        # Set on the model once declarative has made its table, as DeclarativeBase declares it.
        __table__: ClassVar[FromClause]

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}

    @classmethod
    def bumped_version(cls) -> dict[str, Any]:
        """The ``values()`` a set-based ``UPDATE`` adds so that forms opened before it conflict."""
        return {"version": cls.version + 1}


@event.listens_for(Session, "before_flush")
def _bump_version_of_link_changes(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    """A versioned row whose many-to-many links (its tags) changed, and none of its own columns,
    gets its version bumped: the ``UPDATE … WHERE version = <loaded>`` that follows makes a stale
    form conflict, and makes this save conflict with one that committed meanwhile.

    One-to-many collections (a user's tasks) are left out on purpose: their change is an update of
    the child rows, whose own versions move.
    """
    for obj in session.dirty:
        state = inspect(obj)
        mapper = state.mapper
        if mapper.version_id_col is None or session.is_modified(obj, include_collections=False):
            continue  # not versioned, or the ORM's own UPDATE bumps the version already
        links = [prop.key for prop in mapper.relationships if prop.secondary is not None]
        if any(state.attrs[key].history.has_changes() for key in links):
            version = mapper.get_property_by_column(mapper.version_id_col).key
            setattr(obj, version, getattr(obj, version) + 1)
