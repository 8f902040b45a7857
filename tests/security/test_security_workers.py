"""A replayed token is refused across gunicorn workers: the jti store is the database, not process memory."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from service.store.db import make_engine
from tests.processes import stop
from tests.security.support import ISSUER
from tests.security.support import PUBLIC_BASE
from tests.security.support import SigningKey
from tests.security.support import claims
from tests.security.support import sign

ROOT = Path(__file__).resolve().parents[2]
CONNECTIONS_PER_ROUND = 6
MAX_ROUNDS = 25


@pytest.fixture
def gunicorn(tmp_path: Path, jku: str) -> Iterator[tuple[str, Path]]:
    """`gunicorn -w 2` serving the real app on a temporary SQLite file; yields its URL and access log."""
    if shutil.which("gunicorn") is None and not (Path(sys.executable).parent / "gunicorn").exists():
        pytest.fail("gunicorn is a runtime dependency of the service and must be installed")
    database = tmp_path / "workers.sqlite3"
    make_engine(f"sqlite:///{database}").dispose()  # tables exist before two workers start
    clients = tmp_path / "clients.json"
    clients.write_text(json.dumps({"clients": [{"issuer": ISSUER, "jku": [jku]}]}), encoding="utf-8")
    access_log = tmp_path / "access.log"
    # The test binds and listens first and hands the socket to gunicorn (fd://): no other process can take the
    # port between choosing it and serving on it, so the answers below are always this gunicorn's.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    env = {
        **os.environ,
        "BME_DATA_DIR": str(tmp_path),
        "BME_DATABASE_URL": f"sqlite:///{database}",
        "BME_AUTH": "on",
        "BME_TRUSTED_CLIENTS": str(clients),
        "BME_PUBLIC_BASE_URL": PUBLIC_BASE,
        # Six requests write the same jti at once; on a loaded machine SQLite's writer lock can take longer than
        # the default 2 s deadline, and a 503 is not what this test is about (tests/faults covers deadlines).
        "BME_DB_TIMEOUT_SECONDS": "15",
        "PYTHONPATH": str(ROOT),
    }
    errors = (tmp_path / "gunicorn.err").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "2",
            "-k",
            "sync",
            "-b",
            f"fd://{listener.fileno()}",
            "--access-logfile",
            str(access_log),
            "--access-logformat",
            "%(p)s %(s)s %(r)s",
            "tests.security.wsgi_app:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=errors,
        pass_fds=[listener.fileno()],
    )
    listener.close()  # gunicorn holds its own copy
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # wait for readiness (at most ~30 s); not a timing assertion
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited: {(tmp_path / 'gunicorn.err').read_text()[-2000:]}")
            try:
                if requests.get(url + "/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or a worker still booting
                time.sleep(0.1)
        else:
            pytest.fail("gunicorn did not become ready")
        yield url, access_log
        if process.poll() is not None:  # a worker that failed to boot stops gunicorn: say why, not just "reset"
            pytest.fail(f"gunicorn exited during the test: {(tmp_path / 'gunicorn.err').read_text()[-2000:]}")
    finally:
        stop(process, timeout=10)
        errors.close()


def _send(url: str, token: str) -> int:
    """One request on its own connection (no session), so the OS spreads them over the workers."""
    response = requests.get(
        url + "/cds-services", headers={"Authorization": f"Bearer {token}", "Connection": "close"}, timeout=60
    )
    return response.status_code


def _worker_pids(access_log: Path, marker: int) -> set[str]:
    """Pids of the workers that logged discovery requests after byte offset `marker`."""
    with access_log.open("rb") as handle:
        handle.seek(marker)
        lines = handle.read().decode().splitlines()
    return {line.split()[0] for line in lines if "/cds-services" in line}


def test_a_replay_is_refused_by_every_worker(
    gunicorn: tuple[str, Path], es_key: SigningKey, jku: str
) -> None:
    url, access_log = gunicorn
    rounds: list[tuple[list[int], set[str]]] = []
    with ThreadPoolExecutor(max_workers=CONNECTIONS_PER_ROUND) as pool:
        for _ in range(MAX_ROUNDS):
            token = sign(es_key, claims(PUBLIC_BASE + "/cds-services"), jku=jku)
            marker = access_log.stat().st_size if access_log.exists() else 0
            statuses = sorted(pool.map(_send, [url] * CONNECTIONS_PER_ROUND, [token] * CONNECTIONS_PER_ROUND))
            time.sleep(0.2)  # let gunicorn flush its access log lines for this round
            rounds.append((statuses, _worker_pids(access_log, marker)))
            if len(rounds[-1][1]) >= 2:
                break
    for statuses, _ in rounds:
        assert statuses == [200] + [401] * (CONNECTIONS_PER_ROUND - 1), statuses
    assert any(len(pids) >= 2 for _, pids in rounds), "the requests never reached both workers"
