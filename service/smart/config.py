"""SMART app settings, read once from `BME_SMART_*` environment variables when the app starts.

Kept apart from `service/config.py` so the SMART app can be switched on and configured on its own. The client
type follows from what is configured: a private key file means `private_key_jwt`, a secret means
`client_secret_basic`, neither means a public client (PKCE only).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from service.config import ConfigError

PREFIX = "BME_SMART_"
CLIENT_PUBLIC = "public"
CLIENT_SECRET_BASIC = "client_secret_basic"
CLIENT_PRIVATE_KEY_JWT = "private_key_jwt"
ANY_ISS = "*"
JWT_ALGORITHMS = ("RS384", "ES384")
SAMESITE_VALUES = ("Lax", "Strict", "None")


@dataclass(frozen=True)
class SmartConfig:
    """Everything the SMART app needs beyond the service's Settings."""

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
    cookie_samesite: str = (
        "Lax"  # "None" (with Secure) for EHRs that frame the app cross-site (Oracle Health)
    )
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


def _origin(url: str) -> str:
    """scheme://host[:port] of a URL, lower-cased; "" when it has no host."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.hostname:
        return ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme.lower()}://{parts.hostname.lower()}{port}"


def _bool(name: str, raw: str) -> bool:
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name}={raw!r}: expected true or false")


def _number(name: str, raw: str, kind: type[int] | type[float]) -> float:
    try:
        value = kind(raw.strip())
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r}: {exc}") from exc
    if value <= 0:
        raise ConfigError(f"{name} must be positive")
    return value


def load_smart_config(environ: Mapping[str, str] | None = None) -> SmartConfig:
    """Read the BME_SMART_* variables; raises ConfigError on malformed values."""
    env = os.environ if environ is None else environ

    def get(key: str) -> str:
        return env.get(PREFIX + key, "").strip()

    key_file = get("PRIVATE_KEY_FILE")
    config = SmartConfig(
        client_id=get("CLIENT_ID"),
        client_secret=get("CLIENT_SECRET"),
        private_key_file=Path(key_file) if key_file else None,
        key_id=get("KEY_ID"),
        jwt_algorithm=get("JWT_ALGORITHM") or "RS384",
        redirect_url=get("REDIRECT_URL"),
        scopes=" ".join(get("SCOPES").split()),
        v1_scopes=_bool(PREFIX + "V1_SCOPES", get("V1_SCOPES")),
        allowed_iss=tuple(part.strip() for part in get("ALLOWED_ISS").split(",") if part.strip()),
        standalone_iss=get("STANDALONE_ISS"),
        session_seconds=int(_number(PREFIX + "SESSION_SECONDS", get("SESSION_SECONDS") or "3600", int)),
        pending_seconds=int(_number(PREFIX + "PENDING_SECONDS", get("PENDING_SECONDS") or "600", int)),
        http_timeout_seconds=_number(
            PREFIX + "HTTP_TIMEOUT_SECONDS", get("HTTP_TIMEOUT_SECONDS") or "5", float
        ),
        cookie_samesite=get("COOKIE_SAMESITE") or "Lax",
        frame_ancestors=" ".join(get("FRAME_ANCESTORS").split()),
        token_keys=tuple(part.strip() for part in get("TOKEN_KEYS").split(",") if part.strip()),
    )
    check(config)
    return config


def check(config: SmartConfig) -> None:
    """Refuse contradictory settings at start rather than at the first launch."""
    if config.client_secret and config.private_key_file is not None:
        raise ConfigError("set BME_SMART_CLIENT_SECRET or BME_SMART_PRIVATE_KEY_FILE, not both")
    if config.jwt_algorithm not in JWT_ALGORITHMS:
        raise ConfigError(f"BME_SMART_JWT_ALGORITHM must be one of {', '.join(JWT_ALGORITHMS)}")
    if config.private_key_file is not None and not config.private_key_file.is_file():
        raise ConfigError(f"BME_SMART_PRIVATE_KEY_FILE {config.private_key_file} is not a readable file")
    if config.cookie_samesite not in SAMESITE_VALUES:
        raise ConfigError(f"BME_SMART_COOKIE_SAMESITE must be one of {', '.join(SAMESITE_VALUES)}")
    if config.redirect_url and not config.redirect_url.startswith(("http://", "https://")):
        raise ConfigError("BME_SMART_REDIRECT_URL must be an absolute http(s) URL")
