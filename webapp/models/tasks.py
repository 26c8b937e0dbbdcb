"""Tasks: owned by a user, tagged, versioned, soft-deletable."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.database import JSONDocument
from webapp.extensions import db
from webapp.models.enums import TaskPriority, TaskStatus, enum_column_type
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
class Task(TimestampMixin, SoftDeleteMixin, TaggableMixin, VersionMixin, db.Model):  # type: ignore[name-defined]
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[TaskStatus] = mapped_column(
        enum_column_type(TaskStatus, "task_status"), nullable=False, default=TaskStatus.PENDING
    )
    priority: Mapped[TaskPriority] = mapped_column(
        enum_column_type(TaskPriority, "task_priority"),
        nullable=False,
        default=TaskPriority.MEDIUM,
    )
    # "metadata" is reserved on declarative classes, hence the attribute name.
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONDocument, nullable=False, default=dict)
    due_at: Mapped[datetime | None] = mapped_column()

    owner: Mapped[User] = relationship(back_populates="tasks")

    __table_args__ = (
        live_rows_index("ix_tasks_live_owner_status", "owner_id", "status"),
        live_rows_index("ix_tasks_live_priority_created_at", "priority", "created_at"),
        live_rows_index("ix_tasks_live_created_at_id", "created_at", "id"),
        Index("ix_tasks_created_at", "created_at"),
        trash_index("ix_tasks_deleted_at"),
        trigram_index("ix_tasks_live_title_trgm", "title"),
        trigram_index("ix_tasks_live_description_trgm", "description"),
        VERSIONED_TABLE_OPTIONS,
    )

    def __str__(self) -> str:
        return self.title

    def __repr__(self) -> str:
        return f"<Task {self.id} {self.title!r}>"
