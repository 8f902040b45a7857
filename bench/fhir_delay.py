"""A tiny FHIR server with a fixed delay per request, for the missing-prefetch benchmark.

Serves one patient's resources (reads and searches by type; search parameters other than the type are
ignored) and sleeps `--delay-ms` before every answer. Plain http.server with a thread per connection and
HTTP/1.1 keep-alive: its own cost is a fraction of a millisecond, unlike the Medplum test server, whose
linear scans add tens of milliseconds per search and would muddy a 100 ms delay.
`python -m bench.fhir_delay --delay-ms 100` prints {"port": N} on stdout once it listens.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from bench.data import BENCH_NOW
from bench.data import SYNTHEA_DIR
from bench.data import TARGET_PATIENT_FILE
from bench.data import load_patient
from bench.data import mri_report
from bench.data import template_filtered


def build_store() -> dict[str, list[dict[str, Any]]]:
    """Resources by type: what the templates select for the target Synthea patient, plus the MRI report."""
    patient = template_filtered(load_patient(SYNTHEA_DIR / TARGET_PATIENT_FILE))
    store: dict[str, list[dict[str, Any]]] = {"Patient": [patient.patient]}
    for resources in patient.by_key.values():
        for resource in resources:
            store.setdefault(resource["resourceType"], []).append(resource)
    store.setdefault("DiagnosticReport", []).append(mri_report(patient.id, BENCH_NOW.date()))
    return store


def make_handler(store: dict[str, list[dict[str, Any]]], delay: float) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to the store and the delay."""
    # Serialise once: the benchmark measures our client, not this server's json.dumps.
    searches = {
        kind: json.dumps(
            {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(items),
                "entry": [{"resource": r} for r in items],
            }
        ).encode()
        for kind, items in store.items()
    }
    reads = {f"{r['resourceType']}/{r['id']}": json.dumps(r).encode() for items in store.values() for r in items}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # http.server sends headers and body in two writes; with Nagle on, a kept-alive connection then waits
        # for the client's delayed ACK (40 ms on Linux) before the body goes out. Real servers set NODELAY.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            time.sleep(delay)
            path = urlsplit(self.path).path.strip("/")
            body = reads.get(path) if "/" in path else searches.get(path)
            if body is None and "/" not in path:
                body = json.dumps({"resourceType": "Bundle", "type": "searchset", "total": 0}).encode()
            status = 200 if body is not None else 404
            body = body or b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}'
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            return  # quiet: the harness reads only the port line

    return Handler


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=100.0)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(build_store(), args.delay_ms / 1000))
    server.daemon_threads = True
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
