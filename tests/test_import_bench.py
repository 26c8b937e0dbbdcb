"""The import benchmark works end to end on a few rows (its figures are not judged here)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgres


@pytest.mark.usefixtures("app")  # the schema; the benchmark tops up users and tags itself
@pytest.mark.parametrize("tagged", [[], ["--tagged"]], ids=["untagged", "tagged"])
def test_the_import_benchmark_reports_every_phase(database_url: str, project_root: Path, tagged: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "bench/import_tasks.py", database_url, "--rows", "30", *tagged],
        cwd=project_root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    phases = re.findall(r"^(preview|apply|undo) .+ s wall .+ s CPU .+ MB$", result.stdout, re.MULTILINE)
    assert phases == ["preview", "apply", "preview", "apply", "undo"]
