"""SMART secrets at rest: access tokens and PKCE verifiers are stored encrypted (Fernet, from `cryptography`).

Keys come from configuration (`BME_SMART_TOKEN_KEYS`, comma-separated Fernet keys): the first encrypts, every
key decrypts, so a key can be rotated by putting the new one first and dropping the old one once the launches it
sealed have expired (an hour by default). Without configured keys a key file in the data folder is made once,
readable only by the service's user, and shared by every worker.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken
from cryptography.fernet import MultiFernet

from service.config import ConfigError

log = logging.getLogger(__name__)

KEY_FILE_NAME = "smart-token.key"


class UnreadableSecret(Exception):
    """A stored secret that no configured key opens (its key was rotated out): the launch is over."""


class TokenCipher:
    """Seal and open the SMART secrets kept in the launch table."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ConfigError("the SMART token cipher needs at least one key")
        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except ValueError as exc:
            raise ConfigError(f"BME_SMART_TOKEN_KEYS: not a Fernet key ({exc})") from None

    def seal(self, plain: str) -> str:
        """The encrypted form of a secret ("" stays "": nothing to hide)."""
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii") if plain else ""

    def open(self, sealed: str) -> str:
        """The secret back; UnreadableSecret when no configured key made it."""
        if not sealed:
            return ""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise UnreadableSecret("no configured key opens this stored secret") from exc


def load_keys(configured: Sequence[str], data_dir: Path) -> list[bytes]:
    """The configured keys, or the data folder's key file (created once, mode 0600)."""
    if configured:
        return [key.strip().encode("ascii") for key in configured]
    path = data_dir / KEY_FILE_NAME
    data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _create_key_file(path)
    return [_read_key(path)]


_NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS})
_WRITE_WAIT_SECONDS = 1.0  # without hard links another worker may be writing the file: wait this long for it


def _create_key_file(path: Path) -> None:
    """Write a new key to `path` unless another process does first.

    Workers start together (gunicorn building the app in each): the key is written to a private temporary file
    and linked into place whole, so the one link that wins is the key every worker reads. An O_EXCL create left a
    moment in which the others read an empty file and failed to boot, and gunicorn then stopped the whole server.
    """
    for stale in path.parent.glob(".smart-token-*.tmp"):  # left by a crash: each holds a key nobody uses
        try:
            if time.time() - stale.stat().st_mtime > 60:
                stale.unlink()
        except FileNotFoundError:
            pass  # another worker starting now removed it first
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".smart-token-", suffix=".tmp")  # mode 0600
    try:
        key = Fernet.generate_key() + b"\n"
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return  # another worker linked its key first: every worker reads that one
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise ConfigError(f"cannot create {path} ({exc.strerror}): set BME_SMART_TOKEN_KEYS") from exc
            _write_in_place(path, key)  # vfat, some SMB mounts: no links; readers wait for the bytes
        log.info("smart: created the token key file %s (set BME_SMART_TOKEN_KEYS to manage keys yourself)", path)
    finally:
        os.unlink(temporary)


def _write_in_place(path: Path, key: bytes) -> None:
    """Create `path` with `key` unless it exists (a file system without hard links)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())


def _read_key(path: Path) -> bytes:
    """The key in `path`, waiting briefly while another worker writes it in place."""
    deadline = time.monotonic() + _WRITE_WAIT_SECONDS
    while True:
        try:
            key = path.read_bytes().strip()
        except OSError as exc:  # a dangling symlink, a folder, no permission
            raise ConfigError(f"cannot read {path} ({exc.strerror}): fix it or set BME_SMART_TOKEN_KEYS") from exc
        if key:
            return key
        if time.monotonic() >= deadline:
            raise ConfigError(f"{path} is empty: delete it or set BME_SMART_TOKEN_KEYS")
        time.sleep(0.02)
