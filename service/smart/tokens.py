"""SMART secrets at rest: access tokens and PKCE verifiers are stored encrypted (Fernet, from `cryptography`).

Keys come from configuration (`BME_SMART_TOKEN_KEYS`, comma-separated Fernet keys): the first encrypts, every
key decrypts, so a key can be rotated by putting the new one first and dropping the old one once the launches it
sealed have expired (an hour by default). Without configured keys a key file in the data folder is made once,
readable only by the service's user, and shared by every worker.
"""

from __future__ import annotations

import logging
import os
import tempfile
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
        # Workers start together: the key is written to a private temporary file and linked into place whole,
        # so the one link that wins is the key every worker reads. An O_EXCL create left a moment in which the
        # others read an empty file and failed to boot, and gunicorn then stopped the whole server.
        fd, temporary = tempfile.mkstemp(dir=data_dir, prefix=".smart-token-", suffix=".tmp")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(Fernet.generate_key() + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, path)
            log.info("smart: created the token key file %s (set BME_SMART_TOKEN_KEYS to manage keys yourself)", path)
        except FileExistsError:
            pass  # another worker linked its key first: use that one
        except OSError as exc:  # a file system without hard links
            raise ConfigError(f"cannot create {path} ({exc.strerror}): set BME_SMART_TOKEN_KEYS") from exc
        finally:
            os.unlink(temporary)
    key = path.read_bytes().strip()
    if not key:
        raise ConfigError(f"{path} is empty: delete it or set BME_SMART_TOKEN_KEYS")
    return [key]
