"""SMART secrets at rest: encrypted in the launch table, rotated keys still read, unknown keys end the launch."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from unittest import mock

import pytest
from cryptography.fernet import Fernet
from flask.testing import FlaskClient
from sqlalchemy import create_engine
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.config import ConfigError
from service.smart import tokens
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


def _second_worker_boots_while_the_first_makes_its_key(folder: Path) -> tuple[list[bytes], list[bytes]]:
    """Run load_keys, and inside its key generation run it again on the same folder (a second worker booting)."""
    real = Fernet.generate_key
    inner: list[list[bytes]] = []

    def generate() -> bytes:
        if not inner:
            inner.append([])
            inner[0] = load_keys((), folder)
        return real()

    with mock.patch.object(tokens.Fernet, "generate_key", side_effect=generate):
        outer = load_keys((), folder)
    return inner[0], outer


def test_a_worker_booting_while_another_makes_the_key_reads_the_same_key(tmp_path: Path) -> None:
    """gunicorn's workers boot at once: none may read a half-made key file (a failed boot stops the server)."""
    inner, outer = _second_worker_boots_while_the_first_makes_its_key(tmp_path)
    assert inner == outer == [(tmp_path / KEY_FILE_NAME).read_bytes().strip()]
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE_NAME]  # no temporary file left behind


def test_without_hard_links_the_key_is_written_in_place_and_shared(tmp_path: Path) -> None:
    """vfat and some SMB mounts have no hard links: the key file is still made, once."""
    no_links = OSError(errno.EPERM, "Operation not permitted")
    with mock.patch.object(tokens.os, "link", side_effect=no_links):
        inner, outer = _second_worker_boots_while_the_first_makes_its_key(tmp_path)
    assert inner == outer == [(tmp_path / KEY_FILE_NAME).read_bytes().strip()]
    assert stat.S_IMODE(os.stat(tmp_path / KEY_FILE_NAME).st_mode) == 0o600


def test_an_unreadable_or_empty_key_file_stops_the_start_with_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE_NAME).symlink_to(tmp_path / "gone")
    with pytest.raises(ConfigError, match="cannot read"):
        load_keys((), tmp_path)
    (tmp_path / KEY_FILE_NAME).unlink()
    (tmp_path / KEY_FILE_NAME).write_bytes(b"")
    with mock.patch.object(tokens, "_WRITE_WAIT_SECONDS", 0.05), pytest.raises(ConfigError, match="is empty"):
        load_keys((), tmp_path)


def test_temporary_key_files_left_by_a_crash_are_removed(tmp_path: Path) -> None:
    stale, fresh = tmp_path / ".smart-token-old.tmp", tmp_path / ".smart-token-new.tmp"
    for leftover in (stale, fresh):
        leftover.write_bytes(Fernet.generate_key())
    os.utime(stale, (1, 1))  # long ago; `fresh` may be another worker's, being written now
    load_keys((), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([KEY_FILE_NAME, fresh.name])


def test_a_leftover_another_worker_removes_first_does_not_stop_the_start(tmp_path: Path) -> None:
    gone = tmp_path / ".smart-token-gone.tmp"  # listed, then removed by a worker starting at the same time
    with mock.patch.object(Path, "glob", return_value=iter([gone])):
        assert load_keys((), tmp_path) == [(tmp_path / KEY_FILE_NAME).read_bytes().strip()]


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
