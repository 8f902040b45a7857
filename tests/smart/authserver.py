"""A SMART App Launch 2.x authorization server (and FHIR front door) for the tests, on a loopback port.

It checks what a strict EHR checks: the client id and exact redirect URI, `state`, PKCE S256 (challenge at
/authorize, verifier at /token), `aud` equal to its FHIR base, the `launch` value, and the client's
authentication (public, client_secret_basic or private_key_jwt). Its FHIR base `/fhir` serves
`/.well-known/smart-configuration` and `/metadata` and passes every other FHIR request, with a valid bearer
token only, to a FHIR server upstream (the real Medplum engine) or answers from a small in-memory list.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import unquote
from urllib.parse import urlencode

import jwt
from flask import Flask
from flask import Response
from flask import redirect
from flask import request
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server
from werkzeug.wrappers.response import Response as BaseResponse

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class LaunchContext:
    """What the EHR knows about one launch handle."""

    patient: str
    encounter: str | None = None
    need_patient_banner: Any = True  # Epic sends the string "false"; tests may do the same
    app_context: str | None = None
    fhir_context: list[dict[str, str]] | None = None
    deny: bool = False  # the user declines consent


@dataclass
class AuthConfig:
    """How the test EHR is set up."""

    client_id: str = "bme-smart-test"
    redirect_uri: str = "http://127.0.0.1:8080/smart/callback"
    client_auth: str = "public"  # public | secret | jwt
    client_secret: str = "s3cret-for-tests"
    public_key_pem: bytes = b""  # for jwt client auth
    well_known: bool = True  # False: only the CapabilityStatement advertises the endpoints (SMART v1)
    expires_in: int = 3600
    upstream: str | None = None  # FHIR base to forward to (Medplum), else `resources`
    # Behave like the SMART launcher's FHIR proxy, which collapses `//` inside the raw query string, so an
    # unencoded `code=http://loinc.org|...` reaches the FHIR server as `http:/loinc.org|...`.
    collapse_query_slashes: bool = False
    resources: list[dict[str, Any]] = field(default_factory=list)
    fhir_down: bool = False  # the FHIR API answers 503
    failing_queries: list[str] = field(default_factory=list)  # a search whose query holds one answers 500
    fhir_delay_seconds: float = 0.0  # the FHIR API answers this late
    tokens_revoked: bool = False  # the FHIR API answers 401 to every token
    token_endpoint_broken: bool = False  # /token answers 500
    advertise_endpoints: bool = True  # False: neither discovery document names SMART endpoints
    discovery_broken: bool = False  # both discovery documents answer 503 (a sick server, not a missing set-up)
    standalone_patient: str = ""  # the patient "picked" in a standalone launch
    launches: dict[str, LaunchContext] = field(default_factory=dict)


@dataclass
class Recorded:
    """What the tests inspect afterwards."""

    authorize: list[dict[str, str]] = field(default_factory=list)
    authorize_errors: list[str] = field(default_factory=list)
    token: list[dict[str, str]] = field(default_factory=list)
    token_errors: list[str] = field(default_factory=list)
    fhir: list[tuple[str, str]] = field(default_factory=list)  # (path?query, authorization header)
    issued_tokens: list[str] = field(default_factory=list)


def s256(verifier: str) -> str:
    """RFC 7636 S256 challenge."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def create_auth_app(config: AuthConfig, recorded: Recorded, base_url: str) -> Flask:
    """The test EHR's OAuth endpoints and FHIR front door."""
    app = Flask("smart-test-ehr")
    codes: dict[str, dict[str, Any]] = {}
    tokens: dict[str, float] = {}
    fhir_base = f"{base_url}/fhir"

    def fail_redirect(redirect_uri: str, state: str, error: str, why: str) -> BaseResponse:
        recorded.authorize_errors.append(why)
        query = urlencode({"error": error, "error_description": why, "state": state})
        return redirect(f"{redirect_uri}?{query}", 302)

    @app.get("/fhir/.well-known/smart-configuration")
    def well_known() -> Response:
        if config.discovery_broken:
            return Response("busy", 503)
        if not config.well_known or not config.advertise_endpoints:
            return Response("not found", 404)
        body = {
            "issuer": base_url,
            "authorization_endpoint": f"{base_url}/authorize",
            "token_endpoint": f"{base_url}/token",
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
            "capabilities": [
                "launch-ehr",
                "launch-standalone",
                "client-public",
                "client-confidential-symmetric",
                "client-confidential-asymmetric",
                "context-ehr-patient",
                "context-banner",
                "permission-v1",
                "permission-v2",
            ],
            "scopes_supported": ["launch", "launch/patient", "patient/*.rs", "patient/*.read"],
        }
        return Response(json.dumps(body), 200, mimetype="application/json")

    @app.get("/fhir/metadata")
    def metadata() -> Response:
        if config.discovery_broken:
            return Response("busy", 503)
        if not config.advertise_endpoints:
            bare = {"resourceType": "CapabilityStatement", "status": "active", "kind": "instance"}
            return Response(json.dumps(bare), 200, mimetype="application/fhir+json")
        body = {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "date": "2026-01-01",
            "rest": [
                {
                    "mode": "server",
                    "security": {
                        "extension": [
                            {
                                "url": OAUTH_URIS,
                                "extension": [
                                    {"url": "authorize", "valueUri": f"{base_url}/authorize"},
                                    {"url": "token", "valueUri": f"{base_url}/token"},
                                ],
                            }
                        ]
                    },
                }
            ],
        }
        return Response(json.dumps(body), 200, mimetype="application/fhir+json")

    @app.get("/authorize")
    def authorize() -> BaseResponse:
        params = request.args.to_dict(flat=True)
        recorded.authorize.append(params)
        # Per RFC 6749 §4.1.2.1 an unknown client or redirect URI is never redirected to.
        if params.get("client_id") != config.client_id:
            recorded.authorize_errors.append("unknown client_id")
            return Response("unknown client_id", 400)
        if params.get("redirect_uri") != config.redirect_uri:
            recorded.authorize_errors.append("redirect_uri is not the registered one")
            return Response("redirect_uri is not registered", 400)
        redirect_uri, state = config.redirect_uri, params.get("state", "")
        if len(state) < 22:  # SMART: at least 122 bits of entropy
            return fail_redirect(redirect_uri, state, "invalid_request", "state missing or too short")
        if params.get("response_type") != "code":
            return fail_redirect(
                redirect_uri, state, "unsupported_response_type", "response_type must be code"
            )
        if params.get("aud", "").rstrip("/") != fhir_base:
            return fail_redirect(redirect_uri, state, "invalid_request", "aud is not this server's FHIR base")
        if params.get("code_challenge_method") != "S256" or len(params.get("code_challenge", "")) != 43:
            return fail_redirect(redirect_uri, state, "invalid_request", "PKCE S256 challenge required")
        scopes = params.get("scope", "").split()
        launch = params.get("launch")
        if launch is not None:
            context = config.launches.get(launch)
            if context is None:
                return fail_redirect(redirect_uri, state, "invalid_request", "unknown launch value")
            if "launch" not in scopes:
                return fail_redirect(
                    redirect_uri, state, "invalid_scope", "EHR launch needs the launch scope"
                )
        else:
            if "launch/patient" not in scopes or not config.standalone_patient:
                return fail_redirect(
                    redirect_uri, state, "invalid_scope", "standalone launch needs launch/patient"
                )
            context = LaunchContext(patient=config.standalone_patient)
        if context.deny:
            return fail_redirect(redirect_uri, state, "access_denied", "the user declined")
        code = secrets.token_urlsafe(24)
        codes[code] = {
            "challenge": params["code_challenge"],
            "redirect_uri": redirect_uri,
            "context": context,
            "scope": " ".join(scopes),
            "expires": time.time() + 120,
        }
        return redirect(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}", 302)

    def token_error(status: int, error: str, why: str) -> Response:
        recorded.token_errors.append(why)
        return Response(
            json.dumps({"error": error, "error_description": why}), status, mimetype="application/json"
        )

    def client_ok(form: Mapping[str, str]) -> str | None:
        """None when the client authenticated as configured, else why not."""
        if config.client_auth == "public":
            return None if form.get("client_id") == config.client_id else "public client must send client_id"
        if config.client_auth == "secret":
            header = request.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return "client_secret_basic expected"
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            ok = unquote(user) == config.client_id and unquote(password) == config.client_secret
            return None if ok else "wrong client secret"
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return "private_key_jwt expected"
        try:
            claims = jwt.decode(
                form.get("client_assertion", ""),
                config.public_key_pem,
                algorithms=["RS384", "ES384"],
                audience=f"{base_url}/token",
            )
        except jwt.PyJWTError as exc:
            return f"client assertion rejected: {type(exc).__name__}"
        if (
            claims.get("iss") != config.client_id
            or claims.get("sub") != config.client_id
            or not claims.get("jti")
        ):
            return "client assertion iss/sub/jti wrong"
        return None

    @app.post("/token")
    def token() -> Response:
        form = request.form.to_dict(flat=True)
        recorded.token.append({k: v for k, v in form.items() if k != "client_assertion"})
        if config.token_endpoint_broken:
            return Response("<html>Internal error</html>", 500, mimetype="text/html")
        problem = client_ok(form)
        if problem:
            return token_error(401, "invalid_client", problem)
        if form.get("grant_type") != "authorization_code":
            return token_error(400, "unsupported_grant_type", "authorization_code only")
        grant = codes.pop(form.get("code", ""), None)
        if grant is None or grant["expires"] < time.time():
            return token_error(400, "invalid_grant", "unknown, used or expired code")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return token_error(400, "invalid_grant", "redirect_uri differs from the authorize request")
        if s256(form.get("code_verifier", "")) != grant["challenge"]:
            return token_error(400, "invalid_grant", "code_verifier does not match the challenge")
        context: LaunchContext = grant["context"]
        access = secrets.token_urlsafe(32)
        tokens[access] = time.time() + config.expires_in
        recorded.issued_tokens.append(access)
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": config.expires_in,
            "scope": grant["scope"],
            "patient": context.patient,
            "need_patient_banner": context.need_patient_banner,
        }
        if context.encounter:
            body["encounter"] = context.encounter
        if context.app_context is not None:
            body["appContext"] = context.app_context
        if context.fhir_context is not None:
            body["fhirContext"] = context.fhir_context
        response = Response(json.dumps(body), 200, mimetype="application/json")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return response

    @app.get("/fhir/<path:path>")
    def fhir(path: str) -> Response:
        query = request.query_string.decode()
        if config.collapse_query_slashes:
            while "//" in query:
                query = query.replace("//", "/")
        authorization = request.headers.get("Authorization", "")
        recorded.fhir.append((f"{path}?{query}" if query else path, authorization))
        bearer = authorization.removeprefix("Bearer ")
        expired = tokens.get(bearer, 0) < time.time() or config.tokens_revoked
        if not authorization.startswith("Bearer ") or expired:
            return Response(
                json.dumps(
                    {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login"}]}
                ),
                401,
                mimetype="application/fhir+json",
            )
        if config.fhir_down:
            return Response("upstream unavailable", 503)
        if any(part in query for part in config.failing_queries):
            return Response("search failed", 500)
        if config.fhir_delay_seconds:
            time.sleep(config.fhir_delay_seconds)
        if config.upstream:
            return _forward(f"{config.upstream.rstrip('/')}/{path}" + (f"?{query}" if query else ""))
        return Response(
            json.dumps(_answer(config.resources, path, request.args.to_dict(flat=True))),
            200,
            mimetype="application/fhir+json",
        )

    return app


def _forward(url: str) -> Response:
    req = urllib.request.Request(url, headers={"Accept": "application/fhir+json"})
    try:
        with _OPENER.open(req, timeout=30) as upstream:
            return Response(upstream.read(), upstream.status, mimetype="application/fhir+json")
    except urllib.error.HTTPError as exc:
        return Response(exc.read(), exc.code, mimetype="application/fhir+json")


def _answer(resources: list[dict[str, Any]], path: str, params: Mapping[str, str]) -> dict[str, Any]:
    """Read `Type/id`, or search `Type?patient=id`, narrowed by `code` and `category` tokens (others ignored)."""
    kind, _, ident = path.partition("/")
    if ident:
        for resource in resources:
            if resource["resourceType"] == kind and resource.get("id") == ident:
                return resource
        return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]}
    patient = params.get("patient", "").removeprefix("Patient/")
    matches = [
        r
        for r in resources
        if r["resourceType"] == kind
        and _subject(r) == f"Patient/{patient}"
        and all(_has_token(r.get(name), params[name]) for name in ("code", "category") if name in params)
    ]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(matches),
        "entry": [{"resource": r} for r in matches],
    }


def _has_token(element: Any, tokens: str) -> bool:
    """FHIR token search: a coding matches `system|code` or a bare `code`; commas separate alternatives."""
    concepts = element if isinstance(element, list) else [element]
    codings = [
        c
        for concept in concepts
        if isinstance(concept, dict)
        for c in concept.get("coding") or ()
        if isinstance(c, dict)
    ]
    for token in tokens.split(","):
        system, bar, code = token.rpartition("|")
        if any(c.get("code") == code and (not bar or c.get("system") == system) for c in codings):
            return True
    return False


def _subject(resource: Mapping[str, Any]) -> str:
    for key in ("subject", "patient"):
        value = resource.get(key)
        if isinstance(value, dict) and isinstance(value.get("reference"), str):
            return str(value["reference"])
    return ""


class _QuietHandler(WSGIRequestHandler):
    """No access log: the app's callback URL carries the authorization code."""

    def log_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


class ServerThread:
    """A WSGI app served by werkzeug on a free loopback port, in a daemon thread."""

    def __init__(self, app: Any, *, quiet: bool = False) -> None:
        handler = _QuietHandler if quiet else WSGIRequestHandler
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True, request_handler=handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port>"""
        return f"http://127.0.0.1:{self.server.server_port}"

    def start(self) -> ServerThread:
        """Start serving."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class TestEhr:
    """The authorization server plus FHIR front door, started on a free port."""

    __test__ = False  # not a pytest test class

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self.recorded = Recorded()
        self._dispatch = LateApp()
        self.thread = ServerThread(self._dispatch)
        self._dispatch.app = create_auth_app(config, self.recorded, self.thread.url)

    @property
    def base_url(self) -> str:
        """The server root (authorize and token endpoints live here)."""
        return self.thread.url

    @property
    def fhir_base(self) -> str:
        """The FHIR base the EHR passes as `iss`."""
        return f"{self.thread.url}/fhir"

    def __enter__(self) -> TestEhr:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.thread.stop()


class LateApp:
    """A WSGI callable whose app is set after the port is known (the app needs its own URL)."""

    app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)
