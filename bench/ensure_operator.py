"""Make sure the benchmark's operator exists, is an active admin and has the given password.

    python bench/ensure_operator.py --database-url postgresql://… --email bench@example.com --password …

Idempotent, so ``make bench`` can run it every time; it goes through the app's own model, so the
password is hashed exactly as the sign-in form expects.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from webapp import create_app
from webapp.extensions import db
from webapp.models import Operator, OperatorRole


def ensure_operator(email: str, password: str) -> bool:
    """Returns True when the operator was created, False when an existing one was reset."""
    operator = db.session.scalar(select(Operator).where(func.lower(Operator.email) == email.lower()))
    created = operator is None
    if operator is None:
        operator = Operator(email=email)
        db.session.add(operator)
    operator.role = OperatorRole.ADMIN
    operator.is_active = True
    operator.set_password(password)
    db.session.commit()
    return created


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Create or reset the benchmark operator.")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    arguments = parser.parse_args(argv)
    # The secret key only signs sessions, and this process serves none.
    app = create_app(env={"APP_ENV": "production", "SECRET_KEY": "unused", "DATABASE_URL": arguments.database_url})
    with app.app_context():
        created = ensure_operator(arguments.email, arguments.password)
        db.engine.dispose()
    print(f"{'Created' if created else 'Reset'} the benchmark operator {arguments.email}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
