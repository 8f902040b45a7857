"""SMART App Launch 2.x client: discovery, PKCE, the authorize URL, the token exchange, client authentication.

The OAuth client is an HTTP client, so this module imports requests (like prefetch.py, the only other one).
Every call has a timeout, ignores proxy variables and never follows redirects; tokens, secrets, codes and
verifiers are never logged or put in an exception message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from urllib.parse import urlencode

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import ECAlgorithm
from jwt.algorithms import RSAAlgorithm

from service.config import CLIENT_PRIVATE_KEY_JWT
from service.config import CLIENT_PUBLIC
from service.config import CLIENT_SECRET_BASIC
from service.config import ConfigError
from service.config import SmartSettings
from service.errors import InvalidRequestError
from service.fhir.access import check_server_url
from service.smart.errors import AccessDeniedError
from service.smart.errors import AuthorizationFailedError
from service.smart.errors import DiscoveryError
from service.smart.errors import NoPatientError
from service.smart.errors import NoSmartConfigurationError
from service.smart.store import LaunchContext

log = logging.getLogger(__name__)

WELL_KNOWN = ".well-known/smart-configuration"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME_SECONDS = 300  # SMART asymmetric auth: exp no more than five minutes ahead
JSON_ACCEPT = "application/json"
# An appContext from our own cards is {"rule": "R22"}; anything else is ignored (it is opaque to us).
_RULE_ID = re.compile(r"^[RS][0-9]{1,2}[a-z]?$")
MAX_APP_CONTEXT_CHARS = 512
MAX_FHIR_CONTEXT = 10
_RELATIVE_REFERENCE = re.compile(r"^[A-Z][A-Za-z]{1,63}/[A-Za-z0-9.-]{1,64}$")  # FHIR R4 id syntax
# OAuth error codes are ASCII tokens (RFC 6749 §5.2); anything else is not echoed.
_OAUTH_ERROR = re.compile(r"^[a-z_]{1,64}$")


@dataclass(frozen=True)
class Endpoints:
    """Where to authorize and where to get tokens, as the FHIR server's discovery says."""

    authorize: str
    token: str
    via: str  # "smart-configuration" or "CapabilityStatement"


def pkce_pair(verifier: str) -> str:
    """The S256 code_challenge for a verifier (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def scopes_for(prefetch_scopes: tuple[str, ...], *, v1: bool, standalone: bool) -> str:
    """The scopes to request: launch context plus read access to what the patient-view prefetch reads.

    Derived from the hook's own prefetch declaration, so the app never asks for more than the cards read.
    """
    resources = []
    for scope in prefetch_scopes:
        base = scope.rsplit(".", 1)[0]
        resources.append(f"{base}.read" if v1 else f"{base}.rs")
    launch = "launch/patient" if standalone else "launch"
    return " ".join(dict.fromkeys((launch, *resources)))


def _http_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy variables: tokens go only to the named server
    return session


def public_jwks(private_key_pem: bytes, algorithm: str, key_id: str) -> dict[str, Any]:
    """The JWK Set of the client's public key, to register with the EHR (or serve as a JWKS URL).

    :raises ConfigError: the key file is not a PEM private key of the configured algorithm's type.
    """
    try:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"BME_SMART_PRIVATE_KEY_FILE is not an unencrypted PEM private key ({exc})"
        ) from None
    if algorithm.startswith("RS") and isinstance(key, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    elif algorithm.startswith("ES") and isinstance(key, ec.EllipticCurvePrivateKey):
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        raise ConfigError(f"BME_SMART_PRIVATE_KEY_FILE does not hold a key for {algorithm}")
    jwk.update({"alg": algorithm, "use": "sig"})
    if key_id:
        jwk["kid"] = key_id
    return {"keys": [jwk]}


class SmartClient:
    """The OAuth client for one configured app registration."""

    def __init__(
        self,
        config: SmartSettings,
        *,
        allow_http_hosts: tuple[str, ...] = (),
        private_key: bytes = b"",
        clock: Any = time.time,
    ) -> None:
        self.config = config
        self.allow_http_hosts = allow_http_hosts
        self.private_key = private_key
        self.clock = clock
        self.session = _http_session()

    def check_url(self, url: str) -> None:
        """https, or http on loopback / an allowed host: the same rule as for CDS Hooks fhirServer."""
        check_server_url(url, self.allow_http_hosts)

    def _get_json(self, url: str) -> Any:
        headers = {"Accept": JSON_ACCEPT}
        if self.config.client_id:
            headers["Epic-Client-ID"] = self.config.client_id  # Epic may override the iss per client id
        response = self.session.get(
            url, headers=headers, timeout=self.config.http_timeout_seconds, allow_redirects=False
        )
        if response.status_code >= 500:
            # A sick server is "busy, try again"; only an answer without SMART endpoints means "not set up".
            raise requests.HTTPError(f"HTTP {response.status_code}", response=response)
        if response.status_code != 200:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    def discover(self, iss: str) -> Endpoints:
        """{iss}/.well-known/smart-configuration, else the CapabilityStatement's oauth-uris extension.

        :raises DiscoveryError: neither gives an authorize and a token endpoint.
        """
        base = iss.rstrip("/")
        try:
            document = self._get_json(f"{base}/{WELL_KNOWN}")
            endpoints = _from_smart_configuration(document)
            if endpoints is None:
                endpoints = _from_capability_statement(self._get_json(f"{base}/metadata"))
        except requests.RequestException as exc:
            log.warning("smart: discovery at %s failed (%s)", base, type(exc).__name__)
            raise DiscoveryError(f"the FHIR server at {base} did not answer") from None
        if endpoints is None:
            log.warning("smart: %s advertises no SMART endpoints", base)
            raise NoSmartConfigurationError(f"the FHIR server at {base} advertises no SMART authorization endpoints")
        for url in (endpoints.authorize, endpoints.token):
            try:
                self.check_url(url)
            except InvalidRequestError:
                raise DiscoveryError(
                    "the EHR advertises an authorization endpoint that is not https"
                ) from None
        return endpoints

    def authorize_url(
        self,
        endpoints: Endpoints,
        *,
        iss: str,
        state: str,
        verifier: str,
        scope: str,
        redirect_uri: str,
        launch: str | None,
    ) -> str:
        """The authorization request (SMART App Launch 2.x §Obtain authorization code) as a GET URL."""
        params = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "aud": iss,
            "code_challenge": pkce_pair(verifier),
            "code_challenge_method": "S256",
        }
        if launch is not None:
            params["launch"] = launch
        separator = "&" if "?" in endpoints.authorize else "?"
        return f"{endpoints.authorize}{separator}{urlencode(params)}"

    def client_assertion(self, token_endpoint: str) -> str:
        """A private_key_jwt assertion (RFC 7523; SMART client-confidential-asymmetric)."""
        now = int(self.clock())
        claims = {
            "iss": self.config.client_id,
            "sub": self.config.client_id,
            "aud": token_endpoint,
            "jti": str(uuid.uuid4()),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECONDS,
        }
        headers = {"typ": "JWT"}
        if self.config.key_id:
            headers["kid"] = self.config.key_id
        return jwt.encode(claims, self.private_key, algorithm=self.config.jwt_algorithm, headers=headers)

    def exchange(self, token_endpoint: str, *, code: str, verifier: str, redirect_uri: str) -> LaunchContext:
        """Trade the code for a token and read the launch context.

        :raises AuthorizationFailedError: the token endpoint refused, failed or answered nonsense.
        :raises NoPatientError: the token carries no patient.
        """
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        headers = {"Accept": JSON_ACCEPT}
        kind = self.config.client_type
        if kind == CLIENT_SECRET_BASIC:
            # RFC 6749 §2.3.1: id and secret are form-encoded before base64.
            pair = f"{quote(self.config.client_id, safe='')}:{quote(self.config.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
        elif kind == CLIENT_PRIVATE_KEY_JWT:
            form["client_assertion_type"] = ASSERTION_TYPE
            form["client_assertion"] = self.client_assertion(token_endpoint)
        elif kind == CLIENT_PUBLIC:
            form["client_id"] = self.config.client_id
        try:
            response = self.session.post(
                token_endpoint,
                data=form,
                headers=headers,
                timeout=self.config.http_timeout_seconds,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            log.warning("smart: token endpoint unreachable (%s)", type(exc).__name__)
            raise AuthorizationFailedError("the token endpoint did not answer") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            safe = error if isinstance(error, str) and _OAUTH_ERROR.match(error) else "unknown"
            log.warning("smart: token request refused: HTTP %s, error %s", response.status_code, safe)
            raise AuthorizationFailedError(f"the token endpoint refused the request ({safe})")
        return read_token_response(body)


def oauth_error(params: Mapping[str, str]) -> Exception:
    """The error to show for an authorization error redirect (RFC 6749 §4.1.2.1)."""
    error = params.get("error", "")
    safe = error if _OAUTH_ERROR.match(error) else "unknown"
    if safe == "access_denied":
        return AccessDeniedError("the request for access to the record was declined")
    log.info("smart: authorization error %s", safe)
    return AuthorizationFailedError(f"the authorization server answered '{safe}'")


def _flag(value: Any) -> bool | None:
    """A boolean, tolerating Epic's "true"/"false" strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def card_rule(app_context: Any) -> str:
    """The rule id our card put in appContext ({"rule": "R22"} or a bare "R22"), else ""."""
    if not isinstance(app_context, str) or len(app_context) > MAX_APP_CONTEXT_CHARS:
        return ""
    text = app_context.strip()
    if _RULE_ID.match(text):
        return text
    try:
        parsed = json.loads(text)
    except ValueError:
        return ""
    rule = parsed.get("rule") if isinstance(parsed, dict) else None
    return rule if isinstance(rule, str) and _RULE_ID.match(rule) else ""


def fhir_context(value: Any) -> tuple[str, ...]:
    """The relative references in a SMART 2.x fhirContext array (at most 10; anything else is ignored)."""
    if not isinstance(value, list):
        return ()
    references: list[str] = []
    for item in value[:MAX_FHIR_CONTEXT]:
        reference = item.get("reference") if isinstance(item, dict) else None
        if isinstance(reference, str) and _RELATIVE_REFERENCE.match(reference):
            references.append(reference)
    return tuple(dict.fromkeys(references))


def read_token_response(body: Mapping[str, Any]) -> LaunchContext:
    """Validate the token response and pull out the launch context (SMART App Launch 2.x §Launch context).

    :raises AuthorizationFailedError: no bearer access token.
    :raises NoPatientError: no patient in context.
    """
    token = body.get("access_token")
    token_type = body.get("token_type")
    if not isinstance(token, str) or not token:
        raise AuthorizationFailedError("the token response has no access token")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise AuthorizationFailedError("the token response is not a bearer token")
    patient = body.get("patient")
    if not isinstance(patient, str) or not patient or "/" in patient:
        raise NoPatientError("the token response names no patient")
    encounter = body.get("encounter")
    expires_in = body.get("expires_in")
    banner = _flag(body.get("need_patient_banner"))
    scope = body.get("scope")
    return LaunchContext(
        access_token=token,
        expires_in=int(expires_in)
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
        else None,
        granted_scope=scope if isinstance(scope, str) else "",
        patient=patient,
        encounter=encounter if isinstance(encounter, str) and "/" not in encounter else "",
        # Absent means unknown: show the banner, the safe choice.
        need_patient_banner=True if banner is None else banner,
        card_rule=card_rule(body.get("appContext")),
        fhir_context=fhir_context(body.get("fhirContext")),
    )


def _from_smart_configuration(document: Any) -> Endpoints | None:
    if not isinstance(document, dict):
        return None
    authorize, token = document.get("authorization_endpoint"), document.get("token_endpoint")
    if isinstance(authorize, str) and authorize and isinstance(token, str) and token:
        return Endpoints(authorize=authorize, token=token, via="smart-configuration")
    return None


def _from_capability_statement(document: Any) -> Endpoints | None:
    """SMART v1 discovery: rest[].security.extension[oauth-uris] with `authorize` and `token` valueUri."""
    if not isinstance(document, dict) or document.get("resourceType") != "CapabilityStatement":
        return None
    for rest in document.get("rest") or ():
        security = rest.get("security") if isinstance(rest, dict) else None
        for extension in (security or {}).get("extension") or ():
            if not isinstance(extension, dict) or extension.get("url") != OAUTH_URIS:
                continue
            uris = {
                e.get("url"): e.get("valueUri")
                for e in extension.get("extension") or ()
                if isinstance(e, dict)
            }
            authorize, token = uris.get("authorize"), uris.get("token")
            if isinstance(authorize, str) and authorize and isinstance(token, str) and token:
                return Endpoints(authorize=authorize, token=token, via="CapabilityStatement")
    return None
