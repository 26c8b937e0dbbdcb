"""The garbage collector as a gunicorn worker runs it (gunicorn.conf.py): the loaded app's objects
frozen out of its sight, the youngest generation collected every ``GC_YOUNG_THRESHOLD``
allocations. A benchmark that runs the app's work in its own process collects so too, or it
measures the collector walking the whole loaded app again and again (an import's preview of a
hundred thousand rows: over a second of it)."""

from __future__ import annotations

import gc
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def worker_gc_threshold() -> int:
    """The youngest generation's threshold a gunicorn worker runs with (gunicorn.conf.py)."""
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    assert spec is not None and spec.loader is not None
    settings = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(settings)
    return int(settings.GC_YOUNG_THRESHOLD)


def collect_as_a_worker() -> None:
    """From now on, collect as a worker forked from the preloaded master does."""
    gc.collect()
    gc.freeze()
    _young, *older = gc.get_threshold()
    gc.set_threshold(worker_gc_threshold(), *older)
