"""A total deadline per FHIR fetch, body included: a server that drips its answer spends only its own budget.

requests' timeout bounds each socket wait, not the whole read: a server sending one byte a second never trips
it. The body is therefore read in chunks against the fetch's monotonic deadline, and the connection is closed
(never returned to the pool) when the deadline passes or the body grows past its bound.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import requests
import urllib3

CHUNK_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024  # a FHIR search page far above this is not something we can evaluate in time


class BodyDeadline(Exception):
    """The body was not read by the deadline, or it was too large; the reason is safe to log."""

    def __init__(self, reason: str, *, timeout: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timeout = timeout


def read_body(response: requests.Response, deadline: float, max_bytes: int = MAX_BODY_BYTES) -> bytes:
    """The whole body of a streamed response, read before `deadline` (time.monotonic); closes on failure."""
    parts: list[bytes] = []
    size = 0
    raw = response.raw
    try:
        while True:
            # read1 returns what has arrived (iter_content would block until a whole chunk or the end).
            chunk = raw.read1(CHUNK_BYTES, decode_content=True)
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise BodyDeadline(f"the FHIR server's answer is larger than {max_bytes} bytes", timeout=False)
            if time.monotonic() > deadline:
                raise BodyDeadline("the FHIR server did not finish its answer in time", timeout=True)
    except BodyDeadline:
        response.close()  # drop the connection: the rest of a dripping body must not reach the next caller
        raise
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        response.close()
        if isinstance(exc, TimeoutError | urllib3.exceptions.TimeoutError):
            raise BodyDeadline("the FHIR server did not finish its answer in time", timeout=True) from None
        raise BodyDeadline(f"the FHIR server's answer broke off ({type(exc).__name__})", timeout=False) from None
    return b"".join(parts)


def parse_body(raw: bytes) -> Any:
    """A FHIR JSON body; ValueError when it is not JSON."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValueError("not JSON") from None
