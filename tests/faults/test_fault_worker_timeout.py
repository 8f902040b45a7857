"""gunicorn's own failure paths under the shipped settings: WORKER TIMEOUT, a killed worker, its error writer.

tests/faults/gunicorn_faults.py serves the real app with `bme-cds serve`'s gunicorn settings (gthread, the JSON
error writer and logger) and a 2 s worker timeout, plus fault routes that exist only in that test launcher.
What a client can see: a JSON answer, or its connection closed with no byte at all (a worker that is killed
cannot write anything); never gunicorn's HTML page, never a half-written answer.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from service.web.gunicorn_conf import THREADS
from tests.faults.served import Gunicorn
from tests.faults.served import serve

WORKER_TIMEOUT = 2
WORKERS = 2


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """Two workers with a 2 s worker timeout, authentication off."""
    with serve(tmp_path_factory.mktemp("timeout"), {"BME_AUTH": "off"}, timeout=WORKER_TIMEOUT,
               workers=WORKERS) as running:
        yield running


def _exchange(port: int, raw: bytes, timeout: float = 30) -> bytes:
    """Send raw bytes on a new connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass  # a killed worker's socket may be reset rather than closed: still nothing received
        return received


def _get(port: int, path: str) -> bytes:
    return _exchange(port, f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())


def _json_answer(answer: bytes) -> tuple[int, str, dict[str, object]]:
    """Status, Content-Type and JSON body of a complete HTTP answer (fails on HTML or a cut-off body)."""
    text = answer.decode("latin-1")
    head, _, body = text.partition("\r\n\r\n")
    assert "<html" not in text.lower(), text[:300]
    status = int(head.split(" ", 2)[1])
    headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:])
    if headers.get("Transfer-Encoding") == "chunked":
        size, _, rest = body.partition("\r\n")
        body = rest[: int(size, 16)]
    else:
        assert len(body.encode("latin-1")) == int(headers["Content-Length"])
    return status, headers["Content-Type"], json.loads(body)


def test_a_worker_timeout_closes_its_connections_and_the_worker_is_replaced(served: Gunicorn) -> None:
    booted = len(served.messages("Booting worker"))
    with ThreadPoolExecutor(max_workers=12) as pool:
        # Slow but healthy requests first, so the worker that is about to stall may hold some of them too; even
        # all on the other worker they leave it a thread free for health checks.
        healthy = [pool.submit(_get, served.port, "/__fault/sleep?seconds=4") for _ in range(THREADS - 1)]
        time.sleep(0.3)
        stalled = pool.submit(_get, served.port, "/__fault/hold-gil?seconds=60")
        time.sleep(0.3)
        # While one worker is stuck, the other answers health checks at once.
        for _ in range(5):
            started = time.monotonic()
            assert requests.get(served.url + "/healthz", timeout=5).status_code == 200
            assert time.monotonic() - started < 1.0
        answers = [future.result(timeout=60) for future in healthy]
        stalled_answer = stalled.result(timeout=60)
    # The stalled worker was killed (SIGABRT cannot run while C code holds the GIL, so SIGKILL follows):
    # nothing at all was written on its connection, long before the 60 s stall would have ended.
    assert stalled_answer == b""
    for answer in answers:
        if answer == b"":
            continue  # it was on the killed worker: closed without a byte
        status, content_type, body = _json_answer(answer)
        assert (status, content_type, body) == (200, "application/json", {"fault": "survived"})
    served.wait_for_workers(booted + 1)  # a new worker took the killed one's place
    assert requests.get(served.url + "/healthz", timeout=5).status_code == 200
    assert served.messages("WORKER TIMEOUT"), "the master never timed the worker out"
    assert served.messages("was sent SIGKILL")


def test_a_crashed_worker_closes_the_connection_and_is_replaced(served: Gunicorn) -> None:
    booted = len(served.messages("Booting worker"))
    assert _get(served.port, "/__fault/crash") == b""
    served.wait_for_workers(booted + 1)
    status, content_type, body = _json_answer(_get(served.port, "/cds-services"))
    assert status == 200 and content_type == "application/json" and "services" in body


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        pytest.param(b"GET /__fault/raise HTTP/1.1\r\nHost: t\r\n\r\n", 500, id="exception-escaping-the-app"),
        pytest.param(b"GARBAGE\x01 / HTTP/1.1\r\n\r\n", 400, id="bad-request-line"),
        pytest.param(b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414, id="request-line-too-long"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120)) + b"\r\n",
                     431, id="too-many-headers"),
        pytest.param(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: x-unknown, chunked\r\n\r\n0\r\n\r\n", 501,
                     id="unsupported-transfer-coding"),
    ],
)
def test_every_answer_gunicorn_writes_itself_is_an_operation_outcome(served: Gunicorn, raw: bytes,
                                                                      status: int) -> None:
    got_status, content_type, body = _json_answer(_exchange(served.port, raw))
    assert got_status == status
    assert content_type == "application/json"
    assert body["resourceType"] == "OperationOutcome"
    issue = body["issue"][0]  # type: ignore[index]
    assert issue["diagnostics"].startswith(f"BME-0{status}:")
    assert "GARBAGE" not in json.dumps(body) and "aaaa" not in json.dumps(body)  # never echoes the request


def test_every_log_line_of_these_faults_is_json(served: Gunicorn) -> None:
    lines = served.log_lines()  # json.loads of every line: a plain-text line fails here
    assert any(line.get("msg") == "gunicorn errors answer JSON OperationOutcomes" for line in lines)
