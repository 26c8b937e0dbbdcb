"""Posts: written by a user, tagged, versioned, soft-deletable."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.enums import PostStatus, enum_column_type
from webapp.models.mixins import (
    VERSIONED_TABLE_OPTIONS,
    SoftDeleteMixin,
    TaggableMixin,
    TimestampMixin,
    VersionMixin,
    live_rows_index,
    trash_index,
    trigram_index,
)

if TYPE_CHECKING:
    from webapp.models.users import User


# db.Model is an attribute of the SQLAlchemy object, which mypy cannot take as a base (python/mypy#8603).
class Post(TimestampMixin, SoftDeleteMixin, TaggableMixin, VersionMixin, db.Model):  # type: ignore[name-defined]
    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default="")
    status: Mapped[PostStatus] = mapped_column(
        enum_column_type(PostStatus, "post_status"), nullable=False, default=PostStatus.DRAFT
    )
    published_at: Mapped[datetime | None] = mapped_column()

    author: Mapped[User] = relationship(back_populates="posts")

    __table_args__ = (
        live_rows_index("ix_posts_live_author_status", "author_id", "status"),
        live_rows_index("ix_posts_live_created_at_id", "created_at", "id"),
        Index("ix_posts_created_at", "created_at"),
        trash_index("ix_posts_deleted_at"),
        trigram_index("ix_posts_live_title_trgm", "title"),
        trigram_index("ix_posts_live_content_trgm", "content"),
        VERSIONED_TABLE_OPTIONS,
    )

    def __str__(self) -> str:
        return self.title

    def __repr__(self) -> str:
        return f"<Post {self.id} {self.title!r}>"
