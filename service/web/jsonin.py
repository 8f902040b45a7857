"""Strict JSON decoding of request bodies: bounded nesting, finite numbers, 64-bit integers, a reason for every refusal.

orjson is the fast path; it refuses NaN/Infinity, numbers that overflow a double and documents nested more
than ORJSON_MAX_DEPTH deep, but reads an integer beyond 64 bits as a float without saying so. Whatever orjson
refuses, and every body holding a run of 19 or more digits (where such an integer could hide), goes to the
standard library with number hooks that refuse non-finite and out-of-range numbers and name the reason.
"""

from __future__ import annotations

import codecs
import json
import math
import re
import socket
import time
from typing import IO
from typing import Any

import orjson
from werkzeug.exceptions import ClientDisconnected

ORJSON_MAX_DEPTH = 1024  # orjson.loads refuses deeper documents (since 3.9.15, CVE-2024-27454); a test pins it
INT_MIN = -(2**63)  # the range orjson reads exactly; FHIR integers are 32-bit and decimals have 18 digits
INT_MAX = 2**64 - 1
MAX_NUMBER_CHARS = 400  # a number written with more characters is refused before Python converts it
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_ZERO = ord("0")
_DIGIT_RUN = b"0" * 19  # 19 digits: more than any integer orjson keeps exact could need, less one
_NUMBER_END = re.compile(rb"(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?\s*(?:[,\]}]|$)")  # how a number token ends


class JsonRefused(ValueError):
    """The body is not acceptable JSON; `reason` is safe to show (it never quotes the body)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise JsonRefused(f"an integer has more than {MAX_NUMBER_CHARS} digits (the limit is 64 bits)")
    value = int(text)
    if not INT_MIN <= value <= INT_MAX:
        raise JsonRefused("an integer is out of range (the limit is 64 bits)")
    return value


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise JsonRefused(f"a number has more than {MAX_NUMBER_CHARS} characters")
    value = float(text)
    if not math.isfinite(value):
        raise JsonRefused("a number is out of range (it does not fit a finite double)")
    return value


def _constant(name: str) -> Any:
    raise JsonRefused(f"{name} is not a JSON number (NaN and Infinity are refused)")


def _strict(raw: bytes) -> Any:
    """The standard library's parse with number hooks; every refusal as JsonRefused with its reason."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise JsonRefused("the body is not valid UTF-8") from None
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except JsonRefused:
        raise
    except RecursionError:
        raise JsonRefused("the body nests too deeply") from None
    except ValueError:
        raise JsonRefused("the body is not valid JSON") from None
    if _SURROGATE_ESCAPE.search(raw) and _has_lone_surrogate(value):
        raise JsonRefused("the body contains an unpaired UTF-16 surrogate escape")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


def _long_number_outside_strings(raw: bytes) -> bool:
    """True when a run of 19+ digits may be a number token (orjson would read a too-large one as a float).

    Real bodies carry such runs inside text (Synthea's "Person seed: -7877903654466619471  Population"); a
    number token stands after ':', ',', '[' or at the start, and before ',', ']', '}' or the end. A string that
    merely looks like one only costs the standard library's strict path (about 0.5 ms on a 100 kB body).
    Runs are found with translate + find, at C speed: a regular expression scan of a 100 kB body cost 0.9 ms.
    """
    folded = raw.translate(_DIGITS_AS_ZERO)
    start = folded.find(_DIGIT_RUN)
    while start != -1:
        end = start + len(_DIGIT_RUN)
        while end < len(folded) and folded[end] == _ZERO:
            end += 1
        before = raw[:start].rstrip(b" \t\r\n-").rstrip()
        if (not before or before[-1:] in b":,[") and _NUMBER_END.match(raw, end):
            return True
        start = folded.find(_DIGIT_RUN, end)
    return False


def loads(raw: bytes, *, max_depth: int) -> Any:
    """Decode a body strictly, at most `max_depth` containers deep; raises JsonRefused with a reason for a 400."""
    body = raw[len(codecs.BOM_UTF8):] if raw.startswith(codecs.BOM_UTF8) else raw
    if not _long_number_outside_strings(body):
        value = _bounded_orjson(body, max_depth)
        if value is not _UNREAD:
            return value
    value = _strict(raw)  # the standard library decides, and says why
    if _deeper_than(value, max_depth):
        raise JsonRefused(f"nesting deeper than {max_depth} levels")
    return value


_UNREAD = object()  # orjson did not read the body; the standard library will


def _bounded_orjson(body: bytes, max_depth: int) -> Any:
    """orjson's parse of `body` inside ORJSON_MAX_DEPTH - max_depth one-element lists, so orjson's own limit
    bounds the body's depth at max_depth (a byte scan for the depth cost twice what the extra lists do)."""
    pad = max(0, ORJSON_MAX_DEPTH - max_depth)
    try:
        value = orjson.loads(b"[" * pad + body + b"]" * pad)
    except orjson.JSONDecodeError:
        return _UNREAD
    for _ in range(pad):
        if len(value) != 1:  # not one JSON value ('1], [2' fits between the brackets): not a body we accept
            return _UNREAD
        value = value[0]
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether a parsed value nests containers more than `limit` deep (a scalar is 0 deep, [] is 1)."""
    level = [value] if isinstance(value, dict | list) else []
    for _ in range(limit):
        level = [item for container in level
                 for item in (container.values() if isinstance(container, dict) else container)
                 if isinstance(item, dict | list)]
    return bool(level)


BODY_DEADLINE_SECONDS = 10.0  # a CDS Hooks body (a few MB at most) arrives well within this on any real link


def read_bounded(stream: IO[bytes], limit: int, *, sock: socket.socket | None = None,
                 deadline_seconds: float = BODY_DEADLINE_SECONDS) -> bytes:
    """Read a whole body of at most `limit` bytes, chunked or not, within a total deadline.

    A WSGI server that de-chunks the body itself (gunicorn sets wsgi.input_terminated) gets no limit from
    Werkzeug, so the limit is applied here, reading one byte beyond it to tell "exactly at" from "over".
    With the client socket (gunicorn's environ['gunicorn.socket']) each wait is bounded by what is left of the
    deadline, so a client sending a byte now and then holds a worker thread for `deadline_seconds` at most.

    :raises BodyTooLarge: past the limit (413).
    :raises BodyTooSlow: not all there by the deadline (408).
    """
    parts: list[bytes] = []
    size = 0
    deadline = time.monotonic() + deadline_seconds
    try:
        while size <= limit:
            if sock is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BodyTooSlow(deadline_seconds)
                sock.settimeout(remaining)
            chunk = stream.read(min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
    except TimeoutError:
        _stop_reading(sock)
        raise BodyTooSlow(deadline_seconds) from None
    except ClientDisconnected:
        # Werkzeug reports a socket timeout under a length-limited stream as a disconnect; the clock tells.
        if sock is not None and time.monotonic() >= deadline - 0.05:
            _stop_reading(sock)
            raise BodyTooSlow(deadline_seconds) from None
        raise
    finally:
        if sock is not None:
            try:
                sock.settimeout(None)  # back to blocking, as the server left it
            except OSError:
                pass
    if size > limit:
        raise BodyTooLarge(limit)
    return b"".join(parts)


def _stop_reading(sock: socket.socket | None) -> None:
    """Shut the read side: the rest of a late body must never be parsed as the next request on this connection
    (gunicorn ignores an application's Connection: close; on end-of-input it closes after the 408)."""
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass


class BodyTooLarge(ValueError):
    """The body is larger than the service accepts (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than {limit} bytes")
        self.limit = limit


class BodyTooSlow(ValueError):
    """The body did not arrive within the deadline (408)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the body did not arrive within {seconds:g} s")
        self.seconds = seconds
