"""The people whose records operators manage (not the operators themselves)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Index, String, Text, case, func, true
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql import ColumnElement

from webapp.extensions import db
from webapp.models.mixins import (
    VERSIONED_TABLE_OPTIONS,
    SoftDeleteMixin,
    TimestampMixin,
    VersionMixin,
    live_rows_index,
    prefix_index,
    trash_index,
    trigram_index,
)

if TYPE_CHECKING:
    from webapp.models.posts import Post
    from webapp.models.tasks import Task


# db.Model is an attribute of the SQLAlchemy object, which mypy cannot take as a base (python/mypy#8603).
class User(TimestampMixin, SoftDeleteMixin, VersionMixin, db.Model):  # type: ignore[name-defined]
    """Email and username are unique case-insensitively across live *and* deleted users.

    A deliberate choice: a soft-deleted user can then always be restored without colliding with a
    newcomer; the form that meets a taken address says it belongs to a deleted user.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    username: Mapped[str] = mapped_column(String(150), nullable=False)
    full_name: Mapped[str] = mapped_column(String(200), nullable=False, default="", server_default="")
    is_active: Mapped[bool] = mapped_column(nullable=False, default=True, server_default=true())
    bio: Mapped[str | None] = mapped_column(Text)

    tasks: Mapped[list[Task]] = relationship(back_populates="owner", passive_deletes=True)
    posts: Mapped[list[Post]] = relationship(back_populates="author", passive_deletes=True)

    __table_args__ = (
        Index("uq_users_email_lower", func.lower(email), unique=True),
        Index("uq_users_username_lower", func.lower(username), unique=True),
        live_rows_index("ix_users_live_created_at_id", "created_at", "id"),
        live_rows_index("ix_users_live_full_name", "full_name"),  # the list's sort by name
        trash_index("ix_users_deleted_at"),
        # Not partial: owner/author pickers search users without the live-rows condition.
        trigram_index("ix_users_email_trgm", "email", live_only=False),
        trigram_index("ix_users_username_trgm", "username", live_only=False),
        trigram_index("ix_users_full_name_trgm", "full_name", live_only=False),
        prefix_index("ix_users_email_prefix", "email"),
        prefix_index("ix_users_username_prefix", "username"),
        prefix_index("ix_users_full_name_prefix", "full_name"),
        VERSIONED_TABLE_OPTIONS,
    )

    @hybrid_property
    def display_name(self) -> str:
        """The user in one line of text (``str(user)``: a task's owner in a CSV cell)."""
        return f"{self.full_name} <{self.email}>" if self.full_name else self.email

    @display_name.inplace.expression
    @classmethod
    def _display_name_sql(cls) -> ColumnElement[str]:
        """The same text in SQL, for the export's ``COPY`` (``listing.copy_export``)."""
        return case((cls.full_name != "", cls.full_name + " <" + cls.email + ">"), else_=cls.email)

    def __str__(self) -> str:
        return self.display_name

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"
