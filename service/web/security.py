"""Request hardening: body size (413), content type (415), hostile JSON (400) and security headers.

The steps of a CDS Hooks call, in order: the cheap checks (declared size, content type) in the app's
before_request hook `init_app` installs; then the API Blueprint's own hooks (service/web/api.py): the client's
JWT (401), the service id (404), and only then `read_json()` reads and parses the body, so an anonymous caller
or an unknown service never makes the service parse megabytes of JSON.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask import Response
from flask import current_app
from flask import g
from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from service.config import Settings
from service.errors import CdsError
from service.errors import InvalidRequestError
from service.errors import PayloadTooLargeError
from service.errors import RequestTimeoutError
from service.errors import UnsupportedMediaTypeError
from service.web import jsonin
from service.web.responses import error_response

MAX_DEPTH = 64  # FHIR resources nest about 10 deep inside a CDS Hooks request; 64 leaves ample room
MAX_STRING_CHARS = 1024 * 1024  # one string (or key) above 1 MiB is an attack, not a clinical note
MAX_BODY_FALLBACK = 16 * 1024 * 1024  # when no MAX_CONTENT_LENGTH is configured
BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))
JSON_API_PREFIX = "/cds-services"  # the CDS Hooks API takes JSON only; other pages keep their own rules
JSON_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox"
DEFAULT_CSP = ("default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
               "frame-ancestors 'none'")
HSTS = "max-age=31536000"
_DICT = dict
_LIST = list
_STR = str


def is_json_content_type(mimetype: str) -> bool:
    """application/json or any application/*+json (e.g. application/fhir+json)."""
    mimetype = mimetype.lower()
    if mimetype == "application/json":
        return True
    return mimetype.startswith("application/") and mimetype.endswith("+json")


def string_problem(value: Any) -> str | None:
    """Why a parsed JSON value holds a hostile string (a string or key over MAX_STRING_CHARS), or None."""
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        cls = item.__class__
        if cls is _STR:
            if len(item) > MAX_STRING_CHARS:
                return "a string is too long"
        elif cls is _DICT:
            if any(len(key) > MAX_STRING_CHARS for key in item):
                return "a key is too long"
            stack.extend(item.values())
        elif cls is _LIST:
            stack.extend(item)
    return None


def may_hold_huge_string(raw: bytes, limit: int = MAX_STRING_CHARS) -> bool:
    """Cheap necessary condition for a string or key over MAX_STRING_CHARS: a long quote-free stretch.

    Escapes are overwritten with same-length filler so quotes mark exactly the string boundaries; a string
    of more than N characters spans more than N bytes, so a sample every N/2 bytes must land inside it.
    C-speed scans replace a Python check of every value (about a fifth of json.loads on 5,000 resources).
    """
    if len(raw) <= limit:
        return False
    text = raw.replace(b"\\\\", b"__").replace(b'\\"', b"__")
    for sample in range(0, len(text), max(1, limit // 2)):
        start = text.rfind(b'"', 0, sample)
        end = text.find(b'"', sample)
        if (len(text) if end < 0 else end) - start - 1 > limit:
            return True
    return False


def parse_json(raw: bytes) -> Any:
    """Parse a request body strictly: valid UTF-8 JSON, no NaN/Infinity, bounded depth and string size.

    :raises InvalidRequestError: with a reason that never quotes the body.
    """
    if not raw or raw.isspace():
        raise InvalidRequestError("the body is empty; send a JSON object")
    try:
        value = jsonin.loads(raw, max_depth=MAX_DEPTH)  # non-finite and out-of-range numbers refused with a reason
    except jsonin.JsonRefused as refused:
        raise InvalidRequestError(f"the body is refused: {refused.reason}") from None
    problem = string_problem(value) if may_hold_huge_string(raw) else None
    if problem:
        raise InvalidRequestError(f"the body is refused: {problem}")
    return value


_PARSED = "bme_json"  # flask.g attribute holding the body parsed before the view ran


def _parse_current_body() -> Any:
    """Read (bounded by MAX_CONTENT_LENGTH) and parse the current request body, caching the raw bytes."""
    try:
        raw = jsonin.read_bounded(request.stream, request.max_content_length or MAX_BODY_FALLBACK,
                                  sock=request.environ.get("gunicorn.socket"),
                                  deadline_seconds=current_app.config.get("BME_BODY_TIMEOUT_SECONDS", 10.0))
    except (RequestEntityTooLarge, jsonin.BodyTooLarge):
        raise PayloadTooLargeError("the body is larger than this service accepts") from None
    except jsonin.BodyTooSlow as slow:
        raise RequestTimeoutError(str(slow)) from None
    request._cached_data = raw  # so a view calling get_data() gets the same bytes
    return parse_json(raw)


def read_json() -> Any:
    """The current request's body as checked JSON, read (bounded by MAX_CONTENT_LENGTH) and parsed once.

    :raises PayloadTooLargeError: the body exceeds the configured maximum (413).
    :raises RequestTimeoutError: the body did not arrive within BME_BODY_TIMEOUT_SECONDS (408).
    :raises InvalidRequestError: malformed, too deep, huge strings, non-finite or oversized numbers (400).
    """
    if _PARSED in g:
        return g.get(_PARSED)
    value = _parse_current_body()  # bounded in size and in time (408 for a body that drips in)
    setattr(g, _PARSED, value)
    return value


def _json_api_body() -> bool:
    """True for a request to the CDS Hooks API that carries a body."""
    return request.method in BODY_METHODS and request.path.startswith(JSON_API_PREFIX)


def check_request(max_body_bytes: int) -> CdsError | None:
    """The cheap checks every request gets before authentication: declared size and content type."""
    length = request.content_length
    if length is not None and length > max_body_bytes:
        return PayloadTooLargeError(f"the body is larger than {max_body_bytes} bytes")
    if _json_api_body() and not is_json_content_type(request.mimetype):
        return UnsupportedMediaTypeError("send the body as application/json")
    return None


def add_security_headers(response: Response, *, https: bool) -> Response:
    """Headers every response carries; a view may set its own CSP (e.g. a SMART page meant to be framed)."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Cache-Control", "no-store")
    headers.setdefault("Referrer-Policy", "no-referrer")
    if response.mimetype and is_json_content_type(response.mimetype):
        headers["Content-Security-Policy"] = JSON_CSP
    else:
        headers.setdefault("Content-Security-Policy", DEFAULT_CSP)
    # X-Frame-Options cannot express an allow-list; a page that sets its own frame-ancestors wins.
    if "frame-ancestors 'none'" in headers.get("Content-Security-Policy", ""):
        headers.setdefault("X-Frame-Options", "DENY")
    if https:
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def init_app(app: Flask, settings: Settings) -> None:
    """Install the size/content-type checks and the security headers on every response."""
    app.extensions["bme_security"] = True
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes  # bounds chunked bodies without a length
    app.config["BME_BODY_TIMEOUT_SECONDS"] = settings.body_timeout_seconds  # a slow upload holds a thread no longer
    max_body = settings.max_body_bytes
    https = settings.public_base_url.lower().startswith("https://")

    @app.before_request
    def _harden_request() -> Response | None:
        if request.method == "OPTIONS":
            return None  # CORS preflight: no body
        error = check_request(max_body)
        return error_response(error) if error is not None else None

    @app.after_request
    def _security_headers(response: Response) -> Response:
        return add_security_headers(response, https=https)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_error: RequestEntityTooLarge) -> Response:
        return error_response(PayloadTooLargeError(f"the body is larger than {max_body} bytes"))
