"""`python -m bench.observability`: worker CPU per request with metrics and tracing off, metrics on, both on.

Four `bme-cds serve` instances (off; metrics; metrics and tracing as configured by default, one trace in ten
recorded; metrics and tracing of every request), each with 2 sync workers, authentication off on loopback and the
benchmark's real-patient body, take wrk load in rotating rounds, one at a time; worker CPU (utime+stime of the
gunicorn workers from /proc) is summed over the rounds and divided by the requests answered. Tracing exports over
OTLP/HTTP to a sink in this process that answers 200, so the workers pay for building, batching and serialising
every span. Issue 16's target: at most 5% more worker CPU per request with metrics and tracing on.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

from bench.data import REPO
from bench.data import SERVICE_ID
from bench.data import real_patient_request
from bench.servers import Process
from bench.servers import cpu_seconds
from bench.servers import free_port

VARIANTS = ("off", "metrics", "metrics+tracing", "metrics+tracing every request")
_REQUESTS = re.compile(r"(\d+) requests in")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


class _Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that reads and drops every export."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        """Accept one export."""
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet."""


def _env(variant: str, port: int, data_dir: Path, sink_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PROMETHEUS_", "BME_"))}
    env.update(BME_AUTH="off", BME_DATA_DIR=str(data_dir), BME_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
               BME_LOG_LEVEL="WARNING", PYTHONPATH=str(REPO))
    if variant != "off":
        env["BME_METRICS_TOKEN"] = "bench-metrics-token-0123"
    if variant.startswith("metrics+tracing"):
        env["OTEL_TRACES_EXPORTER"] = "otlp"
        env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = f"http://127.0.0.1:{sink_port}/v1/traces"
    if variant.endswith("every request"):  # the service's default records one trace in ten
        env["OTEL_TRACES_SAMPLER"] = "parentbased_always_on"
    return env


def _wrk(port: int, script: Path, seconds: float, connections: int) -> tuple[int, int]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", str(script),
         f"http://127.0.0.1:{port}/cds-services/{SERVICE_ID}"],
        capture_output=True, text=True, check=True,
    ).stdout
    requests = _REQUESTS.search(out)
    errors = _NON_2XX.search(out)
    return (int(requests.group(1)) if requests else 0), (int(errors.group(1)) if errors else 0)


def measure(
    workdir: Path, rounds: int, seconds: float, connections: int, variants: tuple[str, ...] = VARIANTS
) -> dict[str, tuple[float, int, int]]:
    """Per variant: worker CPU ms per request, requests answered, non-2xx answers ("off again" = a second off)."""
    body = workdir / "body.json"
    body.write_text(json.dumps(real_patient_request()), encoding="utf-8")
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'local f = assert(io.open("{body}", "rb"))\nwrk.body = f:read("*a")\nf:close()\n',
        encoding="utf-8",
    )
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    servers = {}
    for variant in variants:
        port = free_port()
        servers[variant] = (port, Process(
            argv=[sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                  "--workers", "2"],
            env=_env(variant.removesuffix(" again"), port, workdir / variant, sink.server_address[1]),
            log_path=workdir / f"{variant}.log", ready_url=f"http://127.0.0.1:{port}/healthz",
        ).start(timeout=60))
    totals = {variant: [0.0, 0, 0] for variant in variants}
    try:
        for variant in variants:  # warm-up: imports, caches, first GC cycles
            _wrk(servers[variant][0], script, 2.0, connections)
        for index in range(rounds):
            shift = index % len(variants)
            order = variants[shift:] + variants[:shift]  # rotate: drift hits each variant alike
            for variant in order:
                port, process = servers[variant]
                workers = process.children()
                before = cpu_seconds(workers)
                requests, errors = _wrk(port, script, seconds, connections)
                totals[variant][0] += cpu_seconds(workers) - before
                totals[variant][1] += requests
                totals[variant][2] += errors
    finally:
        for _, process in servers.values():
            process.stop()
        sink.shutdown()
    return {v: (1000 * t[0] / max(1, int(t[1])), int(t[1]), int(t[2])) for v, t in totals.items()}


def measure_in_process(rounds: int, requests: int) -> dict[str, float]:
    """The same three set-ups in one process through a Flask test client: worker CPU ms per request, no HTTP noise.

    prometheus-client runs in multiprocess mode as under `bme-cds serve`; spans (one trace in ten) go through a
    batch processor to an exporter that encodes the OTLP protobuf and drops it.
    """
    import gc
    import logging
    from pathlib import Path as _Path
    from typing import Any

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-obs-mp-")  # before the import below
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult
    from opentelemetry.sdk.trace.sampling import ParentBased
    from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

    from service.obs import tracing
    from service.web.app import create_app

    class Encode(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            encode_spans(spans).SerializeToString()
            return SpanExportResult.SUCCESS

    logging.disable(logging.CRITICAL)
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(tracing.DEFAULT_SAMPLE_RATIO)))
    provider.add_span_processor(BatchSpanProcessor(Encode()))
    clients = {}
    for name, token, tracer in (("off", "", None), ("metrics", "bench-metrics-token-0123", None),
                                ("metrics+tracing", "bench-metrics-token-0123", provider.get_tracer("bench"))):
        tracing.tracer_from_env = lambda *_a, _t=tracer, **_k: _t  # type: ignore[assignment,misc]
        app = create_app(test_config={"data_dir": _Path(tempfile.mkdtemp(prefix="bench-obs-")), "auth": "off",
                                      "metrics_token": token})
        clients[name] = app.test_client()
    body = json.dumps(real_patient_request())
    path = f"/cds-services/{SERVICE_ID}"
    for client in clients.values():
        for _ in range(50):
            client.post(path, data=body, content_type="application/json")
    gc.collect()
    gc.freeze()  # as a gunicorn worker does after start-up (service/cli.py)
    totals = dict.fromkeys(clients, 0.0)
    for index in range(rounds):
        order = list(clients.items()) if index % 2 == 0 else list(reversed(clients.items()))
        for name, client in order:
            started = time.process_time()
            for _ in range(requests):
                client.post(path, data=body, content_type="application/json")
            totals[name] += time.process_time() - started
    provider.force_flush()
    return {name: 1000 * total / (rounds * requests) for name, total in totals.items()}


def main() -> int:
    """Run the measurement and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--noise", action="store_true", help="add a second 'off' server: the A/A difference")
    parser.add_argument("--in-process", action="store_true", help="measure through a Flask test client instead")
    args = parser.parse_args()
    if args.in_process:
        per_request = measure_in_process(args.rounds, 300)
        print(f"in process, {args.rounds} alternating rounds of 300 requests per set-up")
        for name, cpu_ms in per_request.items():
            print(f"| {name} | {cpu_ms:.3f} ms | {100 * (cpu_ms / per_request['off'] - 1):+.1f}% |")
        return 0
    variants = VARIANTS + ("off again",) if args.noise else VARIANTS
    with tempfile.TemporaryDirectory(prefix="bench-obs-") as tmp:
        results = measure(Path(tmp), args.rounds, args.seconds, args.connections, variants)
    base = results["off"][0]
    print(f"wrk -t1 -c{args.connections}, {args.rounds} rotating rounds of {args.seconds:g} s per variant, "
          f"nproc {os.cpu_count()}")
    print("| variant | worker CPU per request | vs off | requests | non-2xx |")
    print("|---|---|---|---|---|")
    for variant, (cpu_ms, requests, errors) in results.items():
        print(f"| {variant} | {cpu_ms:.3f} ms | {100 * (cpu_ms / base - 1):+.1f}% | {requests:,} | {errors} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
