"""bme-cds: serve the service under gunicorn, evaluate one request offline, report feedback, monitor rules."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

from service.config import ConfigError
from service.config import Settings
from service.config import load_settings
from service.obs import multiproc

# A request allocates tens of thousands of containers, nearly all freed by reference counting: with the default
# (700, 10, 10) the cyclic GC ran dozens of times per request (a request cost 76 us less, 3%, in an A/B run).
GC_THRESHOLDS = (20_000, 20, 20)


def _worker_started(_worker: object) -> None:
    """In each gunicorn worker after start-up: log lines written by a writer thread, the start-up heap frozen.

    gc.freeze moves everything the worker loaded (app, schemas, value sets) out of the cyclic GC's reach: a request
    allocates tens of thousands of objects, so full collections run every few requests, and without it each of
    them re-walks the worker's whole start-up heap (about a tenth of a request's CPU).
    """
    from service.web.logs import write_in_background

    write_in_background()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _worker_exiting(_server: object, _worker: object) -> None:
    """In a gunicorn worker as it exits: the queued log lines are written before it goes."""
    from service.web.logs import stop_background_writer

    stop_background_writer()


def gunicorn_settings(host: str, port: int, workers: int, threads: int | None = None) -> dict[str, Any]:
    """The gunicorn settings of `bme-cds serve` (the benchmark's echo floor is served with the same)."""
    from service.web.gunicorn_conf import serve_settings

    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "accesslog": None,  # the app writes its own structured access log
        "post_worker_init": _worker_started,
        "worker_exit": _worker_exiting,
        "child_exit": multiproc.child_exit,  # metrics: a dead worker's gauges go, its counters stay
        # gthread workers, JSON errors and log lines, no control socket; more threads hold more slow clients and
        # FHIR waits at a longer latency tail (docs/operations.md)
        **(serve_settings() if threads is None else serve_settings(threads)),
    }


def _positive(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def default_workers() -> int:
    """One worker process per core, at least two (the service is CPU-bound; more processes only contend)."""
    return max(2, os.cpu_count() or 1)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the app under gunicorn (never the Flask development server)."""
    from gunicorn.app.base import BaseApplication

    from service.web.auth import assert_auth_off_allowed
    from service.web.logs import configure_logging

    configure_logging(settings.log_level)  # first, so every line (the auth-off warning too) is JSON
    if settings.auth == "off":
        assert_auth_off_allowed(args.host)  # ConfigError (exit 2) unless bound to loopback

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for name, value in gunicorn_settings(args.host, args.port, args.workers, args.threads).items():
                self.cfg.set(name, value)
            self.cfg.set("proc_name", "bme-cds")

        def load(self) -> Any:
            from service.web.app import create_app

            return create_app(settings)

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Before prometheus-client loads: every worker writes its metrics to files in a folder fresh for this start.
    metrics_dir = multiproc.prepare(settings.data_dir) if settings.metrics_token else None
    # Build the app once in the master so a broken value set, policy or trusted-clients file stops start-up
    # with a clear message instead of gunicorn workers failing to boot one after another.
    from service.web.app import create_app

    probe = create_app(settings).extensions["bme"]
    probe.pool.close()
    probe.engine.dispose()
    print(
        f"bme-cds: serving on http://{args.host}:{args.port}/cds-services with {args.workers} workers"
        f"{f' x {args.threads} threads' if args.threads else ''} "
        f"(auth {settings.auth}, database {settings.effective_database_url.split('@')[-1]})",
        file=sys.stderr,
    )
    try:
        Server().run()
    finally:
        if metrics_dir is not None and metrics_dir.name.startswith("metrics-"):
            multiproc.remove(metrics_dir)
    return 0


def _read_request(path: str) -> Any:
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    return json.loads(text)


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    """Run one request through the same pipeline, offline, and print the response JSON."""
    from service.cds.pipeline import evaluate
    from service.compose import build_deps
    from service.errors import CdsError

    try:
        body = _read_request(args.request)
    except (OSError, ValueError) as exc:
        print(f"bme-cds evaluate: cannot read a JSON request from {args.request}: {exc}", file=sys.stderr)
        return 2
    try:
        now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
    except ValueError:
        print(f"bme-cds evaluate: --now must be an ISO date-time, got {args.now!r}", file=sys.stderr)
        return 2
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    deps = build_deps(settings)  # offline: no FHIR pool, nothing recorded
    service_id = args.service
    if service_id is None:
        hook = body.get("hook") if isinstance(body, dict) else None
        matches = [s.id for s in deps.registry if s.hook == hook]
        if not matches:
            print(f"bme-cds evaluate: no service answers hook {hook!r}; use --service", file=sys.stderr)
            return 2
        service_id = matches[0]
    try:
        outcome = evaluate(service_id, body, deps, now)
    except CdsError as exc:
        print(f"bme-cds evaluate: HTTP {exc.status} {exc.error_code}: {exc.message}", file=sys.stderr)
        for detail in exc.details:
            print(f"  - {detail}", file=sys.stderr)
        return 2
    json.dump(outcome.body, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    """Replay the patient-view over a Bulk FHIR export (service/replay, docs/replay.md)."""
    from service.replay.command import run

    return run(args, settings)


def _feedback_report(args: argparse.Namespace, settings: Settings) -> int:
    """Print accepted/overridden counts and override reasons per rule id (or write the HTML page)."""
    from sqlalchemy.engine import make_url

    from service.store.db import make_engine
    from service.store.feedback import report_text

    url = make_url(settings.effective_database_url)
    # Say which database is read: a report of "no cards" from the wrong file looks like a quiet service.
    sys.stderr.write(f"bme-cds feedback-report: reading {url.render_as_string(hide_password=True)}\n")
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        sys.stderr.write(
            f"bme-cds feedback-report: no database at {url.database}; set BME_DATA_DIR or BME_DATABASE_URL "
            "as the service has them\n"
        )
        return 2
    engine = make_engine(settings.effective_database_url)
    if args.html:
        from service.store import report_html
        from service.store.monitor import load_records

        records = load_records(engine)
        page = report_html.render(records.history, records.reasons, reasons_daily=records.reasons_daily,
                                  generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
        Path(args.html).write_text(page, encoding="utf-8")
        print(f"bme-cds feedback-report: wrote {args.html}", file=sys.stderr)
        return 0
    sys.stdout.write(report_text(engine))
    return 0


def _monitor(args: argparse.Namespace, settings: Settings) -> int:
    """Flag rules whose daily firing or override rate left its baseline; exit 1 when any is flagged."""
    from datetime import date

    from service.store import drift
    from service.store.db import make_engine
    from service.store.monitor import default_until
    from service.store.monitor import load_records

    try:
        until = date.fromisoformat(args.until) if args.until else default_until()
    except ValueError:
        print(f"bme-cds monitor: --until must be a date (YYYY-MM-DD), got {args.until!r}", file=sys.stderr)
        return 2
    config = drift.DriftConfig(baseline_days=args.baseline_days, window_days=args.window_days)
    records = load_records(make_engine(settings.effective_database_url), today=until)
    statuses = drift.check(records.history, until, config)
    sys.stdout.write(drift.format_table(statuses, until, config))
    flagged = [s.rule_id for s in statuses if s.flags]
    if flagged:
        print(f"bme-cds monitor: {len(flagged)} rule(s) flagged: {', '.join(flagged)}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    from service.web.gunicorn_conf import THREADS

    parser = argparse.ArgumentParser(
        prog="bme-cds", description="CDS Hooks 2.0 service for bone marrow edema"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the service under gunicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=default_workers())
    serve.add_argument(
        "--threads", type=_positive, default=None,
        help=f"threads per worker (default {THREADS}); more hold more slow clients and calls waiting on the FHIR "
             "server, at a longer latency tail (docs/operations.md)",
    )
    evaluate = commands.add_parser(
        "evaluate", help="run one CDS Hooks request offline and print the response"
    )
    evaluate.add_argument("request", help="request JSON file, or - for standard input")
    evaluate.add_argument("--now", help="pin the clock, e.g. 2026-11-21T09:00:00Z")
    evaluate.add_argument("--service", help="service id (default: the one that answers the request's hook)")
    report = commands.add_parser("feedback-report", help="print feedback per card topic (rule id)")
    report.add_argument("--html", metavar="FILE", help="write a self-contained HTML page with plots instead")
    monitor = commands.add_parser(
        "monitor", help="flag rules whose firing or override rate left its baseline (exit 1 when flagged)"
    )
    monitor.add_argument("--until", help="last day of the window, YYYY-MM-DD (default: yesterday, UTC)")
    monitor.add_argument("--baseline-days", type=int, default=28)
    monitor.add_argument("--window-days", type=int, default=3)
    from service.replay.command import add_arguments

    add_arguments(commands.add_parser("replay", help="replay the patient-view over a Bulk FHIR export"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the bme-cds console command."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"bme-cds: configuration error: {exc}", file=sys.stderr)
        return 2
    from service.core.policy import PolicyError
    from service.core.valuesets import ValueSetError

    handlers = {"serve": _serve, "evaluate": _evaluate, "feedback-report": _feedback_report, "monitor": _monitor,
                "replay": _replay}
    handler = handlers[args.command]
    try:
        return handler(args, settings)
    except (ConfigError, PolicyError, ValueSetError) as exc:
        print(f"bme-cds: cannot start: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
