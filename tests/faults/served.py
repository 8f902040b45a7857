"""Start tests/faults/gunicorn_faults.py (the shipped gunicorn settings around the real app) for a test."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.processes import stop

ROOT = Path(__file__).resolve().parents[2]


class Gunicorn:
    """The running master: its URL, port, stderr log and process."""

    def __init__(self, port: int, log: Path, process: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.process = process

    def log_lines(self) -> list[dict[str, object]]:
        """The JSON lines gunicorn and the app wrote so far (every line must be JSON)."""
        lines = [line for line in self.log.read_text().splitlines() if line.strip()]
        return [json.loads(line) for line in lines]

    def messages(self, text: str) -> list[str]:
        """Log messages containing `text`."""
        return [str(line["msg"]) for line in self.log_lines() if text in str(line.get("msg", ""))]

    def wait_for_workers(self, count: int) -> None:
        """Wait until `count` workers have booted and /healthz answers (not a timing assertion)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited: {self.log.read_text()[-2000:]}")
            if len(self.messages("Booting worker")) >= count:
                try:
                    if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                        return
                except requests.RequestException:
                    pass
            time.sleep(0.1)
        pytest.fail(f"gunicorn did not start {count} workers: {self.log.read_text()[-2000:]}")


@contextmanager
def serve(tmp: Path, env: Mapping[str, str], *, timeout: int, workers: int) -> Iterator[Gunicorn]:
    """Serve on a socket bound and listening before gunicorn starts: no other process can take the port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT),
                "HOME": "/nonexistent/home", "BME_DATA_DIR": str(tmp / "data"), **env}
    log = tmp / "stderr.log"
    with log.open("wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.gunicorn_faults", str(listener.fileno()), str(timeout),
             str(workers)],
            cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=errors, pass_fds=[listener.fileno()],
        )
    listener.close()  # gunicorn holds its own copy of the socket
    served = Gunicorn(port, log, process)
    try:
        served.wait_for_workers(workers)
        yield served
    finally:
        stop(process)
