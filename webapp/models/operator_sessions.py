"""Signed-in sessions, held by the server so that it can end them (a signed cookie alone cannot be
taken back: a copy saved before sign-out would stay valid)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, delete, event, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.orm import InstanceState, Mapped, Mapper, mapped_column, relationship

from webapp.database import utcnow
from webapp.extensions import db
from webapp.models.operators import Operator

# What an operator may do, and who may prove to be them: a change to any of these ends every
# session the operator has open, whichever code path (admin form, command, shell) makes it.
SESSION_DEFINING_ATTRIBUTES = ("is_active", "role", "password_hash")


# db.Model is an attribute of the SQLAlchemy object, which mypy cannot take as a base (python/mypy#8603).
class OperatorSession(db.Model):  # type: ignore[name-defined]
    """One row per signed-in browser; the row going away signs that browser out.

    The cookie carries a random token; ``id`` is its SHA-256 digest, so a read of this table
    (a backup, a replica) gives no cookie that works.
    """

    __tablename__ = "operator_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)

    operator: Mapped[Operator] = relationship(lazy="joined", innerjoin=True)

    __table_args__ = (
        Index("ix_operator_sessions_operator_id", "operator_id"),
        Index("ix_operator_sessions_last_seen_at", "last_seen_at"),
    )


@event.listens_for(Operator, "before_update")
def _end_sessions_of_a_changed_operator(mapper: Mapper[Operator], connection: Connection, operator: Operator) -> None:
    """In the same transaction as the change: it cannot be saved without its sessions ending.

    A mapper event sees every change made through the ORM; a bulk ``UPDATE operators`` statement
    would bypass it (the app issues none), though the login loader still refuses an inactive one.
    """
    state: InstanceState[Operator] = inspect(operator)
    if any(state.attrs[name].history.has_changes() for name in SESSION_DEFINING_ATTRIBUTES):
        connection.execute(delete(OperatorSession).where(OperatorSession.operator_id == operator.id))
