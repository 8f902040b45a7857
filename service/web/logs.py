"""Structured JSON logging: one access line per request, and no patient data, tokens or bodies, ever.

The access line carries only whitelisted fields the API puts in `flask.g.bme_log` (service, hookInstance,
client issuer, rule ids, prefetch keys). A redacting filter and formatter remove anything that looks like a
bearer token or JWT from every line, as a last line of defence against a careless log call.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
import traceback
from datetime import UTC
from datetime import datetime
from queue import SimpleQueue
from typing import Any
from typing import TextIO

import orjson
from flask import Flask
from flask import Response
from flask import g
from flask import request

from service.config import Settings
from service.core.textfind import fold

ACCESS_LOGGER = "bme.access"
_HANDLER_NAME = "bme-json"
# Only these g.bme_log keys reach the access line: each is an identifier, a code or a count, never PHI.
ACCESS_FIELDS = ("service", "hookInstance", "client", "rules", "fetched", "omitted", "feedback", "error", "epic")
_MAX_FIELD_CHARS = 200
_MAX_LIST_ITEMS = 100

_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # A JWT or JWS/JWE in compact form: base64url JSON header starting with '{"' -> "eyJ".
    (re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_.-]*"), "[redacted-jwt]"),
    # A plain word after "bearer" (lower-case or capitalised, no digits or token punctuation) is prose, not a
    # secret: "a bearer token is required" stays readable.
    (re.compile(r"(?i)\b(bearer)\s+(?!(?:[a-z]{1,24}|[A-Z][a-z]{1,23})(?![A-Za-z0-9\-._~+/=]))"
                r"[A-Za-z0-9\-._~+/]+=*"), r"\1 [redacted]"),
    (re.compile(r"(?i)(\b(?:access|refresh|id)_token\\?[\"']?\s*[:=]\s*\\?[\"']?)[^\"'\\\s,&}]+"),
     r"\1[redacted]"),
    (re.compile(r"(?i)(\bauthorization\\?[\"']?\s*[:=]\s*\\?[\"']?)[^\"'\\\n,}]+"), r"\1[redacted]"),
)


# Each redaction needs one of these in its match: "eyJ" as written, a keyword as re.I sees it (textfind.fold).
_JWT_MARK = "eyJ"
_KEYWORDS = ("bearer", "_token", "authorization")


def redact(text: str) -> str:
    """Replace bearer tokens, JWTs and token-valued fields in a log line."""
    if _JWT_MARK not in text:
        folded = fold(text)
        if not any(keyword in folded for keyword in _KEYWORDS):
            return text  # nothing any pattern could match: most lines, and every access line
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrite each record's message with tokens redacted (attach to handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record, but only after redacting its rendered message."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed %-format: keep the raw template only
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the `bme` extra fields, exception type and frames."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as one redacted JSON line."""
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = getattr(record, "bme", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            # The exception message can quote data (a KeyError on a patient field): log type and frames only.
            entry["exc_type"] = type(error).__name__
            entry["exc_frames"] = "".join(traceback.format_tb(error.__traceback__))[-4000:]
        try:
            line = orjson.dumps(entry, default=str).decode()  # a tenth of json.dumps' time, one line per request
        except TypeError:  # a non-string key or an integer beyond 64 bits: the standard library writes those
            line = json.dumps(entry, ensure_ascii=False, default=str)
        return redact(line)


def configure_logging(level: str, *, stream: TextIO | None = None) -> None:
    """Send all logging to one JSON-lines handler on stderr (idempotent: replaces our earlier handler)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
            handler.close()  # (ours writes what it has queued first)
    handler = JsonLinesHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # urllib3 logs every request line (FHIR search URLs carry patient ids) at DEBUG: never let it through.
    logging.getLogger("urllib3").setLevel(max(logging.WARNING, root.level))


class _LineWriter:
    """Writes queued log lines to a stream from one thread: the lines that arrive during a short pause go out in
    one write (under load one wake-up and one write per pause instead of one per line: worker CPU -0.1 ms a
    request, docs/operations.md)."""

    PAUSE_SECONDS = 0.05

    def __init__(self, stream: TextIO) -> None:
        self._lines: SimpleQueue[str | None] = SimpleQueue()
        self._stream = stream
        self._thread = threading.Thread(target=self._run, name="bme-log-writer", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the thread still writes."""
        return self._thread.is_alive()

    def put(self, line: str) -> None:
        """Queue one formatted line."""
        self._lines.put(line)

    def stop(self) -> None:
        """Write every line queued so far, then end the thread."""
        self._lines.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            batch = [self._lines.get()]
            while not self._lines.empty():  # this thread is the only reader
                batch.append(self._lines.get_nowait())
            text = "".join(line for line in batch if line is not None)  # None (last) ends the thread
            if text:
                try:
                    self._stream.write(text)
                    self._stream.flush()
                except (OSError, ValueError):  # stderr full or closed: there is nowhere left to say so
                    pass
            if batch[-1] is None:
                return
            time.sleep(self.PAUSE_SECONDS)


class JsonLinesHandler(logging.StreamHandler[TextIO]):
    """The service's one log handler: writes each line at once, or (in a gunicorn worker) through a writer thread.

    Formatting and redaction stay in the calling thread either way. Writing there meant each worker's threads
    queued on the handler lock while one of them, holding it, waited for the GIL after its write to stderr: under
    load the access line cost 0.22 ms of worker CPU per request, through a writer thread 0.08 ms
    (docs/operations.md). The mode changes under the handler's lock, so every line goes out once and in order.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._writer: _LineWriter | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """Write or queue one record (Handler.handle holds the lock)."""
        writer = self._writer
        if writer is None or not writer.alive:  # a dead writer thread would leave lines queued forever
            super().emit(record)
            return
        try:
            writer.put(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        """Write what is queued before closing (logging.shutdown at exit closes handlers)."""
        self.write_directly()
        super().close()

    def write_in_background(self) -> None:
        """From now on, queue lines for the writer thread (idempotent)."""
        self.acquire()
        try:
            if self._writer is None:
                self._writer = _LineWriter(self.stream)
        finally:
            self.release()

    def write_directly(self) -> None:
        """Write the queued lines, end the writer thread and write at once again (a line logged meanwhile waits)."""
        self.acquire()
        try:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.stop()
        finally:
            self.release()


def _handler() -> JsonLinesHandler | None:
    return next((h for h in logging.getLogger().handlers if isinstance(h, JsonLinesHandler)), None)


def write_in_background() -> None:
    """Move the JSON handler's writes to a writer thread (a gunicorn worker calls this after fork)."""
    if (handler := _handler()) is not None:
        handler.write_in_background()


def stop_background_writer() -> None:
    """Write what is queued, stop the writer thread and log directly again (a gunicorn worker, as it exits)."""
    if (handler := _handler()) is not None:
        handler.write_directly()


def _clean(value: Any) -> Any:
    """Bound a whitelisted field: short strings, lists of short strings, numbers, booleans."""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value[:_MAX_FIELD_CHARS]
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value[:_MAX_LIST_ITEMS] if isinstance(v, str | int | float)]
    return None


def access_fields(status: int, latency_ms: float | None) -> dict[str, Any]:
    """The access-line fields of the current request: route (never the raw path or query), status, timing."""
    fields: dict[str, Any] = {
        "event": "access",
        "method": request.method,
        "route": request.url_rule.rule if request.url_rule is not None else "(unmatched)",
        "status": status,
    }
    if latency_ms is not None:
        fields["latency_ms"] = round(latency_ms, 1)
    supplied = getattr(g, "bme_log", None)
    if isinstance(supplied, dict):
        for key in ACCESS_FIELDS:
            cleaned = _clean(supplied.get(key))
            if cleaned is not None:
                fields[key] = cleaned
    issuer = getattr(getattr(g, "bme_client", None), "issuer", None)
    if "client" not in fields and isinstance(issuer, str):
        fields["client"] = issuer[:_MAX_FIELD_CHARS]
    return fields


def init_app(app: Flask, settings: Settings) -> None:
    """Write one JSON access line per request to the `bme.access` logger."""
    app.extensions["bme_logs"] = True
    access = logging.getLogger(ACCESS_LOGGER)
    access.setLevel(settings.log_level.upper())

    def _start_timer() -> None:
        g.bme_t0 = time.perf_counter()

    # create_app installs this before the hardening checks, so requests they refuse (413, 415, 401) are timed too.
    app.before_request(_start_timer)

    @app.after_request
    def _access_line(response: Response) -> Response:
        started = getattr(g, "bme_t0", None)
        latency = (time.perf_counter() - started) * 1000 if isinstance(started, float) else None
        access.info("%s %s", request.method, response.status_code,
                    extra={"bme": access_fields(response.status_code, latency)})
        return response
