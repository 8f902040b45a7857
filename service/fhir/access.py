"""FhirAccess: the FHIR server a call may read and the token to read it with, checked once where it comes in.

The CDS Hooks edge builds it from `fhirServer` + `fhirAuthorization` (with the calling client's limits), the
SMART app from its launch (`iss` + the access token); prefetch and medication references only use it.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from service.errors import ForbiddenError
from service.errors import InvalidRequestError
from service.fhir.urls import normalize_base_url
from service.fhir.urls import plain_http_allowed
from service.fhir.urls import url_problem


@dataclass(frozen=True)
class FhirAccess:
    """A checked FHIR base URL (no final slash) and its bearer token (never logged, stored or echoed)."""

    base_url: str
    token: str | None = field(default=None, repr=False)


def check_server_url(url: str, allow_http_hosts: Iterable[str] = (), *, allow_http: bool = False) -> str:
    """The URL without its final slash, if the service may call it: https, or plain http where allowed.

    Plain http is allowed on loopback, for a host in `allow_http_hosts`, or for a client with `allow_http`.

    :raises InvalidRequestError: not an absolute http(s) URL, credentials or fragment in it, or plain http.
    """
    problem = url_problem(url)
    if problem:
        raise InvalidRequestError(f"fhirServer {problem}")
    if not (allow_http or plain_http_allowed(url, allow_http_hosts)):
        raise InvalidRequestError(
            "fhirServer must use https (CDS Hooks 2.0); plain http is accepted only on a loopback address, "
            "a host the configuration allows, or for a client allowed plain http"
        )
    return url.rstrip("/")


def from_request(
    request: Mapping[str, Any],
    allow_http_hosts: Iterable[str] = (),
    *,
    allowed_servers: Collection[str] | None = None,
    allow_http: bool = False,
) -> FhirAccess | None:
    """The request's fhirServer and access token, checked; None when it names no fhirServer.

    `allowed_servers` (normalised base URLs) is the open-proxy guard: the calling client may name only these.

    :raises InvalidRequestError: the fhirServer is malformed or plain http where that is not allowed (400).
    :raises ForbiddenError: the client may not name this fhirServer (403).
    """
    url = request.get("fhirServer")
    if not isinstance(url, str):
        return None  # absent; any other type is refused by the request schema
    problem = url_problem(url)
    if problem:
        raise InvalidRequestError(f"fhirServer {problem}")
    if allowed_servers is not None and normalize_base_url(url) not in allowed_servers:
        raise ForbiddenError("this CDS client may not name that fhirServer")
    base_url = check_server_url(url, allow_http_hosts, allow_http=allow_http)
    authorization = request.get("fhirAuthorization")
    token = authorization.get("access_token") if isinstance(authorization, dict) else None
    return FhirAccess(base_url, token if isinstance(token, str) and token else None)
