"""Operators: the people who sign in to the admin (distinct from the users they manage)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, Index, String, func, text, true
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.database import JSONDocument
from webapp.extensions import db
from webapp.models.enums import OperatorRole, enum_column_type
from webapp.models.mixins import TimestampMixin

# The colour themes an operator may choose: "auto" follows the system's light or dark setting.
THEMES = ("auto", "light", "dark")


# db.Model is an attribute of the SQLAlchemy object, which mypy cannot take as a base (python/mypy#8603).
class Operator(UserMixin, TimestampMixin, db.Model):  # type: ignore[name-defined]
    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[OperatorRole] = mapped_column(
        enum_column_type(OperatorRole, "operator_role"),
        nullable=False,
        default=OperatorRole.VIEWER,
    )
    is_active: Mapped[bool] = mapped_column(nullable=False, default=True, server_default=true())
    last_login_at: Mapped[datetime | None] = mapped_column()
    theme: Mapped[str] = mapped_column(String(8), nullable=False, default="auto", server_default="auto")
    # The columns each list shows this operator, in order, by list endpoint ({"task": ["title",
    # "status"]}). Kept on the operator's row, which every request loads with its session: the
    # list page gets the choice without a statement of its own.
    list_columns: Mapped[dict[str, Any]] = mapped_column(
        JSONDocument, nullable=False, default=dict, server_default=text("'{}'")
    )

    __table_args__ = (
        Index("uq_operators_email_lower", func.lower(email), unique=True),
        CheckConstraint(theme.in_(THEMES), name="theme"),
    )

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def has_role(self, role: OperatorRole) -> bool:
        return self.is_active and self.role.at_least(role)

    def __str__(self) -> str:
        return self.email

    def __repr__(self) -> str:
        return f"<Operator {self.id} {self.email} {self.role.value}>"
