"""The trusted-clients file, the open-proxy guard and the BME_AUTH=off rule."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from service.config import ConfigError
from service.errors import ForbiddenError
from service.errors import InvalidRequestError
from service.web.auth import TrustedClient
from service.web.auth import assert_auth_off_allowed
from service.web.auth import fhir_access
from service.web.auth import load_trusted_clients
from tests.security.support import SigningKey

EPIC = {
    "issuer": "https://fhir.hospital.example/api/FHIR/R4",
    "jku": ["https://fhir.hospital.example/api/epic/2019/Security/Open/PublicKeys/530013/530013"],
    "fhir_servers": ["https://fhir.hospital.example/api/FHIR/R4"],
    "subject": "epic-client",
    "profile": "epic",
}


def _write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "clients.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
    return path


def test_a_full_file_loads(tmp_path: Path, inline_key: SigningKey) -> None:
    inline = {
        "issuer": "https://inline.example",
        "jwks": {"keys": [inline_key.public_jwk()]},
        "audience": "https://bme.example.org/cds-services",
        "tenant": "t1",
        "fhir_servers": [],
    }
    clients = load_trusted_clients(_write(tmp_path, {"clients": [EPIC, inline]}))
    epic, other = clients
    assert epic.issuer == EPIC["issuer"] and epic.jku == tuple(EPIC["jku"]) and epic.jwks is None
    assert epic.subject == "epic-client" and epic.tenant is None and epic.audience is None
    assert epic.fhir_servers == ("https://fhir.hospital.example/api/FHIR/R4",) and epic.profile == "epic"
    assert other.jwks is not None and other.profile == "generic" and other.tenant == "t1"
    assert not other.allow_http


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "not valid JSON"),
        ({"client": []}, "'clients' list"),
        ([], "'clients' list"),
        ({"clients": ["x"]}, r"clients\[0\]: must be an object"),
        ({"clients": [{"jku": ["https://a.example/jwks"]}]}, "'issuer' is required"),
        ({"clients": [{"issuer": "https://a.example"}]}, "give 'jku'"),
        ({"clients": [{**EPIC, "jku": ["http://a.example/jwks"]}]}, "must use https"),
        ({"clients": [{**EPIC, "jku": ["not a url"]}]}, "absolute http"),
        ({"clients": [{**EPIC, "jku": ["https://user:pw@a.example/jwks"]}]}, "credentials"),
        ({"clients": [{**EPIC, "jku": "https://a.example/jwks", "isuer": "typo"}]}, "unknown field"),
        ({"clients": [{**EPIC, "profile": "cerner"}]}, "'profile' must be one of"),
        ({"clients": [{**EPIC, "fhir_servers": ["ftp://x.example"]}]}, "fhir_servers entry"),
        ({"clients": [{**EPIC, "audience": "bme"}]}, "'audience' must be the absolute URL"),
        ({"clients": [{**EPIC, "subject": ""}]}, "'subject' must be a non-empty string"),
        ({"clients": [{**EPIC, "allow_http": "yes"}]}, "'allow_http' must be true or false"),
        ({"clients": [EPIC, EPIC]}, "listed twice"),
        ({"clients": [{**EPIC, "jku": [], "jwks": {"keys": []}}]}, "non-empty 'keys'"),
        (
            {
                "clients": [
                    {**EPIC, "jku": [], "jwks": {"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}]}}
                ]
            },
            "EC or RSA public key",
        ),
    ],
)
def test_bad_files_are_refused_with_a_clear_message(tmp_path: Path, document: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_trusted_clients(_write(tmp_path, document))


def test_private_key_material_in_inline_jwks_is_refused(tmp_path: Path, inline_key: SigningKey) -> None:
    private = {**inline_key.public_jwk(), "d": "AAAA"}
    with pytest.raises(ConfigError, match="private key material"):
        load_trusted_clients(
            _write(tmp_path, {"clients": [{"issuer": "https://i.example", "jwks": {"keys": [private]}}]})
        )


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_trusted_clients(tmp_path / "absent.json")


def test_http_jku_is_allowed_on_loopback_or_with_allow_http(tmp_path: Path) -> None:
    loopback = {**EPIC, "jku": ["http://127.0.0.1:9999/jwks.json"]}
    opted_in = {
        **EPIC,
        "issuer": "https://b.example",
        "jku": ["http://jwks.lan/jwks.json"],
        "allow_http": True,
    }
    assert len(load_trusted_clients(_write(tmp_path, {"clients": [loopback, opted_in]}))) == 2


def test_trusting_the_sandbox_logs_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sandbox = {
        "issuer": "https://sandbox.cds-hooks.org",
        "jku": ["https://sandbox.cds-hooks.org/.well-known/jwks.json"],
        "profile": "sandbox",
    }
    with caplog.at_level(logging.WARNING, logger="bme.auth"):
        load_trusted_clients(_write(tmp_path, {"clients": [sandbox]}))
    assert "development only" in caplog.text


class TestAuthOff:
    @pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]", "LOCALHOST"])
    def test_loopback_is_allowed_with_a_warning(self, host: str, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.WARNING, logger="bme.auth"):
            assert_auth_off_allowed(host)
        assert "DISABLED" in caplog.text

    @pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "bme.example.org", "", "127.0.0.1.nip.io"])
    def test_anything_else_is_refused(self, host: str) -> None:
        with pytest.raises(ConfigError, match="loopback"):
            assert_auth_off_allowed(host)


def _client(*servers: str, allow_http: bool = False) -> TrustedClient:
    return TrustedClient(
        issuer="https://ehr.example",
        jku=("https://ehr.example/jwks",),
        jwks=None,
        audience=None,
        subject=None,
        tenant=None,
        fhir_servers=servers,
        profile="generic",
        allow_http=allow_http,
    )


class TestFhirServerGuard:
    """Never an open proxy: only servers the client may name, https unless configured otherwise."""

    @pytest.mark.parametrize(
        "url", ["https://ehr.example/fhir", "https://EHR.example:443/fhir/", "HTTPS://ehr.example/fhir"]
    )
    def test_the_clients_own_server_passes(self, url: str) -> None:
        fhir_access(_client("https://ehr.example/fhir"), {"fhirServer": url}, ())

    @pytest.mark.parametrize(
        "url",
        [
            "https://evil.example/fhir",
            "https://ehr.example/fhir/other",
            "https://ehr.example:8443/fhir",
            "https://ehr.example",
            "https://ehr.example.evil.example/fhir",
            "http://ehr.example/fhir",
        ],
    )
    def test_other_servers_are_forbidden(self, url: str) -> None:
        with pytest.raises(ForbiddenError):
            fhir_access(_client("https://ehr.example/fhir"), {"fhirServer": url}, ())

    def test_a_client_without_servers_may_name_none(self) -> None:
        with pytest.raises(ForbiddenError):
            fhir_access(_client(), {"fhirServer": "https://ehr.example/fhir"}, ())

    @pytest.mark.parametrize(
        "url",
        [
            "ftp://ehr.example/fhir",
            "/fhir",
            "https://",
            "https://u:p@ehr.example/fhir",
            "https://[::1",
            "https://ehr.example:99999/fhir",
            "javascript:alert(1)",
        ],
    )
    def test_malformed_urls_are_invalid(self, url: str) -> None:
        with pytest.raises(InvalidRequestError):
            fhir_access(_client(url), {"fhirServer": url}, ())
        with pytest.raises(InvalidRequestError):
            fhir_access(None, {"fhirServer": url}, ())

    def test_http_needs_loopback_or_an_allowance(self) -> None:
        with pytest.raises(InvalidRequestError, match="https"):
            fhir_access(_client("http://fhir.lan/r4"), {"fhirServer": "http://fhir.lan/r4"}, ())
        fhir_access(_client("http://fhir.lan/r4"), {"fhirServer": "http://fhir.lan/r4"}, ("fhir.lan",))
        fhir_access(_client("http://fhir.lan/r4", allow_http=True), {"fhirServer": "http://fhir.lan/r4"}, ())
        fhir_access(_client("http://127.0.0.1:8080/fhir"), {"fhirServer": "http://127.0.0.1:8080/fhir"}, ())

    def test_with_auth_off_only_the_https_rule_applies(self) -> None:
        fhir_access(None, {"fhirServer": "https://anything.example/fhir"}, ())
        fhir_access(None, {"fhirServer": "http://localhost:8080/fhir"}, ())
        fhir_access(None, {"fhirServer": "http://[::1]:8080/fhir"}, ())
        with pytest.raises(InvalidRequestError):
            fhir_access(None, {"fhirServer": "http://10.1.2.3/fhir"}, ())


DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_documented_examples_load(tmp_path: Path) -> None:
    """docs/trusted-clients.example.json and every JSON block in docs/security.md are valid files."""
    assert len(load_trusted_clients(DOCS / "trusted-clients.example.json")) == 3
    text = (DOCS / "security.md").read_text(encoding="utf-8")
    blocks = [block.split("```", 1)[0] for block in text.split("```json\n")[1:]]
    assert len(blocks) == 2
    for index, block in enumerate(blocks):
        path = tmp_path / f"block{index}.json"
        path.write_text(block, encoding="utf-8")
        assert load_trusted_clients(path)
