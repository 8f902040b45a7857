"""Security test helpers: signing keys, token minting, loopback HTTP servers that record calls."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import ECAlgorithm
from jwt.algorithms import RSAAlgorithm

ISSUER = "https://ehr.example.org/api/FHIR/R4"
OTHER_ISSUER = "https://other-ehr.example.org/fhir"
INLINE_ISSUER = "https://inline.example.org/fhir"
FHIR_BASE = "https://ehr.example.org/api/FHIR/R4"
PUBLIC_BASE = "https://bme.example.org"
DISCOVERY_URL = PUBLIC_BASE + "/cds-services"


@dataclass(frozen=True)
class SigningKey:
    """A private key, its algorithm and kid, and its public JWK."""

    private: Any
    alg: str
    kid: str

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK dict with kid, alg and use."""
        codec = ECAlgorithm if self.alg.startswith("ES") else RSAAlgorithm
        jwk: dict[str, Any] = json.loads(codec.to_jwk(self.private.public_key()))
        jwk.update(kid=self.kid, alg=self.alg, use="sig")
        return jwk


def new_key(alg: str, kid: str | None = None) -> SigningKey:
    """A freshly generated ES384/ES256/RS384/RS256 key."""
    if alg == "ES384":
        private: Any = ec.generate_private_key(ec.SECP384R1())
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SigningKey(private=private, alg=alg, kid=kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}")


def claims(audience: str, *, issuer: str = ISSUER, lifetime: int = 300, **overrides: Any) -> dict[str, Any]:
    """A valid claim set; `None` in overrides removes a claim."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
        "jti": str(uuid.uuid4()),
    }
    for name, value in overrides.items():
        if value is None:
            payload.pop(name, None)
        else:
            payload[name] = value
    return payload


def sign(
    key: SigningKey,
    payload: Mapping[str, Any],
    *,
    jku: str | None = None,
    headers: Mapping[str, Any] | None = None,
    alg: str | None = None,
) -> str:
    """Sign a payload with the key's kid (and jku) in the header; header None values are removed."""
    header: dict[str, Any] = {"typ": "JWT", "kid": key.kid}
    if jku is not None:
        header["jku"] = jku
    header.update(headers or {})
    # PyJWT drops a typ set to None (and otherwise adds typ JWT itself); drop other None entries here.
    header = {k: v for k, v in header.items() if v is not None or k == "typ"}
    return jwt.encode(dict(payload), key.private, algorithm=alg or key.alg, headers=header)


def unsigned_token(header: Mapping[str, Any], payload: Mapping[str, Any], signature: bytes = b"") -> str:
    """A compact JWS built by hand (for alg none and other forgeries PyJWT refuses to produce)."""
    parts = [
        jwt.utils.base64url_encode(json.dumps(dict(header)).encode()),
        jwt.utils.base64url_encode(json.dumps(dict(payload)).encode()),
        jwt.utils.base64url_encode(signature),
    ]
    return b".".join(parts).decode()


@dataclass
class RecordingServer:
    """A loopback HTTP server answering GETs from a path -> JSON map and recording every connection."""

    documents: dict[str, Any] = field(default_factory=dict)
    connections: int = 0
    paths: list[str] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    redirect_to: str | None = None
    _server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        """http://127.0.0.1:<port>"""
        if self._server is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> RecordingServer:
        """Bind an ephemeral port and serve in a daemon thread."""
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                recorder.paths.append(self.path)
                recorder.authorizations.append(self.headers.get("Authorization", ""))
                if recorder.redirect_to is not None:
                    self.send_response(302)
                    self.send_header("Location", recorder.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                document = recorder.documents.get(self.path.split("?")[0])
                body = json.dumps(document if document is not None else {"error": "not found"}).encode()
                self.send_response(200 if document is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                return

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request: Any, client_address: Any) -> bool:
                recorder.connections += 1  # counted at accept time, before any HTTP is parsed
                return True

        self._server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        """Shut the server down and free the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
