"""The bme-cds command: evaluate offline (reproducible with --now), errors on stderr with exit 2, serve, report."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "patient-view-extensive-vertebral-bme.json"
NOW = "2026-11-21T09:00:00Z"


def bme_cds(*args: str, stdin: str | None = None, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the console command's entry point as a subprocess."""
    return subprocess.run([sys.executable, "-m", "service.cli", *args], input=stdin, capture_output=True,
                          text=True, timeout=120, cwd=cwd or ROOT, env={**os.environ, **(env or {})})


def test_evaluate_is_reproducible_with_a_pinned_clock(tmp_path: Path) -> None:
    first = bme_cds("evaluate", str(EXAMPLE), "--now", NOW)
    second = bme_cds("evaluate", "-", "--now", NOW, stdin=EXAMPLE.read_text())
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    cards = json.loads(first.stdout)["cards"]
    assert "R21" in {card["source"]["topic"]["code"] for card in cards}  # whole-vertebral-body BME in the report


@pytest.mark.parametrize(
    "stdin, message",
    (
        ("{not json", "cannot read a JSON request"),
        ('{"hook": "patient-view"}', "HTTP 400"),
        ('{"hook": "encounter-start", "hookInstance": "x", "context": {}}', "no service answers hook"),
    ),
)
def test_evaluate_refuses_invalid_input_with_exit_2(stdin: str, message: str) -> None:
    result = bme_cds("evaluate", "-", "--now", NOW, stdin=stdin)
    assert result.returncode == 2 and message in result.stderr and result.stdout == ""


def test_evaluate_without_required_prefetch_reports_412() -> None:
    body = json.loads(EXAMPLE.read_text())
    del body["prefetch"]["conditions"]
    result = bme_cds("evaluate", "-", stdin=json.dumps(body))
    assert result.returncode == 2 and "HTTP 412" in result.stderr and "conditions" in result.stderr


def test_bad_now_is_refused() -> None:
    result = bme_cds("evaluate", str(EXAMPLE), "--now", "yesterday")
    assert result.returncode == 2 and "--now" in result.stderr


def test_a_broken_value_set_stops_start_up_with_a_clear_message(tmp_path: Path) -> None:
    broken = tmp_path / "valuesets"
    broken.mkdir()
    (broken / "osteoporosis.json").write_text('{"resourceType": "Patient"}')
    result = bme_cds("evaluate", str(EXAMPLE), env={"BME_VALUESETS_DIR": str(broken)})
    assert result.returncode == 2 and "osteoporosis.json" in result.stderr and "Traceback" not in result.stderr


def test_feedback_report_on_an_empty_database(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "bme-cds.sqlite3").close()  # the service made it and issued nothing yet
    result = bme_cds("feedback-report", env={"BME_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0 and "No cards issued" in result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_runs_gunicorn_on_loopback_with_embedded_defaults(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "BME_AUTH": "off", "XDG_DATA_HOME": str(tmp_path / "xdg")}
    env.pop("BME_DATABASE_URL", None)
    env.pop("BME_DATA_DIR", None)
    proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", "2"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                    assert json.load(response) == {"status": "ready"}
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/cds-services/bme-patient-view",
                                         data=EXAMPLE.read_bytes(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            issued = {card["uuid"] for card in json.load(response)["cards"]}
        assert issued
        assert (tmp_path / "xdg" / "bme-cds" / "bme-cds.sqlite3").exists()  # the embedded SQLite default
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
    assert "gunicorn" in output.lower() and "Running on http" not in output  # never the Flask dev server
    # Issued cards are buffered off the request path; they are in the database once the workers have exited.
    db = sqlite3.connect(tmp_path / "xdg" / "bme-cds" / "bme-cds.sqlite3")
    try:
        stored = {row[0] for row in db.execute("SELECT uuid FROM issued_card")}
    finally:
        db.close()
    assert issued <= stored


def test_auth_off_is_refused_off_loopback() -> None:
    result = subprocess.run([sys.executable, "-m", "service.cli", "serve", "--host", "0.0.0.0"], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "BME_AUTH": "off"})
    assert result.returncode == 2 and "loopback" in result.stderr


def test_console_script_is_installed() -> None:
    assert shutil.which("bme-cds") is not None or (Path(sys.executable).parent / "bme-cds").exists()


def test_gunicorn_settings_freeze_the_start_up_heap_in_each_worker() -> None:
    """Workers freeze what they loaded so full GC passes skip it; the echo floor is served the same way."""
    import gc

    from bench.floor_app import gunicorn_settings as floor_settings
    from service.cli import GC_THRESHOLDS
    from service.cli import gunicorn_settings

    settings = gunicorn_settings("127.0.0.1", 8080, 2)
    assert settings["worker_class"] == "gthread" and settings["workers"] == 2 and settings["accesslog"] is None
    assert settings["control_socket_disable"] is True
    assert floor_settings is gunicorn_settings
    thresholds = gc.get_threshold()
    try:
        settings["post_worker_init"](object())
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        settings["worker_exit"](object(), object())
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_feedback_report_finds_the_service_database_from_any_folder(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    missing = bme_cds("feedback-report", cwd=elsewhere, env=env)
    assert missing.returncode == 2
    assert f"no database at {tmp_path / 'xdg' / 'bme-cds' / 'bme-cds.sqlite3'}" in missing.stderr
    assert not (elsewhere / "data").exists() and not (tmp_path / "xdg").exists()  # nothing stray created
    db_dir = tmp_path / "xdg" / "bme-cds"
    db_dir.mkdir(parents=True)
    sqlite3.connect(db_dir / "bme-cds.sqlite3").close()
    found = bme_cds("feedback-report", cwd=elsewhere, env=env)
    assert found.returncode == 0, found.stderr
    assert f"reading sqlite:///{db_dir / 'bme-cds.sqlite3'}" in found.stderr


def test_serve_threads_per_worker_can_be_set_and_must_be_positive() -> None:
    """`bme-cds serve --threads N` reaches gunicorn; the default stays the shipped setting."""
    from service.cli import build_parser
    from service.cli import gunicorn_settings
    from service.web.gunicorn_conf import THREADS

    shipped = gunicorn_settings("127.0.0.1", 8080, 2)
    assert shipped["threads"] == shipped["worker_connections"] == THREADS and shipped["keepalive"] == 0
    chosen = gunicorn_settings("127.0.0.1", 8080, 2, 2)
    assert chosen["threads"] == chosen["worker_connections"] == 2  # a worker accepts only with a thread free
    assert build_parser().parse_args(["serve", "--threads", "4"]).threads == 4
    assert build_parser().parse_args(["serve"]).threads is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--threads", "0"])
