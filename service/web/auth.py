"""Authentication of CDS clients: trusted-clients file, JWT verification, JWK Set cache, jti replay store.

CDS Hooks 2.0 "Trusting CDS Clients": every call carries `Authorization: Bearer <JWT>` signed with an
asymmetric key the client publishes in a JWK Set. We trust only issuers listed in the trusted-clients file,
fetch JWK Sets only from their allow-listed `jku` URLs, and remember each `jti` in the database until it
expires so a replay is refused by every worker and replica. The token itself is never logged or stored.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests
from sqlalchemy import Engine
from sqlalchemy import delete
from sqlalchemy.exc import SQLAlchemyError

from service.config import ConfigError
from service.core.vocabulary import PROFILE_SANDBOX
from service.core.vocabulary import PROFILES
from service.errors import AuthenticationError
from service.errors import ForbiddenError
from service.errors import ServiceUnavailableError
from service.fhir import access
from service.fhir.access import FhirAccess
from service.fhir.urls import is_loopback_host
from service.fhir.urls import normalize_base_url
from service.fhir.urls import url_problem
from service.store.db import Base
from service.store.db import DriverInsert
from service.store.db import SeenJwt
from service.store.health import DatabaseDown
from service.store.health import DbGuard

LOG = logging.getLogger("bme.auth")


# CDS Hooks 2.0 recommends ES384 and RS384; the others are asymmetric and widely supported. Never none/HS*.
ALLOWED_ALGORITHMS = ("ES384", "RS384", "ES256", "RS256", "PS256", "PS384", "PS512")
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384"}
_CLIENT_KEYS = frozenset(("issuer", "jku", "jwks", "audience", "subject", "tenant", "fhir_servers", "profile",
                          "allow_http", "comment"))
_MIN_RSA_BITS = 2048
_MAX_TOKEN_CHARS = 16 * 1024  # far above any real client JWT; bounds the work an anonymous caller can cause
_MAX_JTI_CHARS = 256  # the seen_jwt.jti column
_MAX_ISSUER_CHARS = 512  # the seen_jwt.issuer column
_MAX_JWKS_BYTES = 512 * 1024
JWKS_TTL_SECONDS = 600.0
JWKS_MIN_REFETCH_SECONDS = 30.0
PURGE_INTERVAL_SECONDS = 60.0
MAX_TOKEN_LIFETIME_SECONDS = 3600
SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"


@dataclass(frozen=True)
class TrustedClient:
    """One CDS client (an EHR tenant or the sandbox) allowed to call the service."""

    issuer: str
    jku: tuple[str, ...]
    jwks: Mapping[str, Any] | None = field(hash=False, compare=False)
    audience: str | None
    subject: str | None
    tenant: str | None
    fhir_servers: tuple[str, ...]
    profile: str
    allow_http: bool = False


# ---------------------------------------------------------------------------------------------- URLs


def _opt_str(entry: Mapping[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: '{key}' must be a non-empty string")
    return value


def _str_list(entry: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where}: '{key}' must be a list of non-empty strings")
    return tuple(value)


def _check_inline_jwks(jwks: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise ConfigError(f"{where}: 'jwks' must be a JWK Set object with a non-empty 'keys' list")
    for key in jwks["keys"]:
        if not isinstance(key, dict) or not isinstance(key.get("kid"), str) or not key["kid"]:
            raise ConfigError(f"{where}: every key in 'jwks' needs a 'kid'")
        if key.get("kty") not in ("EC", "RSA"):
            raise ConfigError(f"{where}: key {key['kid']!r} in 'jwks' must be an EC or RSA public key")
        if any(private in key for private in ("d", "p", "q")):
            raise ConfigError(f"{where}: key {key['kid']!r} in 'jwks' contains private key material")
        try:
            jwt.PyJWK(key)
        except jwt.PyJWTError as exc:
            raise ConfigError(f"{where}: key {key['kid']!r} in 'jwks' is not usable: {exc}") from exc
    return jwks


def _parse_client(entry: Any, index: int) -> TrustedClient:
    where = f"clients[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: must be an object")
    unknown = sorted(set(entry) - _CLIENT_KEYS)
    if unknown:
        allowed = ", ".join(sorted(_CLIENT_KEYS))
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)} (allowed: {allowed})")
    issuer = _opt_str(entry, "issuer", where)
    if issuer is None:
        raise ConfigError(f"{where}: 'issuer' is required (the JWT 'iss' the client sends)")
    if len(issuer) > _MAX_ISSUER_CHARS:
        raise ConfigError(f"{where}: 'issuer' is longer than {_MAX_ISSUER_CHARS} characters")
    where = f"{where} ({issuer})"
    allow_http = entry.get("allow_http", False)
    if not isinstance(allow_http, bool):
        raise ConfigError(f"{where}: 'allow_http' must be true or false")
    jku = _str_list(entry, "jku", where)
    for url in jku:
        problem = url_problem(url)
        if problem:
            raise ConfigError(f"{where}: jku {url!r} {problem}")
        parts = urlsplit(url)
        if parts.scheme != "https" and not allow_http and not is_loopback_host(parts.hostname or ""):
            raise ConfigError(f"{where}: jku {url!r} must use https (http only on loopback or allow_http)")
    jwks = entry.get("jwks")
    if jwks is not None:
        jwks = MappingProxyType(dict(_check_inline_jwks(jwks, where)))  # read-only: clients are shared
    if not jku and jwks is None:
        raise ConfigError(f"{where}: give 'jku' (allowed JWK Set URLs) or 'jwks' (an inline JWK Set)")
    fhir_servers = _str_list(entry, "fhir_servers", where)
    for url in fhir_servers:
        problem = url_problem(url)
        if problem:
            raise ConfigError(f"{where}: fhir_servers entry {url!r} {problem}")
    audience = _opt_str(entry, "audience", where)
    if audience is not None and url_problem(audience):
        raise ConfigError(f"{where}: 'audience' must be the absolute URL the client puts in 'aud'")
    profile = entry.get("profile", "generic")
    if profile not in PROFILES:
        raise ConfigError(f"{where}: 'profile' must be one of {', '.join(PROFILES)}")
    return TrustedClient(
        issuer=issuer,
        jku=jku,
        jwks=jwks,
        audience=audience,
        subject=_opt_str(entry, "subject", where),
        tenant=_opt_str(entry, "tenant", where),
        fhir_servers=tuple(normalize_base_url(u) for u in fhir_servers),
        profile=profile,
        allow_http=allow_http,
    )


def load_trusted_clients(path: Path) -> tuple[TrustedClient, ...]:
    """Read and validate the trusted-clients JSON file; raises ConfigError naming the problem."""
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"BME_TRUSTED_CLIENTS: cannot read {path}: {exc.strerror or exc}") from exc
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"BME_TRUSTED_CLIENTS: {path} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("clients"), list):
        raise ConfigError(f"BME_TRUSTED_CLIENTS: {path} must be an object with a 'clients' list")
    clients = tuple(_parse_client(entry, i) for i, entry in enumerate(document["clients"]))
    seen: set[str] = set()
    for client in clients:
        if client.issuer in seen:
            raise ConfigError(f"BME_TRUSTED_CLIENTS: issuer {client.issuer!r} is listed twice")
        seen.add(client.issuer)
        if client.profile == PROFILE_SANDBOX or client.issuer == SANDBOX_ISSUER:
            # Its private key is published in the sandbox repository: anyone can mint these tokens.
            LOG.warning("trusting the CDS Hooks sandbox issuer %s: development only, never in production",
                        client.issuer)
    return clients


def assert_auth_off_allowed(host: str) -> None:
    """Refuse BME_AUTH=off unless the service binds a loopback address; warn loudly when it does."""
    if not is_loopback_host(host):
        raise ConfigError(f"BME_AUTH=off is only allowed when binding a loopback address, not {host!r}")
    LOG.warning("BME_AUTH=off: CDS client authentication is DISABLED (development only, bound to %s)", host)


# ------------------------------------------------------------------------------------- JWK Set cache


@dataclass
class _JwksEntry:
    keys: dict[str, list[dict[str, Any]]]
    fetched_at: float  # when the keys were last fetched successfully
    attempted_at: float  # when a fetch was last attempted, successful or not


class JwksCache:
    """JWK Sets by URL: fetched with a timeout, cached for a TTL, refetched at most once an interval."""

    def __init__(self, *, http_timeout: float, clock: Callable[[], float], ttl: float = JWKS_TTL_SECONDS,
                 min_refetch: float = JWKS_MIN_REFETCH_SECONDS,
                 session: requests.Session | None = None) -> None:
        self._timeout = http_timeout
        self._clock = clock
        self._ttl = ttl
        self._min_refetch = min_refetch
        self._session = session or requests.Session()
        self._entries: dict[str, _JwksEntry] = {}
        self._lock = threading.Lock()

    def candidates(self, url: str, kid: str) -> list[dict[str, Any]]:
        """The JWKs with this kid in the set at `url` (the caller has checked the URL is allow-listed)."""
        with self._lock:
            now = self._clock()
            entry = self._entries.get(url)
            stale = entry is None or now - entry.fetched_at >= self._ttl
            unknown_kid = entry is not None and kid not in entry.keys
            may_fetch = entry is None or now - entry.attempted_at >= self._min_refetch
            if (stale or unknown_kid) and may_fetch:
                entry = self._refresh(url, entry, now)
            return list(entry.keys.get(kid, ())) if entry is not None else []

    def _refresh(self, url: str, entry: _JwksEntry | None, now: float) -> _JwksEntry | None:
        try:
            keys = self._fetch(url)
        except (requests.RequestException, ValueError) as exc:
            LOG.warning("JWK Set fetch failed for %s: %s", url, type(exc).__name__)
            if entry is None:
                # Remember the failed attempt so a burst of requests does not hammer the client's server.
                self._entries[url] = _JwksEntry(keys={}, fetched_at=float("-inf"), attempted_at=now)
                return None
            entry.attempted_at = now  # keep serving the last good keys
            return entry
        fresh = _JwksEntry(keys=keys, fetched_at=now, attempted_at=now)
        self._entries[url] = fresh
        LOG.info("JWK Set fetched from %s: %d key(s)", url, sum(len(v) for v in keys.values()))
        return fresh

    def _fetch(self, url: str) -> dict[str, list[dict[str, Any]]]:
        # No redirects: a redirect could lead the fetch to a URL that is not on the allow-list.
        with self._session.get(url, timeout=self._timeout, allow_redirects=False, stream=True,
                               headers={"Accept": "application/json"}) as response:
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            body = response.raw.read(_MAX_JWKS_BYTES + 1, decode_content=True)
        if len(body) > _MAX_JWKS_BYTES:
            raise ValueError("JWK Set too large")
        document = json.loads(body)
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("not a JWK Set")
        return _index_keys(document["keys"])


def _index_keys(keys: Iterable[Any]) -> dict[str, list[dict[str, Any]]]:
    """Group public signing keys by kid; skip entries that are not objects with a kid."""
    indexed: dict[str, list[dict[str, Any]]] = {}
    for key in keys:
        if isinstance(key, dict) and isinstance(key.get("kid"), str) and key.get("use", "sig") == "sig":
            indexed.setdefault(key["kid"], []).append(key)
    return indexed


def _key_for(jwk_data: Mapping[str, Any], alg: str) -> Any | None:
    """The public key object of a JWK if it can verify `alg`, else None (wrong type, curve, size or alg)."""
    kty = jwk_data.get("kty")
    if jwk_data.get("alg") not in (None, alg):
        return None
    if alg.startswith("ES"):
        if kty != "EC" or jwk_data.get("crv") != _EC_CURVES.get(alg):
            return None
    elif kty != "RSA":
        return None
    try:
        key = jwt.PyJWK(dict(jwk_data), algorithm=alg).key
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    if kty == "RSA" and getattr(key, "key_size", 0) < _MIN_RSA_BITS:
        return None
    return key


# -------------------------------------------------------------------------------------- replay store


class ReplayStore:
    """Seen JWT ids in the database: a unique (issuer, jti) insert fails atomically on a replay anywhere."""

    def __init__(self, engine: Engine, clock: Callable[[], float], guard: DbGuard | None = None) -> None:
        self._engine = engine
        self._insert = DriverInsert(engine, Base.metadata.tables[SeenJwt.__tablename__])  # on every hook call
        self._clock = clock
        self._guard = guard  # a deadline per database call, and a fast 503 while the database is down
        self._last_purge = float("-inf")
        self._lock = threading.Lock()

    def remember(self, issuer: str, jti: str, expires_at: float) -> bool:
        """Record the jti until `expires_at`; False when it was already seen and has not expired.

        Fails closed: while the store cannot be reached (or does not answer within the database deadline) every
        call is refused with 503 and Retry-After, since a replay cannot be told from a first use.
        """
        if self._guard is None:
            return self._remember(issuer, jti, expires_at)
        guard = self._guard
        try:
            return guard.call(lambda: self._remember(issuer, jti, expires_at))
        except DatabaseDown as down:
            raise ServiceUnavailableError("the replay store is unavailable", retry_after=guard.retry_after) from down

    def _remember(self, issuer: str, jti: str, expires_at: float) -> bool:
        now = self._clock()
        self._maybe_purge(now)
        row = {"issuer": issuer, "jti": jti, "expires_at": _utc(expires_at)}
        try:
            if self._insert(row):
                return True
            # A row left over from an expired token must not block a new one; delete only if expired.
            with self._engine.begin() as connection:
                connection.execute(delete(SeenJwt).where(SeenJwt.issuer == issuer, SeenJwt.jti == jti,
                                                         SeenJwt.expires_at < _utc(now)))
            return self._insert(row)
        except SQLAlchemyError as exc:
            if self._guard is not None:
                raise  # the guard logs it (rate-limited) and answers 503
            # Fail closed: without the store we cannot tell a replay from a first use.
            LOG.error("jti store unavailable: %s", type(exc).__name__)
            raise ServiceUnavailableError("the replay store is unavailable") from exc

    def _maybe_purge(self, now: float) -> None:
        with self._lock:
            if now - self._last_purge < PURGE_INTERVAL_SECONDS:
                return
            self._last_purge = now
        try:
            with self._engine.begin() as connection:
                connection.execute(delete(SeenJwt).where(SeenJwt.expires_at < _utc(now)))
        except SQLAlchemyError as exc:
            LOG.warning("purging expired jti rows failed: %s", type(exc).__name__)


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


# ------------------------------------------------------------------------------------- authenticator


class Authenticator:
    """Verifies the CDS client JWT of one request against the trusted clients."""

    def __init__(self, clients: Iterable[TrustedClient], engine: Engine, *, leeway_seconds: int,
                 http_timeout: float, clock: Callable[[], float] = time.time, guard: DbGuard | None = None) -> None:
        self._clients = {c.issuer: c for c in clients}
        self._leeway = leeway_seconds
        self._jwks = JwksCache(http_timeout=http_timeout, clock=clock)
        self._replays = ReplayStore(engine, clock, guard)
        self._key_cache: dict[tuple[str, str], Any] = {}

    def authenticate(self, authorization_header: str | None, audience_url: str) -> TrustedClient:
        """Return the trusted client whose valid, fresh, unreplayed JWT this header carries, or raise 401."""
        token = _bearer_token(authorization_header)
        header, claims = _peek(token)
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise _fail("token algorithm not accepted", f"alg {str(alg)[:20]!r} refused")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() != "jwt":
            raise _fail("token header needs typ JWT", "typ missing or not JWT")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _fail("token header needs kid", "kid missing")
        issuer = claims.get("iss")
        client = self._clients.get(issuer) if isinstance(issuer, str) else None
        if client is None:
            raise _fail("token issuer is not trusted", f"unknown issuer {str(issuer)[:200]!r}")
        key = self._find_key(client, header, alg, kid)
        expected_aud = client.audience or audience_url
        try:
            payload = jwt.decode(
                token, key=key, algorithms=[alg], audience=expected_aud, issuer=client.issuer,
                leeway=self._leeway, options={"require": ["exp", "iat", "jti", "iss", "aud"]},
            )
        except jwt.InvalidAudienceError:
            raise _fail("token audience does not match this endpoint",
                        f"aud mismatch for {client.issuer}; expected {expected_aud!r}") from None
        except jwt.ExpiredSignatureError:
            raise _fail("token expired", f"expired token from {client.issuer}") from None
        except jwt.ImmatureSignatureError:
            raise _fail("token not yet valid", f"iat/nbf in the future from {client.issuer}") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _fail(f"token lacks the {exc.claim} claim",
                        f"missing {exc.claim} from {client.issuer}") from None
        except jwt.InvalidSignatureError:
            raise _fail("token signature invalid",
                        f"bad signature from {client.issuer} kid {kid[:100]!r}") from None
        except jwt.PyJWTError as exc:
            raise _fail("token rejected", f"{type(exc).__name__} from {client.issuer}") from None
        self._check_identity(client, payload)
        jti = payload["jti"]
        if not isinstance(jti, str) or not jti or len(jti) > _MAX_JTI_CHARS or "\x00" in jti:
            # (NUL: the jti is stored, and PostgreSQL text cannot hold one; its refusal would read as an outage)
            raise _fail("token jti invalid", f"jti not a short string from {client.issuer}")
        exp = payload["exp"]
        if not isinstance(exp, int | float):
            raise _fail("token exp invalid", f"exp not numeric from {client.issuer}")
        if exp > time.time() + MAX_TOKEN_LIFETIME_SECONDS + self._leeway:
            # Clients mint one short-lived JWT per call (sandbox 5 min, Epic 15 min); a long-lived one is a
            # credential worth stealing and would sit in the replay store for as long.
            raise _fail("token lifetime too long", f"exp more than an hour ahead from {client.issuer}")
        if not self._replays.remember(client.issuer, jti, float(exp) + self._leeway):
            raise _fail("token already used", f"replayed jti from {client.issuer}")
        return client

    def _find_key(self, client: TrustedClient, header: Mapping[str, Any], alg: str, kid: str) -> Any:
        jku = header.get("jku")
        # The service decides which key sets it trusts (CDS Hooks 2.0): a jku the registration does not list is
        # refused whatever the key source, inline keys included, rather than silently ignored.
        if jku is not None and (not isinstance(jku, str) or jku not in client.jku):
            raise _fail("token jku is not on the allow-list",
                        f"jku {str(jku)[:200]!r} not allowed for {client.issuer}")
        if client.jwks is not None:
            # Keys exchanged out of band: never fetch anything the token names.
            candidates = _index_keys(client.jwks.get("keys", ())).get(kid, [])
        else:
            if jku is not None:
                urls: tuple[str, ...] = (jku,)
            else:
                urls = client.jku  # jku is optional in the spec: look the kid up in every allowed set
            candidates = [jwk for url in urls for jwk in self._jwks.candidates(url, kid)]
        for jwk_data in candidates:
            key = self._key(jwk_data, alg)
            if key is not None:
                return key
        if candidates:
            raise _fail("token key does not fit its algorithm",
                        f"kid {kid[:100]!r} of {client.issuer} unusable for {alg}")
        raise _fail("token key id unknown", f"unknown kid {kid[:100]!r} for {client.issuer}")

    def _key(self, jwk_data: Mapping[str, Any], alg: str) -> Any | None:
        """_key_for, memoised: building a key object from its JWK is a visible share of every request."""
        cache_key = (json.dumps(jwk_data, sort_keys=True, default=str), alg)
        if cache_key not in self._key_cache:
            if len(self._key_cache) > 256:  # rotated keys must not accumulate forever
                self._key_cache.clear()
            self._key_cache[cache_key] = _key_for(jwk_data, alg)
        return self._key_cache[cache_key]

    @staticmethod
    def _check_identity(client: TrustedClient, payload: Mapping[str, Any]) -> None:
        if client.subject is not None and payload.get("sub") != client.subject:
            raise _fail("token subject not accepted", f"sub mismatch for {client.issuer}")
        if client.tenant is not None and payload.get("tenant") != client.tenant:
            raise _fail("token tenant not accepted", f"tenant mismatch for {client.issuer}")


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The unverified header and claims, only to find the key (alg, kid, jku, iss); PyJWT then verifies all.

    PyJWT checks every character of every segment in Python on each parse; parsing the token with it twice
    (once unverified, once verified) cost as much as an RS384 signature check.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise _fail("malformed token", "a JWT has three segments")
    try:
        header, claims = (json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))) for part in parts[:2])
    except (ValueError, binascii.Error, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError too
        raise _fail("malformed token", f"unparseable JWT ({type(exc).__name__})") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _fail("malformed token", "JWT header or claims are not JSON objects")
    return header, claims


def _bearer_token(authorization_header: str | None) -> str:
    if not authorization_header:
        raise _fail("a bearer token is required", "no Authorization header")
    scheme, _, token = authorization_header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise _fail("a bearer token is required", "Authorization header is not a bearer token")
    if len(token) > _MAX_TOKEN_CHARS:
        raise _fail("malformed token", "token too long")
    return token


def _fail(public: str, reason: str) -> AuthenticationError:
    """Log the detailed reason (never the token) and build the 401 the client sees."""
    LOG.warning("authentication refused: %s", reason)
    return AuthenticationError(public)


# ----------------------------------------------------------------------------------- open-proxy guard


def fhir_access(client: TrustedClient | None, request: Mapping[str, Any],
                allow_http_hosts: tuple[str, ...]) -> FhirAccess | None:
    """The request's fhirServer and token, checked against what this client may name (the open-proxy guard).

    :raises ForbiddenError: the client may not name that fhirServer (403).
    :raises InvalidRequestError: a malformed fhirServer, or plain http the client is not allowed (400).
    """
    if client is None:  # BME_AUTH=off: only the URL rules apply
        return access.from_request(request, allow_http_hosts)
    try:
        return access.from_request(request, allow_http_hosts, allowed_servers=client.fhir_servers,
                                   allow_http=client.allow_http)
    except ForbiddenError:
        LOG.warning("fhirServer refused: %s may not name it", client.issuer)
        raise
