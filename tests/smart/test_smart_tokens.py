"""SMART secrets at rest: encrypted in the launch table, rotated keys still read, unknown keys end the launch."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from flask.testing import FlaskClient
from sqlalchemy import create_engine
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.config import ConfigError
from service.smart.store import LaunchContext
from service.smart.store import LaunchStore
from service.smart.store import SmartLaunchRow
from service.smart.tokens import KEY_FILE_NAME
from service.smart.tokens import TokenCipher
from service.smart.tokens import UnreadableSecret
from service.smart.tokens import load_keys
from tests.smart.authserver import TestEhr
from tests.smart.test_smart_flow import full_launch

TOKEN = "eyJhbGciOi.secret-access-token.sig"


def _store(tmp_path: Path, keys: list[bytes], now: list[float]) -> LaunchStore:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    return LaunchStore(engine, clock=lambda: now[0], cipher=TokenCipher(keys))


def _activated(store: LaunchStore) -> str:
    launch = store.create(browser_key="b", state="s", code_verifier="verifier-123", kind="ehr",
                          iss="https://ehr.example/fhir", token_endpoint="https://ehr.example/token",
                          lifetime_seconds=600)
    pending, problem = store.take_pending("s", "b")
    assert pending is not None and problem == "" and pending.code_verifier == "verifier-123"
    store.activate(pending, LaunchContext(access_token=TOKEN, expires_in=3600, granted_scope="launch",
                                          patient="p1", encounter="", need_patient_banner=True, card_rule=""),
                   session_seconds=3600)
    return launch.id


def _stored_row(store: LaunchStore, launch_id: str) -> SmartLaunchRow:
    with Session(store.engine) as session:
        row = session.scalars(select(SmartLaunchRow).where(SmartLaunchRow.id == launch_id)).one()
        session.expunge(row)
        return row


def test_token_and_verifier_are_never_stored_in_the_clear(tmp_path: Path) -> None:
    now = [1000.0]
    store = _store(tmp_path, [Fernet.generate_key()], now)
    launch_id = _activated(store)
    row = _stored_row(store, launch_id)
    assert row.access_token and TOKEN not in row.access_token
    assert (tmp_path / "db.sqlite3").read_bytes().find(TOKEN.encode()) == -1
    launch, expired = store.get(launch_id, "b")
    assert launch is not None and not expired and launch.access_token == TOKEN


def test_a_rotated_key_still_reads_tokens_sealed_by_the_old_one(tmp_path: Path) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    now = [1000.0]
    launch_id = _activated(_store(tmp_path, [old], now))
    rotated = _store(tmp_path, [new, old], now)
    launch, expired = rotated.get(launch_id, "b")
    assert launch is not None and not expired and launch.access_token == TOKEN
    # New tokens are sealed with the first key only: the old key alone cannot read them.
    assert TokenCipher([new]).open(TokenCipher([new, old]).seal("x")) == "x"
    with pytest.raises(UnreadableSecret):
        TokenCipher([old]).open(TokenCipher([new, old]).seal("x"))


def test_a_token_whose_key_was_dropped_ends_the_launch_without_leaking(tmp_path: Path) -> None:
    now = [1000.0]
    launch_id = _activated(_store(tmp_path, [Fernet.generate_key()], now))
    launch, expired = _store(tmp_path, [Fernet.generate_key()], now).get(launch_id, "b")
    assert launch is not None and expired and launch.access_token == ""


def test_default_key_file_is_made_once_private_and_shared(tmp_path: Path) -> None:
    first = load_keys((), tmp_path)
    second = load_keys((), tmp_path)
    assert first == second and len(first) == 1
    mode = stat.S_IMODE(os.stat(tmp_path / KEY_FILE_NAME).st_mode)
    assert mode == 0o600


def _load_into(folder: str, keys: multiprocessing.Queue[str]) -> None:
    try:
        keys.put(load_keys((), Path(folder))[0].decode())
    except ConfigError as exc:
        keys.put(f"failed: {exc}")


def test_workers_starting_together_all_read_the_one_key(tmp_path: Path) -> None:
    """gunicorn's workers boot at once: none may read a half-made key file (a failed boot stops the server)."""
    fork = multiprocessing.get_context("fork")
    for trial in range(60):  # the old O_EXCL-then-write failed about 1 trial in 12 of these
        folder = tmp_path / str(trial)
        keys = fork.Queue()
        workers = [fork.Process(target=_load_into, args=(str(folder), keys)) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)
        seen = {keys.get(timeout=5) for _ in workers}
        assert seen == {(folder / KEY_FILE_NAME).read_text().strip()}, seen
        assert [p.name for p in folder.iterdir()] == [KEY_FILE_NAME]  # no temporary file left behind


def test_configured_keys_win_and_a_bad_key_stops_the_start(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    assert load_keys((key,), tmp_path) == [key.encode()]
    assert not (tmp_path / KEY_FILE_NAME).exists()
    with pytest.raises(ConfigError):
        TokenCipher([b"not-a-fernet-key"])


def test_full_launch_stores_only_the_sealed_token(smart_client: FlaskClient, ehr: TestEhr,
                                                  tmp_path: Path) -> None:
    page = full_launch(smart_client, ehr)
    assert page.status_code == 200
    token = ehr.recorded.issued_tokens[0]
    databases = list(tmp_path.rglob("*.sqlite3*"))
    assert databases
    assert all(token.encode() not in path.read_bytes() for path in databases)
