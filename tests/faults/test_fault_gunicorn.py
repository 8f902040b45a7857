"""`bme-cds serve` under faults from clients: slow uploads, chunked bodies over the limit, garbage request lines.

The real command (gthread workers), on loopback, authentication off, SQLite; HOME not writable.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from service.web.gunicorn_conf import THREADS
from tests.processes import stop
from tests.security.support import free_port

ROOT = Path(__file__).resolve().parents[2]
MAX_BODY = 100_000
BODY_TIMEOUT = 3.0
START_ATTEMPTS = 5


class Served:
    """The running service: its base URL, port and the stderr log file."""

    def __init__(self, url: str, port: int, log: Path) -> None:
        self.url = url
        self.port = port
        self.log = log


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`bme-cds serve --workers 2` with a small body limit and a short body deadline."""
    tmp = tmp_path_factory.mktemp("serve")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "HOME": "/nonexistent/home",  # not writable: gunicorn must not try to put a control socket there
        "BME_DATA_DIR": str(tmp / "data"),
        "BME_AUTH": "off",
        "BME_MAX_BODY_BYTES": str(MAX_BODY),
        "BME_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
    }
    log = tmp / "stderr.log"
    # `bme-cds serve` binds the port itself, so another process may take it between free_port() and the bind:
    # then gunicorn cannot listen and exits, and the next attempt takes a new port (a bounded number of times).
    for _ in range(START_ATTEMPTS):
        port = free_port()
        with log.open("wb") as errors:
            process = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", "2"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=errors,
            )
        try:
            if _ready(process, port, log):
                break
        except BaseException:
            stop(process)
            raise
        stop(process)
    else:
        pytest.fail(f"bme-cds serve never got a port of its own: {log.read_text()[-2000:]}")
    try:
        yield Served(f"http://127.0.0.1:{port}", port, log)
    finally:
        stop(process)


def _ready(process: subprocess.Popen[bytes], port: int, log: Path) -> bool:
    """True once this process listens on `port` and answers /healthz; False if the port was taken."""
    listening = f"Listening at: http://127.0.0.1:{port} "
    for _ in range(600):  # at most about a minute; not a timing assertion
        text = log.read_text(errors="replace")
        if f"Connection in use: ('127.0.0.1', {port})" in text:
            return False  # gunicorn could not bind: another process has the port
        if process.poll() is not None:
            pytest.fail(f"bme-cds serve exited: {text[-2000:]}")
        if listening in text:  # our gunicorn holds the port: whoever answers below is this service
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    return True
            except requests.RequestException:
                pass
        time.sleep(0.1)
    pytest.fail(f"bme-cds serve did not become ready: {log.read_text()[-2000:]}")


def _slow_upload(port: int) -> socket.socket:
    """A client that declares a 10 kB body and sends 10 bytes of it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(b"POST /cds-services/bme-patient-view HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 10000\r\n\r\n{\"hook\": \"")
    return sock


def test_slow_uploads_on_every_worker_do_not_block_health_checks(served: Served) -> None:
    # All threads but two busy with slow uploads, possibly all of one worker's: a worker with no thread free
    # accepts nothing, so health checks go to a worker that can answer them.
    slow = [_slow_upload(served.port) for _ in range(2 * THREADS - 2)]
    try:
        time.sleep(0.5)
        for _ in range(10):
            started = time.monotonic()
            assert requests.get(served.url + "/healthz", timeout=5).status_code == 200
            assert time.monotonic() - started < 1.0
        # Each slow upload is answered 408 (JSON) once its body deadline passes: a thread is freed, not held.
        for sock in slow:
            sock.settimeout(BODY_TIMEOUT + 5)
            received = b""
            while chunk := sock.recv(65536):  # until the service closes the connection after its answer
                received += chunk
            answer = received.decode("latin-1")
            assert answer.startswith("HTTP/1.1 408"), answer[:200]
            assert '"resourceType":"OperationOutcome"' in answer and "BME-0408" in answer
    finally:
        for sock in slow:
            sock.close()


def test_a_chunked_body_over_the_limit_is_413(served: Served) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"hook": "patient-view", "pad": "'
        for _ in range(MAX_BODY // 1000 + 5):
            yield b"x" * 1000
        yield b'"}'

    response = requests.post(served.url + "/cds-services/bme-patient-view", data=chunks(),
                             headers={"Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 413
    assert response.json()["resourceType"] == "OperationOutcome"


def test_gunicorn_own_errors_are_json(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(b"GARBAGE\x01 / HTTP/1.1\r\n\r\n")
        answer = sock.recv(65536).decode("latin-1")
    head, _, body = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 400")
    assert "Content-Type: application/json" in head
    assert json.loads(body)["resourceType"] == "OperationOutcome"
    assert "<html>" not in answer


def test_every_log_line_is_json_and_there_is_no_control_socket_error(served: Served) -> None:
    requests.get(served.url + "/healthz", timeout=5)
    lines = [line for line in served.log.read_text().splitlines() if line.strip()]
    not_json = []
    for line in lines:
        if line.startswith("bme-cds: serving on"):
            continue  # the one plain start-up banner the command prints itself
        try:
            json.loads(line)
        except ValueError:
            not_json.append(line)
    assert not not_json, not_json[:5]
    text = "\n".join(lines)
    assert "Booting worker" in text  # gunicorn's own lines are there, as JSON
    assert "control socket" not in text.lower() and "gunicorn.ctl" not in text
