"""Authentication on while the replay store (the database) is down, over HTTP: hook calls fail closed.

The shipped gunicorn settings (two gthread workers) serve the real app with authentication on; the EHR's JWK
Set is on a loopback server. While the database cannot be written (SQLite made immutable, PostgreSQL stopped)
the service cannot tell a replayed token from a first use, so every hook call with a valid, fresh JWT gets
503 + Retry-After + OperationOutcome within the database deadline; once the database is back the same kind
of call succeeds again, with no restart or reload, and replays are refused again.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.faults.conftest import immutable
from tests.faults.conftest import restart
from tests.faults.conftest import stop
from tests.faults.served import Gunicorn
from tests.faults.served import serve
from tests.pg import TempPostgres
from tests.security.support import ISSUER
from tests.security.support import PUBLIC_BASE
from tests.security.support import RecordingServer
from tests.security.support import SigningKey
from tests.security.support import claims
from tests.security.support import new_key
from tests.security.support import sign

TIMEOUT = 1  # BME_DB_TIMEOUT_SECONDS
RETRY = 1  # BME_DB_RETRY_AFTER_SECONDS
SERVICE = "/cds-services/bme-patient-view"
EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "patient-view-extensive-vertebral-bme.json")
                     .read_text(encoding="utf-8"))
BODY = {key: value for key, value in EXAMPLE.items() if key != "fhirServer"}  # all data comes in prefetch


class Ehr:
    """The EHR's signing key and the allow-listed URL of its JWK Set."""

    def __init__(self, key: SigningKey, jku: str) -> None:
        self.key = key
        self.jku = jku

    def token(self) -> str:
        """A valid, fresh JWT for the patient-view service (a new jti every time)."""
        return sign(self.key, claims(PUBLIC_BASE + SERVICE), jku=self.jku)


@pytest.fixture
def ehr() -> Iterator[Ehr]:
    key = new_key("ES384")
    server = RecordingServer(documents={"/jwks.json": {"keys": [key.public_jwk()]}})
    server.start()
    yield Ehr(key, server.base + "/jwks.json")
    server.stop()


def _serve_with_auth(tmp_path: Path, ehr: Ehr, database_url: str) -> Any:
    clients = tmp_path / "clients.json"
    clients.write_text(json.dumps({"clients": [{"issuer": ISSUER, "jku": [ehr.jku]}]}), encoding="utf-8")
    env = {
        "BME_AUTH": "on",
        "BME_TRUSTED_CLIENTS": str(clients),
        "BME_PUBLIC_BASE_URL": PUBLIC_BASE,
        "BME_DATABASE_URL": database_url,
        "BME_DB_TIMEOUT_SECONDS": str(TIMEOUT),
        "BME_DB_RETRY_AFTER_SECONDS": str(RETRY),
        "BME_SPOOL_DIR": str(tmp_path / "spool"),  # on a healthy disk: issued-card records are kept
    }
    return serve(tmp_path, env, timeout=30, workers=2)


def _hook(served: Gunicorn, token: str) -> requests.Response:
    """One hook call on its own connection, so the calls spread over both workers."""
    return requests.post(served.url + SERVICE, json=BODY, timeout=30,
                         headers={"Authorization": f"Bearer {token}", "Connection": "close"})


def _timed_hook(served: Gunicorn, token: str) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = _hook(served, token)
    return response, time.monotonic() - started


def _fails_closed_then_recovers(served: Gunicorn, ehr: Ehr, fault: Callable[[], None],
                                heal: Callable[[], None]) -> None:
    booted = len(served.messages("Booting worker"))
    token = ehr.token()
    first = _hook(served, token)
    assert first.status_code == 200, first.text[:300]
    assert first.json()["cards"]
    replayed = _hook(served, token)
    assert replayed.status_code == 401, replayed.text[:300]  # the store is doing its job before the fault

    fault()
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(lambda _n: _timed_hook(served, ehr.token()), range(12)))
        for response, took in answers:
            # Valid, fresh tokens, yet refused: no card is issued on a token whose use cannot be recorded.
            assert response.status_code == 503, response.text[:300]
            assert response.headers["Content-Type"].startswith("application/json")
            assert response.headers["Retry-After"] == str(RETRY)
            outcome = response.json()
            assert outcome["resourceType"] == "OperationOutcome"
            assert outcome["issue"][0]["diagnostics"].startswith("BME-0503:")
            assert "replay store" in outcome["issue"][0]["diagnostics"]
            assert took < TIMEOUT + 2, f"a hook call waited {took:.1f} s for the replay store"
        assert requests.get(served.url + "/readyz", timeout=10).status_code == 503
        _a_worker_restarts_during_the_outage(served, ehr, booted)
    finally:
        heal()

    # Back by itself: fresh tokens succeed again within seconds; until then every answer is the same 503.
    deadline = time.monotonic() + 20
    while True:
        token = ehr.token()
        response = _hook(served, token)
        if response.status_code == 200:
            break
        assert response.status_code == 503, response.text[:300]
        assert time.monotonic() < deadline, "hook calls did not succeed again after the database came back"
        time.sleep(0.3)
    assert response.json()["cards"]
    # Each worker's guard retries the database on its first call after BME_DB_RETRY_AFTER_SECONDS: until
    # then the other worker may still answer 503 (closed, never open). After that, every worker is back.
    time.sleep(RETRY + 0.5)
    assert _hook(served, token).status_code == 401  # replays are refused again: the store records once more
    for _ in range(6):  # both workers, not just the one that answered first
        assert _hook(served, ehr.token()).status_code == 200
    assert len(served.messages("Booting worker")) == booted + 1  # only the one crashed on purpose
    assert served.process.poll() is None


def _a_worker_restarts_during_the_outage(served: Gunicorn, ehr: Ehr, booted: int) -> None:
    """A worker that starts while the database is down boots and answers 503; gunicorn itself stays up.

    A worker that failed to boot would make gunicorn's master stop the whole service ("Worker failed to boot").
    """
    with pytest.raises(requests.ConnectionError):
        requests.get(served.url + "/__fault/crash", timeout=10)
    served.wait_for_workers(booted + 1)
    watch_until = time.monotonic() + 3  # the new worker loads the app (and meets the database) meanwhile
    while time.monotonic() < watch_until:
        assert served.process.poll() is None, served.log.read_text()[-2000:]
        assert _hook(served, ehr.token()).status_code == 503
        time.sleep(0.1)
    assert not served.messages("Exception in worker process")
    assert served.process.poll() is None


def test_sqlite_made_read_only_fails_closed_then_recovers(tmp_path: Path, ehr: Ehr) -> None:
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not available")
    folder = tmp_path / "db"
    folder.mkdir()
    try:
        with _serve_with_auth(tmp_path, ehr, f"sqlite:///{folder / 'bme.sqlite3'}") as served:
            _fails_closed_then_recovers(served, ehr, lambda: immutable(folder, True),
                                        lambda: immutable(folder, False))
    finally:
        subprocess.run(["chattr", "-R", "-i", str(folder)], check=False, capture_output=True)


@pytest.mark.postgres
def test_postgresql_stopped_fails_closed_then_recovers(tmp_path: Path, ehr: Ehr, postgres: TempPostgres) -> None:
    with _serve_with_auth(tmp_path, ehr, postgres.url) as served:  # type: ignore[attr-defined]
        _fails_closed_then_recovers(served, ehr, lambda: stop(postgres), lambda: restart(postgres))
