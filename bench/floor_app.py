"""The HTTP floor: a minimal Flask app that parses and echoes the body, under the same gunicorn settings.

`python -m bench.floor_app --port 8081` serves it exactly as `bme-cds serve` serves the service (the same
`service.cli.gunicorn_settings`: gthread workers, worker count, timeout, GC freeze after start-up, no access log),
so the ratio between the two is the cost of the service itself.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from flask import Flask
from flask import Response
from flask import request

from service.cli import default_workers
from service.cli import gunicorn_settings

app = Flask(__name__)


@app.post("/cds-services/<service_id>")
def echo(service_id: str) -> Response:
    """Parse the JSON body and send it back, compact, as the service sends its cards."""
    if not request.is_json:
        return Response('{"error":"send application/json"}', status=415, mimetype="application/json")
    body: Any = json.loads(request.get_data(cache=False))
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), mimetype="application/json")


@app.get("/healthz")
def healthz() -> Response:
    """Liveness, as the service's /healthz."""
    return Response('{"status":"ok"}', mimetype="application/json")


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the floor app under gunicorn with service/cli.py::_serve's settings."""
    from gunicorn.app.base import BaseApplication

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--workers", type=int, default=default_workers())  # as `bme-cds serve`
    args = parser.parse_args(argv)

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for name, value in gunicorn_settings(args.host, args.port, args.workers).items():
                self.cfg.set(name, value)
            self.cfg.set("proc_name", "bme-bench-floor")

        def load(self) -> Any:
            return app

    Server().run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
