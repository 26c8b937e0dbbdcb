"""Failed sign-ins, the memory of the login throttle, shared by every worker and host."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.database import utcnow
from webapp.extensions import db


# db.Model is an attribute of the SQLAlchemy object, which mypy cannot take as a base (python/mypy#8603).
class LoginFailure(db.Model):  # type: ignore[name-defined]
    """One row per failed attempt and per throttled key (the account and address pair, the address,
    the account).

    A row per attempt rather than a counter per key: concurrent failures in different workers are
    plain INSERTs that cannot lose an increment, and expiry is a time comparison, no reset logic.
    ``key`` is a digest keyed with the app's secret, so the table holds neither the typed email nor
    the client's address, not even in a form that hashing every candidate would reverse.
    """

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), nullable=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)

    __table_args__ = (
        Index("ix_login_failures_key_created_at", "key", "created_at"),
        Index("ix_login_failures_created_at", "created_at"),
    )
