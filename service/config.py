"""Settings: the service's configuration, read once at start from `BME_*` environment variables.

Only `create_app` and the CLI call `load_settings`; everything else receives the Settings it needs. The SMART
app's part (`BME_SMART_*`) is `Settings.smart`.
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
from urllib.parse import urlsplit

from valuesets import DIRECTORY as PACKAGED_VALUESETS

PREFIX = "BME_"
SMART_PREFIX = "BME_SMART_"
RULESET_VERSION = "2026.12.0"
SERVICE_NAME = "BME CDS"


class ConfigError(ValueError):
    """A configuration value is malformed; the service refuses to start."""


CLIENT_PUBLIC = "public"
CLIENT_SECRET_BASIC = "client_secret_basic"
CLIENT_PRIVATE_KEY_JWT = "private_key_jwt"
ANY_ISS = "*"
SMART_JWT_ALGORITHMS = ("RS384", "ES384")
SAMESITE_VALUES = ("Lax", "Strict", "None")


def _default_data_dir() -> Path:
    """An absolute folder, the same from wherever a command runs: $XDG_DATA_HOME/bme-cds or ~/.local/share/bme-cds."""
    base = os.environ.get("XDG_DATA_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".local" / "share") / "bme-cds"


def _origin(url: str) -> str:
    """scheme://host[:port] of a URL, lower-cased; "" when it has no host."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.hostname:
        return ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme.lower()}://{parts.hostname.lower()}{port}"


@dataclass(frozen=True)
class SmartSettings:
    """The SMART app's registration and limits (`BME_SMART_*`; an empty variable counts as unset).

    The client type follows from what is configured: a private key file means `private_key_jwt`, a secret
    means `client_secret_basic`, neither means a public client (PKCE only).
    """

    client_id: str = ""  # "" = the SMART app is not configured; its pages say so
    client_secret: str = ""  # confidential symmetric client (HTTP basic at the token endpoint)
    private_key_file: Path | None = None  # confidential asymmetric client (private_key_jwt), PEM
    key_id: str = ""  # `kid` of that key as registered (JWKS)
    jwt_algorithm: str = "RS384"  # RS384 or ES384 (SMART App Launch 2.x client-confidential-asymmetric)
    redirect_url: str = ""  # "" = {public_base_url}/smart/callback
    scopes: str = ""  # "" = derived from the patient-view prefetch (v2 `.rs`, or v1 `.read`)
    v1_scopes: bool = False  # servers that only speak SMART v1 scopes (`patient/X.read`)
    allowed_iss: tuple[str, ...] = ()  # FHIR base URLs the app accepts as `iss`; "*" = any (development)
    standalone_iss: str = ""  # FHIR base for standalone launch; "" = the single allowed iss, if only one
    session_seconds: int = 3600  # a launch's page stays usable this long (and no longer than the token)
    pending_seconds: int = 600  # time allowed between launch and the authorization server's redirect
    http_timeout_seconds: float = 5.0  # discovery and token calls
    cookie_samesite: str = "Lax"  # "None" (with Secure) for EHRs that frame the app cross-site (Oracle Health)
    frame_ancestors: str = ""  # extra CSP frame-ancestors sources (EHR UI origins); see `frame_ancestor_sources`
    token_keys: tuple[str, ...] = ()  # Fernet keys for tokens at rest; first encrypts; () = the data folder's key file

    @property
    def enabled(self) -> bool:
        """True when a client id is configured."""
        return bool(self.client_id)

    @property
    def client_type(self) -> str:
        """public, client_secret_basic or private_key_jwt."""
        if self.private_key_file is not None:
            return CLIENT_PRIVATE_KEY_JWT
        if self.client_secret:
            return CLIENT_SECRET_BASIC
        return CLIENT_PUBLIC

    def iss_allowed(self, iss: str) -> bool:
        """True when this FHIR base is on the allow-list (trailing slashes ignored)."""
        if ANY_ISS in self.allowed_iss:
            return True
        wanted = iss.rstrip("/")
        return any(wanted == allowed.rstrip("/") for allowed in self.allowed_iss)

    @property
    def frame_ancestor_sources(self) -> str:
        """CSP frame-ancestors: ourselves, every allowed EHR's origin, and the configured extra origins.

        EHRs embed SMART apps in a frame of their own UI, usually served from the FHIR server's origin; an EHR
        whose UI lives elsewhere lists that origin in BME_SMART_FRAME_ANCESTORS. With `*` in the issuer
        allow-list (development) any origin may frame the app, as any issuer may launch it.
        """
        if ANY_ISS in self.allowed_iss:
            return "*"
        sources = ["'self'"]
        for url in (*self.allowed_iss, *self.frame_ancestors.split()):
            source = _origin(url) if "://" in url else url
            if source and source not in sources:
                sources.append(source)
        return " ".join(sources)

    @property
    def default_standalone_iss(self) -> str:
        """The FHIR base a standalone launch starts from, or "" when none is configured."""
        if self.standalone_iss:
            return self.standalone_iss
        concrete = [iss for iss in self.allowed_iss if iss != ANY_ISS]
        return concrete[0] if len(concrete) == 1 else ""


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
    smart: SmartSettings = field(default_factory=SmartSettings)  # BME_SMART_*: the SMART app
    metrics_token: str = field(default="", repr=False)  # BME_METRICS_TOKEN: /metrics on, behind this token
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


def _from_env(cls: type[Any], prefix: str, env: Mapping[str, str], *, empty_is_unset: bool) -> dict[str, Any]:
    """The fields of dataclass `cls` given as `prefix` + FIELD_NAME variables, parsed by their annotations."""
    values: dict[str, Any] = {}
    for f in fields(cls):
        name = prefix + f.name.upper()
        if name in env and f.type != "SmartSettings" and not (empty_is_unset and not env[name].strip()):
            values[f.name] = _parse(name, env[name], str(f.type))
    return values


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from BME_* variables (e.g. BME_DATABASE_URL, BME_SMART_CLIENT_ID) plus explicit overrides."""
    env = os.environ if environ is None else environ
    smart = SmartSettings(**_from_env(SmartSettings, SMART_PREFIX, env, empty_is_unset=True))
    values = _from_env(Settings, PREFIX, env, empty_is_unset=False)
    settings = replace(Settings(smart=smart), **values)
    settings = replace(settings, **overrides)
    if settings.auth not in ("on", "off"):
        raise ConfigError(f"BME_AUTH must be 'on' or 'off', got {settings.auth!r}")
    if not settings.public_base_url.startswith(("http://", "https://")):
        raise ConfigError("BME_PUBLIC_BASE_URL must be an absolute http(s) URL")
    _check_smart(settings.smart)
    return replace(settings, public_base_url=settings.public_base_url.rstrip("/"),
                   smart=replace(settings.smart, scopes=" ".join(settings.smart.scopes.split())))


def _check_smart(smart: SmartSettings) -> None:
    """Refuse contradictory SMART settings at start rather than at the first launch."""
    if smart.client_secret and smart.private_key_file is not None:
        raise ConfigError("set BME_SMART_CLIENT_SECRET or BME_SMART_PRIVATE_KEY_FILE, not both")
    if smart.jwt_algorithm not in SMART_JWT_ALGORITHMS:
        raise ConfigError(f"BME_SMART_JWT_ALGORITHM must be one of {', '.join(SMART_JWT_ALGORITHMS)}")
    if smart.private_key_file is not None and not smart.private_key_file.is_file():
        raise ConfigError(f"BME_SMART_PRIVATE_KEY_FILE {smart.private_key_file} is not a readable file")
    if smart.cookie_samesite not in SAMESITE_VALUES:
        raise ConfigError(f"BME_SMART_COOKIE_SAMESITE must be one of {', '.join(SAMESITE_VALUES)}")
    if smart.redirect_url and not smart.redirect_url.startswith(("http://", "https://")):
        raise ConfigError("BME_SMART_REDIRECT_URL must be an absolute http(s) URL")
    for name in ("session_seconds", "pending_seconds", "http_timeout_seconds"):
        if getattr(smart, name) <= 0:
            raise ConfigError(f"{SMART_PREFIX}{name.upper()} must be positive")
