"""URL rules shared by the prefetch client and the authenticator: loopback, canonical form, what we will call.

Pure: no flask, no requests.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import quote
from urllib.parse import urlsplit

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback_host(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (brackets allowed)."""
    name = host.strip().strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def normalize_base_url(url: str) -> str:
    """Canonical base URL for exact comparison: lower-case scheme/host, no default port or final slash."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("https", 443), ("http", 80)) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def url_problem(url: str) -> str | None:
    """Why a URL is not an acceptable absolute http(s) URL, or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http(s) URL"
    if parts.username is not None or parts.password is not None:
        return "must not contain credentials"
    if parts.fragment:
        return "must not contain a fragment"
    return None


def plain_http_allowed(url: str, allow_http_hosts: Iterable[str] = ()) -> bool:
    """Whether a URL may be called at all as far as its scheme goes: https always, http on loopback or allowed hosts."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        return True
    allowed = {h.lower() for h in allow_http_hosts}
    host = (parts.hostname or "").lower()
    return is_loopback_host(host) or host in allowed or parts.netloc.lower() in allowed


def encode_search(relative: str) -> str:
    """A relative FHIR search with every parameter value percent-encoded (commas kept: they separate ORs).

    Proxies in front of FHIR servers (the SMART launcher's among them) collapse `//` inside a raw query value,
    so `code=http://loinc.org|2160-0` would arrive as `http:/loinc.org|2160-0` and match nothing.
    """
    path, sep, query = relative.partition("?")
    if not sep:
        return relative
    parts = []
    for pair in query.split("&"):
        name, eq, value = pair.partition("=")
        parts.append(f"{name}{eq}{quote(value, safe=',%')}" if eq else pair)  # '%': already encoded stays
    return f"{path}?{'&'.join(parts)}"
