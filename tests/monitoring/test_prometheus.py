"""A real Prometheus scrapes `bme-cds serve --workers 2`: its counters must equal exactly what was sent.

tools/test.sh installs Debian's prometheus (and promtool); without it these tests skip, unless
BME_TEST_REQUIRE_PROMETHEUS=1 says the script installed it, when a missing binary is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import time
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from bench.data import REPO
from bench.servers import Process
from service.core.cards import card_rule_ids

TOKEN = "prometheus-test-token-7"
SCENARIO = REPO / "tests" / "scenarios" / "R05" / "fires-knee-bme-no-cause"
CALLS, BAD, UNKNOWN = 48, 6, 4  # cards, 400 and 404 requests in the load


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (tools/test.sh installs Debian's prometheus)"
        if os.environ.get("BME_TEST_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _query(base: str, expr: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    answer = requests.get(url, timeout=5).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]  # type: ignore[no-any-return]


def _by(result: list[dict[str, Any]], *labels: str) -> dict[tuple[str, ...], float]:
    return {tuple(r["metric"].get(label, "") for label in labels): float(r["value"][1]) for r in result}


def _wait_for(base: str, expr: str, expected: float, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    seen: object = None
    while time.monotonic() < deadline:
        try:
            result = _query(base, expr)
            seen = float(result[0]["value"][1]) if result else None
            if seen == expected:
                return
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"{expr} = {seen}, expected {expected} after {timeout:.0f} s")


def _send_load(port: int, offset: int) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]]]:
    """The bounded load, 8 at a time: returns the statuses and the cards (rule, indicator) answered."""
    body = json.loads((SCENARIO / "request.json").read_text(encoding="utf-8"))
    base = f"http://127.0.0.1:{port}/cds-services"

    def one(i: int) -> tuple[str, int, list[dict[str, Any]]]:
        if i < CALLS:
            service, payload = "bme-patient-view", {**body, "hookInstance": f"prom-{offset}-{i}"}
        elif i < CALLS + BAD:
            service, payload = "bme-patient-view", {"hook": "patient-view"}
        else:
            service, payload = "no-such-service", body
        answer = requests.post(f"{base}/{service}", json=payload, timeout=30)
        return service, answer.status_code, answer.json().get("cards", []) if answer.status_code == 200 else []

    statuses: Counter[tuple[str, str]] = Counter()
    cards: Counter[tuple[str, str]] = Counter()
    with ThreadPoolExecutor(8) as pool:
        for service, status, answered in pool.map(one, range(CALLS + BAD + UNKNOWN)):
            statuses[(service if service != "no-such-service" else "(unknown)", str(status))] += 1
            for card in answered:
                for rule in card_rule_ids(card):
                    cards[(rule, card["indicator"])] += 1
    return statuses, cards


@pytest.mark.prometheus
def test_prometheus_sees_exactly_the_requests_and_cards_sent_across_two_workers(tmp_path: Path) -> None:
    prometheus = _binary("prometheus")
    port, prom_port = _free_port(), _free_port()
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PROMETHEUS_", "BME_"))}
    env.update(BME_AUTH="off", BME_DATA_DIR=str(data_dir), BME_METRICS_TOKEN=TOKEN,
               BME_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", PYTHONPATH=str(REPO))
    serve = Process(
        argv=[sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
              "--workers", "2"],
        env=env, log_path=tmp_path / "serve.log", ready_url=f"http://127.0.0.1:{port}/healthz",
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({  # JSON is YAML
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{
            "job_name": "bme-cds", "metrics_path": "/metrics", "scheme": "http",
            "authorization": {"type": "Bearer", "credentials": TOKEN},
            "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
        }],
    }), encoding="utf-8")
    prom = Process(
        argv=[prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
              f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
        env=dict(os.environ), log_path=tmp_path / "prometheus.log", ready_url=f"http://127.0.0.1:{prom_port}/-/ready",
    )
    base = f"http://127.0.0.1:{prom_port}"
    with serve.start(timeout=60), prom.start(timeout=60):
        assert len(serve.children()) == 2
        statuses, cards = _send_load(port, 0)
        assert statuses[("bme-patient-view", "200")] == CALLS and sum(cards.values()) > CALLS
        folder = next(data_dir.glob("metrics-*"))
        writers = {path.stem.rsplit("_", 1)[1] for path in folder.glob("counter_*.db")}
        assert len(writers & {str(pid) for pid in serve.children()}) == 2, "both workers served and counted"

        total = CALLS + BAD + UNKNOWN
        _wait_for(base, "sum(bme_cds_requests_total)", total)
        assert _by(_query(base, 'up{job="bme-cds"}'), "job") == {("bme-cds",): 1.0}
        assert _by(_query(base, "bme_cds_requests_total"), "service", "status") == {
            key: float(count) for key, count in statuses.items()
        }
        assert _by(_query(base, "bme_cds_cards_total"), "rule", "indicator") == {
            key: float(count) for key, count in cards.items()
        }
        assert _by(_query(base, "sum(bme_cds_request_duration_seconds_count)"), "job") == {("",): float(total)}
        assert _by(_query(base, "bme_cds_build_info"), "rules_version") != {}

        # A worker that dies keeps its counts: gunicorn starts another, and the totals only grow.
        os.kill(serve.children()[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while len(serve.children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        more_statuses, more_cards = _send_load(port, 1)
        _wait_for(base, "sum(bme_cds_requests_total)", 2 * total)
        assert _by(_query(base, "bme_cds_cards_total"), "rule", "indicator") == {
            key: float(count) for key, count in (cards + more_cards).items()
        }
    assert not list(data_dir.glob("metrics-*")), "the per-start metrics folder is removed at exit"


@pytest.mark.prometheus
def test_alert_rules_pass_promtool() -> None:
    promtool = _binary("promtool")
    import subprocess

    result = subprocess.run([promtool, "check", "rules", str(REPO / "deploy" / "prometheus" / "alerts.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.prometheus
def test_rule_alerts_fire_on_their_breaks_under_promtool() -> None:
    promtool = _binary("promtool")
    import subprocess

    result = subprocess.run([promtool, "test", "rules", "alerts_test.yml"], cwd=REPO / "deploy" / "prometheus",
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
