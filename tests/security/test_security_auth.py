"""The Authenticator against every attack issue 4 lists, plus what real clients send (which must pass)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select

from service.errors import AuthenticationError
from service.store.db import SeenJwt
from service.web.auth import Authenticator
from service.web.auth import TrustedClient
from tests.security.conftest import INLINE_AUDIENCE
from tests.security.support import DISCOVERY_URL
from tests.security.support import INLINE_ISSUER
from tests.security.support import ISSUER
from tests.security.support import PUBLIC_BASE
from tests.security.support import RecordingServer
from tests.security.support import SigningKey
from tests.security.support import claims
from tests.security.support import new_key
from tests.security.support import sign
from tests.security.support import unsigned_token

SERVICE_URL = PUBLIC_BASE + "/cds-services/bme-patient-view"


@dataclass(frozen=True)
class Ctx:
    """What an attack needs: the trusted keys, the allow-listed jku and an attacker's JWKS server."""

    es: SigningKey
    rs: SigningKey
    jku: str
    attacker: RecordingServer


def _bearer(token: str) -> str:
    return f"Bearer {token}"


def _hs256_with_public_key(ctx: Ctx) -> str:
    """The classic key-confusion forgery: HMAC keyed with the verifier's public key PEM."""
    pem = ctx.rs.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": ctx.rs.kid, "jku": ctx.jku}
    signing_input = unsigned_token(header, claims(SERVICE_URL)).rsplit(".", 1)[0]
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return _bearer(f"{signing_input}.{jwt.utils.base64url_encode(mac).decode()}")


def _wrong_key(ctx: Ctx) -> str:
    impostor = new_key("ES384", kid=ctx.es.kid)  # same kid, different key
    return _bearer(sign(impostor, claims(SERVICE_URL), jku=ctx.jku))


def _foreign_jku(ctx: Ctx) -> str:
    attacker_key = new_key("ES384")
    ctx.attacker.documents["/jwks.json"] = {"keys": [attacker_key.public_jwk()]}
    return _bearer(sign(attacker_key, claims(SERVICE_URL), jku=ctx.attacker.base + "/jwks.json"))


def _alg_none(ctx: Ctx) -> str:
    return _bearer(
        unsigned_token({"alg": "none", "typ": "JWT", "kid": ctx.es.kid, "jku": ctx.jku}, claims(SERVICE_URL))
    )


def _alg_none_with_signature(ctx: Ctx) -> str:
    token = sign(ctx.es, claims(SERVICE_URL), jku=ctx.jku)
    header = {"alg": "None", "typ": "JWT", "kid": ctx.es.kid, "jku": ctx.jku}
    return _bearer(unsigned_token(header, claims(SERVICE_URL), signature=token.split(".")[2].encode()))


def _key_of_other_family(ctx: Ctx) -> str:
    """An RS384 header naming the EC key's kid: the key cannot verify that algorithm."""
    return _bearer(sign(ctx.rs, claims(SERVICE_URL), jku=ctx.jku, headers={"kid": ctx.es.kid}))


ATTACKS: dict[str, Callable[[Ctx], str | None]] = {
    "no token": lambda ctx: None,
    "empty header": lambda ctx: "",
    "basic scheme": lambda ctx: "Basic dXNlcjpwYXNz",
    "bearer without token": lambda ctx: "Bearer ",
    "two tokens": lambda ctx: "Bearer a.b.c d.e.f",
    "malformed token": lambda ctx: "Bearer not-a-jwt",
    "garbage segments": lambda ctx: "Bearer e30.e30.e30x",
    "payload not an object": lambda ctx: _bearer(
        unsigned_token({"alg": "ES384", "typ": "JWT", "kid": "k"}, [])
    ),  # type: ignore[arg-type]
    "huge token": lambda ctx: "Bearer " + "a" * 20000,
    "alg none": _alg_none,
    "alg None with a real signature": _alg_none_with_signature,
    "HS256 signed with the public key": _hs256_with_public_key,
    "wrong key": _wrong_key,
    "unknown kid": lambda ctx: _bearer(sign(new_key("ES384"), claims(SERVICE_URL), jku=ctx.jku)),
    "unknown issuer": lambda ctx: _bearer(
        sign(ctx.es, claims(SERVICE_URL, issuer="https://evil.example"), jku=ctx.jku)
    ),
    "jku not on the allow-list": _foreign_jku,
    "jku differs only by a trailing slash": lambda ctx: _bearer(
        sign(ctx.es, claims(SERVICE_URL), jku=ctx.jku + "/")
    ),
    "wrong aud": lambda ctx: _bearer(sign(ctx.es, claims(PUBLIC_BASE + "/cds-services/other"), jku=ctx.jku)),
    "aud of another host": lambda ctx: _bearer(
        sign(ctx.es, claims("https://evil.example/cds-services/bme-patient-view"), jku=ctx.jku)
    ),
    "missing aud": lambda ctx: _bearer(sign(ctx.es, claims(SERVICE_URL, aud=None), jku=ctx.jku)),
    "expired": lambda ctx: _bearer(
        sign(ctx.es, claims(SERVICE_URL, iat=int(time.time()) - 700, exp=int(time.time()) - 60), jku=ctx.jku)
    ),
    "not yet valid (nbf)": lambda ctx: _bearer(
        sign(ctx.es, claims(SERVICE_URL, nbf=int(time.time()) + 120), jku=ctx.jku)
    ),
    "not yet valid (iat)": lambda ctx: _bearer(
        sign(ctx.es, claims(SERVICE_URL, iat=int(time.time()) + 120), jku=ctx.jku)
    ),
    "exp more than an hour ahead": lambda ctx: _bearer(
        sign(ctx.es, claims(SERVICE_URL, exp=int(time.time()) + 3700), jku=ctx.jku)
    ),
    "missing jti": lambda ctx: _bearer(sign(ctx.es, claims(SERVICE_URL, jti=None), jku=ctx.jku)),
    "jti not a string": lambda ctx: _bearer(sign(ctx.es, claims(SERVICE_URL, jti=12345), jku=ctx.jku)),
    "missing exp": lambda ctx: _bearer(sign(ctx.es, claims(SERVICE_URL, exp=None), jku=ctx.jku)),
    "missing iat": lambda ctx: _bearer(sign(ctx.es, claims(SERVICE_URL, iat=None), jku=ctx.jku)),
    "missing kid": lambda ctx: _bearer(sign(ctx.es, claims(SERVICE_URL), jku=ctx.jku, headers={"kid": None})),
    "missing typ": lambda ctx: _bearer(sign(ctx.es, claims(SERVICE_URL), jku=ctx.jku, headers={"typ": None})),
    "typ not JWT": lambda ctx: _bearer(
        sign(ctx.es, claims(SERVICE_URL), jku=ctx.jku, headers={"typ": "at+jwt"})
    ),
    "RS384 header on the EC key": _key_of_other_family,
    "ES256 header on the P-384 key": lambda ctx: _bearer(
        unsigned_token(
            {"alg": "ES256", "typ": "JWT", "kid": ctx.es.kid, "jku": ctx.jku}, claims(SERVICE_URL), b"x" * 64
        )
    ),
    "tampered payload": lambda ctx: _bearer(
        ".".join(
            (
                sign(ctx.es, claims(SERVICE_URL), jku=ctx.jku).split(".")[0],
                unsigned_token({}, claims(SERVICE_URL, iss=ISSUER)).split(".")[1],
                sign(ctx.es, claims(SERVICE_URL), jku=ctx.jku).split(".")[2],
            )
        )
    ),
}


@pytest.fixture
def attacker() -> Any:
    server = RecordingServer().start()
    yield server
    server.stop()


@pytest.fixture
def ctx(es_key: SigningKey, rs_key: SigningKey, jku: str, attacker: RecordingServer) -> Ctx:
    return Ctx(es=es_key, rs=rs_key, jku=jku, attacker=attacker)


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_every_attack_is_refused_with_401(attack: str, ctx: Ctx, authenticator: Authenticator) -> None:
    header = ATTACKS[attack](ctx)
    with pytest.raises(AuthenticationError) as refused:
        authenticator.authenticate(header, SERVICE_URL)
    assert refused.value.status == 401
    assert refused.value.headers()["WWW-Authenticate"].startswith("Bearer")
    assert ctx.attacker.connections == 0  # a URL the token names is never fetched unless allow-listed


@pytest.mark.parametrize("which", ["es", "rs"])
def test_valid_es384_and_rs384_tokens_are_accepted(
    which: str, ctx: Ctx, authenticator: Authenticator
) -> None:
    key = ctx.es if which == "es" else ctx.rs
    client = authenticator.authenticate(_bearer(sign(key, claims(SERVICE_URL), jku=ctx.jku)), SERVICE_URL)
    assert client.issuer == ISSUER and client.profile == "epic"


def test_replayed_jti_is_refused(ctx: Ctx, authenticator: Authenticator) -> None:
    header = _bearer(sign(ctx.es, claims(SERVICE_URL), jku=ctx.jku))
    authenticator.authenticate(header, SERVICE_URL)
    with pytest.raises(AuthenticationError, match="already used"):
        authenticator.authenticate(header, SERVICE_URL)


def test_replay_is_refused_by_another_authenticator_on_the_same_database(
    ctx: Ctx, clients: tuple[TrustedClient, ...], engine: Engine
) -> None:
    first = Authenticator(clients, engine, leeway_seconds=5, http_timeout=2.0)
    second = Authenticator(clients, engine, leeway_seconds=5, http_timeout=2.0)  # another worker
    header = _bearer(sign(ctx.es, claims(SERVICE_URL), jku=ctx.jku))
    first.authenticate(header, SERVICE_URL)
    with pytest.raises(AuthenticationError, match="already used"):
        second.authenticate(header, SERVICE_URL)


def test_same_jti_from_two_issuers_is_not_a_replay(
    ctx: Ctx, inline_key: SigningKey, authenticator: Authenticator
) -> None:
    jti = "shared-jti"
    authenticator.authenticate(_bearer(sign(ctx.es, claims(SERVICE_URL, jti=jti), jku=ctx.jku)), SERVICE_URL)
    inline = claims(INLINE_AUDIENCE, issuer=INLINE_ISSUER, jti=jti, sub="client-123", tenant="tenant-1")
    assert authenticator.authenticate(_bearer(sign(inline_key, inline)), SERVICE_URL).issuer == INLINE_ISSUER


def test_jti_is_remembered_until_exp_plus_leeway(
    ctx: Ctx, authenticator: Authenticator, engine: Engine
) -> None:
    payload = claims(SERVICE_URL)
    authenticator.authenticate(_bearer(sign(ctx.es, payload, jku=ctx.jku)), SERVICE_URL)
    with engine.connect() as connection:
        row = connection.execute(select(SeenJwt.expires_at).where(SeenJwt.jti == payload["jti"])).one()
    stored = row.expires_at.replace(tzinfo=UTC) if row.expires_at.tzinfo is None else row.expires_at
    assert stored == datetime.fromtimestamp(payload["exp"] + 5, tz=UTC)


def test_an_expired_leftover_row_does_not_block_a_new_token(
    ctx: Ctx, authenticator: Authenticator, engine: Engine
) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(SeenJwt).values(issuer=ISSUER, jti="recycled", expires_at=datetime(2020, 1, 1, tzinfo=UTC))
        )
    header = _bearer(sign(ctx.es, claims(SERVICE_URL, jti="recycled"), jku=ctx.jku))
    assert authenticator.authenticate(header, SERVICE_URL).issuer == ISSUER
    with pytest.raises(AuthenticationError, match="already used"):
        authenticator.authenticate(header, SERVICE_URL)


def test_expired_rows_are_purged(ctx: Ctx, clients: tuple[TrustedClient, ...], engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(SeenJwt).values(issuer=ISSUER, jti="old", expires_at=datetime(2020, 1, 1, tzinfo=UTC))
        )
    authenticator = Authenticator(clients, engine, leeway_seconds=5, http_timeout=2.0)
    authenticator.authenticate(_bearer(sign(ctx.es, claims(SERVICE_URL), jku=ctx.jku)), SERVICE_URL)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(SeenJwt)).scalar_one() == 1


def test_what_the_sandbox_sends_is_accepted(ctx: Ctx, authenticator: Authenticator) -> None:
    """Sandbox shape: ES384, aud = URL called, iat up to a second in the future, no sub/tenant."""
    payload = claims(DISCOVERY_URL, iat=int(time.time()) + 1)
    header = _bearer(sign(ctx.es, payload, jku=ctx.jku))
    assert authenticator.authenticate(header, DISCOVERY_URL).issuer == ISSUER


def test_what_epic_sends_is_accepted(ctx: Ctx, authenticator: Authenticator) -> None:
    """Epic shape: RS384, nbf five minutes before iat, sub = client id, 900 s lifetime."""
    now = int(time.time())
    payload = claims(SERVICE_URL, nbf=now - 300, sub="epic-client-id", exp=now + 900)
    assert (
        authenticator.authenticate(_bearer(sign(ctx.rs, payload, jku=ctx.jku)), SERVICE_URL).issuer == ISSUER
    )


def test_aud_list_containing_the_endpoint_is_accepted(ctx: Ctx, authenticator: Authenticator) -> None:
    payload = claims(SERVICE_URL, aud=["https://elsewhere.example", SERVICE_URL])
    assert (
        authenticator.authenticate(_bearer(sign(ctx.es, payload, jku=ctx.jku)), SERVICE_URL).issuer == ISSUER
    )


def test_typ_is_case_insensitive(ctx: Ctx, authenticator: Authenticator) -> None:
    header = _bearer(sign(ctx.es, claims(SERVICE_URL), jku=ctx.jku, headers={"typ": "jwt"}))
    assert authenticator.authenticate(header, SERVICE_URL).issuer == ISSUER


def test_token_for_the_discovery_url_is_refused_at_a_service(ctx: Ctx, authenticator: Authenticator) -> None:
    header = _bearer(sign(ctx.es, claims(DISCOVERY_URL), jku=ctx.jku))
    with pytest.raises(AuthenticationError, match="audience"):
        authenticator.authenticate(header, SERVICE_URL)


def test_missing_jku_header_looks_the_kid_up_in_the_allow_listed_sets(
    ctx: Ctx, authenticator: Authenticator
) -> None:
    assert (
        authenticator.authenticate(_bearer(sign(ctx.es, claims(SERVICE_URL))), SERVICE_URL).issuer == ISSUER
    )


class TestInlineClient:
    """A client with an inline JWK Set, a fixed audience, a subject and a tenant."""

    def _token(self, key: SigningKey, **overrides: Any) -> str:
        payload = claims(INLINE_AUDIENCE, issuer=INLINE_ISSUER, sub="client-123", tenant="tenant-1")
        payload.update(overrides)
        payload = {k: v for k, v in payload.items() if v is not None}
        return _bearer(sign(key, payload, jku=overrides.pop("jku", None)))

    def test_accepted_with_the_configured_audience_on_any_endpoint(
        self, inline_key: SigningKey, authenticator: Authenticator
    ) -> None:
        assert authenticator.authenticate(self._token(inline_key), SERVICE_URL).issuer == INLINE_ISSUER

    @pytest.mark.parametrize(
        "override",
        [
            {"sub": "someone-else"},
            {"sub": None},
            {"tenant": "tenant-2"},
            {"tenant": None},
            {"aud": SERVICE_URL},
        ],
    )
    def test_identity_and_audience_mismatches_are_refused(
        self, override: dict[str, Any], inline_key: SigningKey, authenticator: Authenticator
    ) -> None:
        with pytest.raises(AuthenticationError):
            authenticator.authenticate(self._token(inline_key, **override), SERVICE_URL)

    def test_a_jku_the_registration_does_not_list_is_refused_and_never_fetched(
        self, inline_key: SigningKey, attacker: RecordingServer, authenticator: Authenticator,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        header = _bearer(
            sign(
                inline_key,
                claims(INLINE_AUDIENCE, issuer=INLINE_ISSUER, sub="client-123", tenant="tenant-1"),
                jku=attacker.base + "/jwks.json",
            )
        )
        with pytest.raises(AuthenticationError, match="jku is not on the allow-list"):
            authenticator.authenticate(header, SERVICE_URL)  # 401 whatever the key source (issue 13)
        assert attacker.connections == 0
        assert "not allowed for" in caplog.text


class FakeClock:
    """A settable clock for the JWKS cache and the jti purge."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class TestJwksCache:
    """Fetched once, cached for the TTL, refetched at most once per interval for an unknown kid."""

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def auth(self, clients: tuple[TrustedClient, ...], engine: Engine, clock: FakeClock) -> Authenticator:
        return Authenticator(clients, engine, leeway_seconds=5, http_timeout=2.0, clock=clock)

    def _ok(self, auth: Authenticator, ctx: Ctx) -> None:
        auth.authenticate(_bearer(sign(ctx.es, claims(SERVICE_URL), jku=ctx.jku)), SERVICE_URL)

    def test_fetched_once_then_cached(
        self, auth: Authenticator, ctx: Ctx, jwks_server: RecordingServer
    ) -> None:
        for _ in range(5):
            self._ok(auth, ctx)
        assert jwks_server.paths == ["/jwks.json"]

    def test_refetched_after_the_ttl(
        self, auth: Authenticator, ctx: Ctx, clock: FakeClock, jwks_server: RecordingServer
    ) -> None:
        self._ok(auth, ctx)
        clock.now += 601
        self._ok(auth, ctx)
        assert len(jwks_server.paths) == 2

    def test_unknown_kid_refetches_at_most_once_per_interval(
        self, auth: Authenticator, ctx: Ctx, clock: FakeClock, jwks_server: RecordingServer
    ) -> None:
        self._ok(auth, ctx)
        rotated = new_key("ES384")
        with pytest.raises(
            AuthenticationError, match="key id unknown"
        ):  # the set was just fetched: no refetch
            auth.authenticate(_bearer(sign(rotated, claims(SERVICE_URL), jku=ctx.jku)), SERVICE_URL)
        assert len(jwks_server.paths) == 1
        clock.now += 31
        for _ in range(3):  # a flood of unknown kids causes one refetch, not three
            with pytest.raises(AuthenticationError, match="key id unknown"):
                auth.authenticate(_bearer(sign(rotated, claims(SERVICE_URL), jku=ctx.jku)), SERVICE_URL)
        assert len(jwks_server.paths) == 2
        # The EHR rotates its key: after the interval the new kid is found.
        jwks_server.documents["/jwks.json"]["keys"].append(rotated.public_jwk())
        clock.now += 31
        auth.authenticate(_bearer(sign(rotated, claims(SERVICE_URL), jku=ctx.jku)), SERVICE_URL)
        assert len(jwks_server.paths) == 3

    def test_jwks_server_down_refuses_and_backs_off(
        self, auth: Authenticator, ctx: Ctx, jwks_server: RecordingServer
    ) -> None:
        jwks_server.stop()
        for _ in range(3):
            with pytest.raises(AuthenticationError):
                self._ok(auth, ctx)

    def test_keys_survive_a_failed_refresh(
        self, auth: Authenticator, ctx: Ctx, clock: FakeClock, jwks_server: RecordingServer
    ) -> None:
        self._ok(auth, ctx)
        jwks_server.documents.clear()  # the JWKS endpoint now answers 404
        clock.now += 601
        self._ok(auth, ctx)
        assert len(jwks_server.paths) == 2

    def test_redirects_are_not_followed(
        self,
        auth: Authenticator,
        ctx: Ctx,
        attacker: RecordingServer,
        jwks_server: RecordingServer,
        es_key: SigningKey,
    ) -> None:
        attacker.documents["/jwks.json"] = {"keys": [es_key.public_jwk()]}
        jwks_server.redirect_to = attacker.base + "/jwks.json"
        with pytest.raises(AuthenticationError):
            self._ok(auth, ctx)
        assert attacker.connections == 0

    def test_a_non_json_jwks_is_refused(
        self, auth: Authenticator, ctx: Ctx, jwks_server: RecordingServer
    ) -> None:
        jwks_server.documents["/jwks.json"] = ["not", "a", "jwk", "set"]
        with pytest.raises(AuthenticationError):
            self._ok(auth, ctx)


def test_failure_reason_is_logged_without_the_token(
    ctx: Ctx, authenticator: Authenticator, caplog: pytest.LogCaptureFixture
) -> None:
    token = sign(ctx.es, claims(PUBLIC_BASE + "/cds-services/other"), jku=ctx.jku)
    with caplog.at_level("INFO", logger="bme.auth"), pytest.raises(AuthenticationError):
        authenticator.authenticate(_bearer(token), SERVICE_URL)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "aud mismatch" in text
    assert token not in text and token.split(".")[1] not in text and token.split(".")[2] not in text


def test_outcome_body_does_not_echo_the_token(ctx: Ctx, authenticator: Authenticator) -> None:
    token = sign(
        ctx.es, claims(SERVICE_URL, exp=int(time.time()) - 100, iat=int(time.time()) - 400), jku=ctx.jku
    )
    with pytest.raises(AuthenticationError) as refused:
        authenticator.authenticate(_bearer(token), SERVICE_URL)
    body = json.dumps(refused.value.to_outcome())
    assert refused.value.to_outcome()["resourceType"] == "OperationOutcome"
    assert token.split(".")[1] not in body


@pytest.mark.parametrize("jti", ["x" * 257, "before\x00after", ""])
def test_a_jti_the_store_cannot_hold_is_refused_before_it_is_stored(
    ctx: Ctx, authenticator: Authenticator, engine: Engine, jti: str
) -> None:
    """Too long for its column, or holding NUL (PostgreSQL text cannot), or empty: 401, and nothing written."""
    with pytest.raises(AuthenticationError, match="jti invalid"):
        authenticator.authenticate(_bearer(sign(ctx.es, claims(SERVICE_URL, jti=jti), jku=ctx.jku)), SERVICE_URL)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(SeenJwt)).scalar() == 0
