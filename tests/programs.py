"""Programs from Debian's packages that some tests drive (PgBouncer, Prometheus, promtool).

Without one, those tests skip on a developer's machine; under CI, where ``.ci/run`` installs
them, they fail instead: a missing install step must not pass as a green run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def required_program(name: str, package: str, fallback: str | None = None) -> str:
    """The path of ``name`` (on ``PATH``, else at ``fallback``), from the Debian ``package``."""
    path = shutil.which(name) or (fallback if fallback and Path(fallback).exists() else None)
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {name} is not installed (.ci/run installs the {package} package)")
        pytest.skip(f"needs {name} (the Debian {package} package)")
    return path
