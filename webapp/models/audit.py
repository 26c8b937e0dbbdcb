"""The audit trail: one append-only row per change made through the admin."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, func
from sqlalchemy.orm import Mapped, mapped_column

from webapp.database import JSONDocument
from webapp.extensions import db
from webapp.models.enums import AuditAction, enum_column_type


# db.Model is an attribute of the SQLAlchemy object, which mypy cannot take as a base (python/mypy#8603).
class AuditEntry(db.Model):  # type: ignore[name-defined]
    """Who changed what, when, from where.

    ``operator_email`` is copied so the entry stays readable after the operator is removed;
    ``changes`` maps each changed field to ``[old, new]`` and never holds secrets.
    """

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), nullable=False)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"), index=True)
    operator_email: Mapped[str] = mapped_column(String(254), nullable=False, default="")
    action: Mapped[AuditAction] = mapped_column(enum_column_type(AuditAction, "audit_action"), nullable=False)
    model: Mapped[str] = mapped_column(String(50), nullable=False)
    object_id: Mapped[str] = mapped_column(String(64), nullable=False)
    summary: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    changes: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False, default=dict)
    remote_addr: Mapped[str | None] = mapped_column(String(45))
    # The operation a change was part of when it was one of many (an import): its entries are
    # found, shown and undone together.
    batch_id: Mapped[str | None] = mapped_column(String(36), default=None)
    # Tamper evidence (webapp/audit_chain.py): the transaction's link, and sha256 of the entry's
    # canonical content. NULL on entries written before the chain began.
    link_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    entry_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)

    __table_args__ = (
        # A record's history, newest first, read from the index alone in its order.
        Index("ix_audit_entries_record_history", "model", "object_id", "created_at", "id"),
        Index("ix_audit_entries_created_at", "created_at"),
        Index("ix_audit_entries_action", "action"),
        Index("ix_audit_entries_batch_id", "batch_id"),
        Index("ix_audit_entries_link_id", "link_id"),
    )

    def __repr__(self) -> str:
        return f"<AuditEntry {self.id} {self.action.value} {self.model}:{self.object_id}>"
