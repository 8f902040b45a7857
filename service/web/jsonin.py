"""Strict JSON decoding of request bodies: finite numbers, 64-bit integers, and a reason for every refusal.

orjson is the fast path; it refuses NaN/Infinity and numbers that overflow a double, but reads an integer
beyond 64 bits as a float without saying so. Whatever orjson refuses, and every body holding a run of 19 or
more digits (where such an integer could hide), goes to the standard library with number hooks that refuse
non-finite and out-of-range numbers and name the reason.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from typing import IO
from typing import Any

import orjson

INT_MIN = -(2**63)  # the range orjson reads exactly; FHIR integers are 32-bit and decimals have 18 digits
INT_MAX = 2**64 - 1
MAX_NUMBER_CHARS = 400  # a number written with more characters is refused before Python converts it
_LONG_DIGITS = re.compile(rb"[0-9]{19}")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


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


def loads(raw: bytes) -> Any:
    """Decode a body strictly; raises JsonRefused with a reason fit for a 400."""
    if not _LONG_DIGITS.search(raw):
        try:
            return orjson.loads(raw[len(codecs.BOM_UTF8):] if raw.startswith(codecs.BOM_UTF8) else raw)
        except orjson.JSONDecodeError:
            pass  # the standard library decides, and says why
    return _strict(raw)


def read_bounded(stream: IO[bytes], limit: int) -> bytes:
    """Read a whole body of at most `limit` bytes, chunked or not; raises BodyTooLarge past the limit.

    A WSGI server that de-chunks the body itself (gunicorn sets wsgi.input_terminated) gets no limit from
    Werkzeug, so the limit is applied here, reading one byte beyond it to tell "exactly at" from "over".
    """
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(min(1 << 20, limit + 1 - size))
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    if size > limit:
        raise BodyTooLarge(limit)
    return b"".join(parts)


class BodyTooLarge(ValueError):
    """The body is larger than the service accepts (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than {limit} bytes")
        self.limit = limit
