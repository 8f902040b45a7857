"""How `bme-cds serve` runs gunicorn: threaded workers, JSON for gunicorn's own errors and log lines.

- gthread workers (THREADS per process): a client that uploads slowly holds one thread, never a whole worker,
  and its body is read under a total deadline (web/jsonin.py). A worker accepts a connection only when a thread
  is free (worker_connections = THREADS, no keep-alive), so every worker takes new requests from the one kernel
  queue: a worker whose threads slow clients hold leaves them to the others, and requests are served in arrival
  order. With 2 workers x 2 threads, 3 slow uploads at once still leave health checks answered.
- Why 2 threads and no keep-alive (measured by thread count in docs/operations.md): every thread beyond the
  first interleaves CPU-bound requests on the GIL, and kept-alive connections stay with the worker that accepted
  them; both lengthened the latency tail at the same requests/s. More threads hold more slow clients and FHIR
  waits (`bme-cds serve --threads N`); behind the shipped nginx proxy slow clients never reach gunicorn.
- gunicorn answers some requests itself (a malformed or over-long request line or header block, an unknown
  transfer coding, an exception escaping the app): its HTML page is replaced by an OperationOutcome, the same
  as every other error of the service. A worker killed by the master (WORKER TIMEOUT) or the kernel writes
  nothing: its connections close without a byte (docs/operations.md; the front proxy answers 502 JSON).
- gunicorn's own log lines go through the service's JSON formatter and redaction: one log format.
- No control socket: the service does not use it, and its default place (~/.gunicorn) may not be writable.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from gunicorn import glogging
from gunicorn import util

from service.errors import operation_outcome

THREADS = 2
WORKER_TIMEOUT_SECONDS = 30  # a worker whose main loop is silent this long is killed and replaced
GRACEFUL_TIMEOUT_SECONDS = 30

_ISSUE_CODES = {400: "invalid", 403: "forbidden", 408: "timeout", 413: "too-costly", 414: "too-costly",
                417: "not-supported", 431: "too-costly", 501: "not-supported"}


def error_body(status: int, reason: str) -> bytes:
    """The OperationOutcome gunicorn sends instead of its HTML error page (never echoes the request)."""
    code = _ISSUE_CODES.get(status, "exception")
    outcome = operation_outcome(code, f"BME-0{status}: {reason}")
    return json.dumps(outcome, separators=(",", ":")).encode()


def write_json_error(sock: Any, status_int: int, reason: str, _mesg: str) -> None:
    """gunicorn.util.write_error, answering JSON: gunicorn's message may quote the request, so it is dropped."""
    body = error_body(status_int, reason)
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nContent-Length: {len(body)}\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin-1") + body)


def install() -> None:
    """Replace gunicorn's HTML error writer (called in the master before workers fork)."""
    util.write_error = write_json_error


class JsonLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger with its error log sent through the service's JSON handler (access log stays off)."""

    def setup(self, cfg: Any) -> None:
        """Let gunicorn configure itself, then route its error log to the root JSON handler."""
        super().setup(cfg)
        for handler in list(self.error_log.handlers):
            self.error_log.removeHandler(handler)
        self.error_log.propagate = True  # the root logger carries the JSON formatter and redaction


def serve_settings(threads: int = THREADS) -> dict[str, Any]:
    """The gunicorn settings this module stands for (merged into `bme-cds serve`'s), with `threads` per worker."""
    return {
        "worker_class": "gthread",
        "threads": threads,
        "worker_connections": threads,  # accept a connection only with a thread free
        "keepalive": 0,  # a kept-alive connection would hold a thread's slot while idle
        "timeout": WORKER_TIMEOUT_SECONDS,
        "graceful_timeout": GRACEFUL_TIMEOUT_SECONDS,
        "logger_class": JsonLogger,
        "control_socket_disable": True,
        "on_starting": _on_starting,
    }


def _on_starting(_server: Any) -> None:
    install()
    logging.getLogger("gunicorn.error").info("gunicorn errors answer JSON OperationOutcomes")
