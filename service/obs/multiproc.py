"""prometheus-client's multiprocess mode under gunicorn: a fresh folder per start, dead workers marked.

Imports nothing of prometheus-client at module level: PROMETHEUS_MULTIPROC_DIR must be set before it loads.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare(data_dir: Path) -> Path:
    """Point PROMETHEUS_MULTIPROC_DIR at an empty folder for this start and return it.

    An operator's folder is emptied (a restart must not add the last run's counts); otherwise a new one is made
    under the data folder and removed by `remove` at exit.
    """
    given = os.environ.get(ENV)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="metrics-", dir=data_dir))
    os.environ[ENV] = str(folder)
    return folder


def remove(folder: Path) -> None:
    """Delete a folder `prepare` made (at server exit)."""
    shutil.rmtree(folder, ignore_errors=True)


def child_exit(_server: object, worker: object) -> None:
    """gunicorn hook: a dead worker's live gauges go; its counters stay, so totals never drop."""
    if not os.environ.get(ENV):
        return
    from prometheus_client import multiprocess

    pid = getattr(worker, "pid", None)
    if isinstance(pid, int):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
