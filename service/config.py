"""Settings: the service's configuration, read once at start from `BME_*` environment variables.

Only `create_app` and the CLI call `load_settings`; everything else receives the Settings it needs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from dataclasses import replace
from pathlib import Path
from typing import Any

from valuesets import DIRECTORY as PACKAGED_VALUESETS

PREFIX = "BME_"
RULESET_VERSION = "2026.11.0"
SERVICE_NAME = "BME CDS"


class ConfigError(ValueError):
    """A configuration value is malformed; the service refuses to start."""


def _default_data_dir() -> Path:
    return Path(os.getcwd()) / "data"


@dataclass(frozen=True)
class Settings:
    """Every knob of the service; the README's configuration table documents each one."""

    database_url: str = ""  # SQLAlchemy URL; "" means sqlite:///<data_dir>/bme-cds.sqlite3
    data_dir: Path = field(default_factory=_default_data_dir)
    public_base_url: str = "http://127.0.0.1:8080"  # how clients reach us: JWT audiences and links
    fhir_timeout_seconds: float = 3.0  # per outbound FHIR call (connect + read)
    fhir_total_timeout_seconds: float = 5.0  # budget for fetching all missing prefetch of one request
    fhir_max_pages: int = 5  # `next` links followed per prefetch key
    fhir_pool_size: int = 8  # connections kept per FHIR server
    allow_http_fhir_hosts: tuple[str, ...] = ()  # hosts allowed over plain http besides loopback
    cors_origins: tuple[str, ...] = ("*",)
    valuesets_dir: Path = PACKAGED_VALUESETS
    policy_file: Path | None = None  # institution policy overrides (JSON)
    smart_launch_url: str = ""  # SMART app launch URL put on pathway cards; "" = no link
    order_codes_file: Path | None = None  # the site's preference-list / order-set code mapping (Epic)
    auth: str = "on"  # "on" | "off" (off only on loopback, for development)
    trusted_clients: Path | None = None  # BME_TRUSTED_CLIENTS: the trusted CDS clients JSON file
    jwt_leeway_seconds: int = 5
    max_body_bytes: int = 16 * 1024 * 1024
    log_level: str = "INFO"
    card_source_label: str = f"{SERVICE_NAME} rules {RULESET_VERSION}"
    topic_system: str = "https://bme-cds.example.org/fhir/CodeSystem/bme-cds-rules"
    emit_spec_version: bool = False  # add the CDS Hooks 3.0 'version' field to discovery
    db_timeout_seconds: float = 2.0  # connect, pool wait and statement timeout; a call's total wait
    db_retry_after_seconds: int = 5  # Retry-After of a 503 while the database is down; also the recheck interval
    spool_dir: Path | None = None  # durable spool of records the database refused; "" = <data_dir>/spool
    spool_max_bytes: int = 64 * 1024 * 1024
    feedback_max_items: int = 1000  # items per feedback post; more is refused with 413
    body_timeout_seconds: float = 10.0  # a request body must arrive within this (408 otherwise)

    @property
    def effective_spool_dir(self) -> Path:
        """The spool folder, defaulting to one in the data folder."""
        return self.spool_dir or self.data_dir / "spool"

    @property
    def effective_database_url(self) -> str:
        """The SQLAlchemy URL, defaulting to a SQLite file in the data folder."""
        return self.database_url or f"sqlite:///{self.data_dir / 'bme-cds.sqlite3'}"


def _parse(name: str, raw: str, kind: str) -> Any:
    """Parse one variable by the field's annotation (a string under postponed evaluation)."""
    text = raw.strip()
    try:
        if kind == "bool":
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "Path":
            return Path(text)
        if kind == "Path | None":
            return Path(text) if text else None
        if kind == "tuple[str, ...]":
            return tuple(part.strip() for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r}: {exc}") from exc
    return text


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from BME_* variables (e.g. BME_DATABASE_URL) plus explicit overrides."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        name = PREFIX + f.name.upper()
        if name in env:
            values[f.name] = _parse(name, env[name], str(f.type))
    settings = replace(Settings(), **values)
    settings = replace(settings, **overrides)
    if settings.auth not in ("on", "off"):
        raise ConfigError(f"BME_AUTH must be 'on' or 'off', got {settings.auth!r}")
    if not settings.public_base_url.startswith(("http://", "https://")):
        raise ConfigError("BME_PUBLIC_BASE_URL must be an absolute http(s) URL")
    return replace(settings, public_base_url=settings.public_base_url.rstrip("/"))
