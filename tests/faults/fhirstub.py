"""A loopback FHIR server with injectable faults: wrong-shaped Bundles and answers that drip a byte a second."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

EMPTY_BUNDLE = {"resourceType": "Bundle", "type": "searchset", "entry": []}


class FhirStub:
    """Serves `/{mode}/...`: mode `ok` answers a valid resource, `entry5`/`link5` wrong shapes, `drip` a byte a second.

    The mode is the first path segment, so one server can act as a healthy and a sick FHIR server at once.
    """

    def __init__(self) -> None:
        stub = self
        self.requests = 0
        self.open_drips = 0
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                return

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                with stub._lock:
                    stub.requests += 1
                path = urlsplit(self.path).path
                mode, _, rest = path.strip("/").partition("/")
                kind = rest.split("/")[0].split("?")[0]
                body = json.dumps(stub.answer(mode, kind, rest)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode != "drip":
                    self.wfile.write(body)
                    return
                with stub._lock:
                    stub.open_drips += 1
                try:
                    for byte in body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(1.0)
                except OSError:
                    pass  # the service hung up: what it should do
                finally:
                    with stub._lock:
                        stub.open_drips -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @staticmethod
    def answer(mode: str, kind: str, rest: str) -> dict[str, Any]:
        """The JSON the server sends for a resource type (every search is empty but well-formed in `ok`)."""
        if kind == "Patient":
            return {"resourceType": "Patient", "id": rest.split("/")[-1], "gender": "female", "birthDate": "1950-01-01"}
        if mode == "entry5":
            return {"resourceType": "Bundle", "type": "searchset", "entry": 5}
        if mode == "link5":
            return {"resourceType": "Bundle", "type": "searchset", "link": 5, "entry": []}
        return dict(EMPTY_BUNDLE, entry=[{"resource": {"resourceType": "Basic", "id": "x"}}] if mode == "drip" else [])

    def url(self, mode: str) -> str:
        """The base URL of the FHIR server acting in `mode`."""
        return f"{self.base}/{mode}"

    def __enter__(self) -> FhirStub:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
