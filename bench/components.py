"""Where one HTTP request's time goes: `python -m bench.components [--reps 300]`.

Runs the real app (create_app, authentication on) and the echo floor through Flask's test client, in this
process, interleaved, and times the pieces of the service's request path on the same body part 2 of the
harness sends: JWT verification with the replay store, the security layer's JSON parse, json.loads, and the
pipeline with and without the issued-card recorder. Medians per request; a piece whose module is missing
or has moved is reported as such. A diagnostic for whoever works on the hot path, not part of the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.data import SERVICE_ID
from bench.data import real_patient_request
from bench.floor_app import app as floor_app
from bench.servers import Signer

BASE = "http://127.0.0.1:8080"
PATH = f"/cds-services/{SERVICE_ID}"


def pieces(workdir: Path) -> dict[str, Callable[[], Any]]:
    """The timed callables, by name (each builds what it needs once)."""
    from service.cds.pipeline import evaluate
    from service.web.app import create_app

    signer = Signer()
    trusted = signer.trusted_clients_file(workdir / "trusted-clients.json", [])
    config = {"data_dir": workdir, "auth": "on", "trusted_clients": trusted, "public_base_url": BASE}
    app = create_app(test_config=config)
    service, floor = app.test_client(), floor_app.test_client()
    audience = BASE + PATH
    text = json.dumps(real_patient_request(datetime.now(UTC)))
    raw = text.encode()
    state = app.extensions["bme"]
    deps = state.deps

    def call_service() -> None:
        headers = {"Content-Type": "application/json", "Authorization": "Bearer " + signer.mint(audience)}
        response = service.post(PATH, data=raw, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"service answered {response.status_code}: {response.data[:200]!r}")

    found: dict[str, Callable[[], Any]] = {
        "floor: echo app (test client)": lambda: floor.post(
            PATH, data=raw, headers={"Content-Type": "application/json", "Authorization": "Bearer x"}
        ),
        "service: whole request (test client, includes minting)": call_service,
        "  minting the JWT (client side; subtract)": lambda: signer.mint(audience),
        "  json.loads of the body": lambda: json.loads(raw),
        "  pipeline.evaluate incl. json.loads (recorder on)": lambda: evaluate(
            SERVICE_ID, json.loads(text), deps, datetime.now(UTC)
        ),
        "  pipeline.evaluate incl. json.loads (no recorder)": lambda: evaluate(
            SERVICE_ID, json.loads(text), dataclasses.replace(deps, recorder=None), datetime.now(UTC)
        ),
    }
    if state.authenticator is not None:
        found["  authenticate() incl. minting"] = lambda: state.authenticator.authenticate(
            "Bearer " + signer.mint(audience), audience
        )
    try:
        from service.web.security import parse_json

        found["  security.parse_json of the body"] = lambda: parse_json(raw)
    except ImportError as exc:
        print(f"(security.parse_json not timed: {exc})", file=sys.stderr)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Print the median time of every piece."""
    parser = argparse.ArgumentParser(prog="python -m bench.components", description=__doc__)
    parser.add_argument("--reps", type=int, default=300)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bme-components-") as tmp:
        found = pieces(Path(tmp))
        for fn in found.values():
            fn()  # warm-up
        times: dict[str, list[float]] = {name: [] for name in found}
        for _ in range(args.reps):
            for name, fn in found.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    for name, values in times.items():
        print(f"{statistics.median(values) * 1000:8.3f} ms  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
