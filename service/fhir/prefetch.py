"""Prefetch: fill templates, fetch what the CDS client did not send, and apply each key's failure policy.

The only module that talks HTTP to FHIR servers (one pooled requests.Session per server, every call with a
timeout). A key present in prefetch, `null` included, is final (CDS Hooks 2.0 §Prefetch); an absent key is
fetched from the request's FhirAccess (its fhirServer and access token, checked at the edge), all absent keys
concurrently. The access token is used for these calls only: never logged, stored or echoed.
"""

from __future__ import annotations

import contextvars
import logging
import re
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from service.cds.registry import OnUnavailable
from service.cds.registry import ServiceDefinition
from service.config import Settings
from service.errors import FhirTimeoutError
from service.errors import FhirTokenRefusedError
from service.errors import InvalidRequestError
from service.errors import PrefetchUnavailableError
from service.fhir.access import FhirAccess
from service.fhir.deadline import BodyDeadline
from service.fhir.deadline import parse_body
from service.fhir.deadline import read_body as deadline_read
from service.fhir.shape import bundle_problem
from service.fhir.urls import encode_search
from service.obs.observer import NULL_OBSERVER
from service.obs.observer import Observer

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")
# CDS Hooks 2.0 user tokens derive from context.userId, e.g. "PractitionerRole/123" -> userPractitionerRoleId.
_USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}


class FetchUnavailable(Exception):
    """A key's data could not be had; the reason is safe to log (no token, no patient data)."""

    error: type[PrefetchUnavailableError] = PrefetchUnavailableError  # raised for a key whose policy is FAIL

    def __init__(self, reason: str, *, outcome: str = "server_error") -> None:
        super().__init__(reason)
        self.reason = reason
        # The bme_cds_fhir_fetches_total label: timeout, client_error, server_error or refused.
        self.outcome = outcome


class FetchTimedOut(FetchUnavailable):
    """The FHIR server did not answer within the budget: the same call may succeed later."""

    error = FhirTimeoutError

    def __init__(self, reason: str) -> None:
        super().__init__(reason, outcome="timeout")


class TokenRefused(FetchUnavailable):
    """The FHIR server refused the access token (HTTP 401): only a new token helps."""

    error = FhirTokenRefusedError

    def __init__(self, reason: str) -> None:
        super().__init__(reason, outcome="client_error")


@dataclass(frozen=True)
class Resolved:
    """The prefetch after resolution: every key's value, plus the keys that had to be left out and why."""

    values: Mapping[str, Any]
    omitted: Mapping[str, str] = field(default_factory=dict)  # key -> reason
    fetched: tuple[str, ...] = ()


def fill_template(template: str, context: Mapping[str, Any]) -> str | None:
    """Replace {{context.x}} and user tokens; None when a token has no primitive value in the context."""
    user_id = context.get("userId")
    missing = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal missing
        path = match.group(1)
        value: Any = None
        if path.startswith("context.") and path.count(".") == 1:
            value = context.get(path.removeprefix("context."))
        elif path in _USER_TOKENS and isinstance(user_id, str) and "/" in user_id:
            kind, _, ident = user_id.partition("/")
            value = ident if kind == _USER_TOKENS[path] else None
        if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
            missing = True
            return ""
        return str(value)

    filled = _TOKEN.sub(substitute, template)
    return None if missing else filled


def _is_operation_outcome(value: Any) -> bool:
    return isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"


def _outcome_is_error(outcome: Mapping[str, Any]) -> bool:
    issues = outcome.get("issue")
    if not isinstance(issues, list) or not issues:
        return True
    return any(isinstance(i, dict) and i.get("severity") in ("error", "fatal") for i in issues)


def outcome_problem(value: Any) -> str | None:
    """Why a prefetch value stands for an error, or None when it is usable data.

    An OperationOutcome in place of a resource is an error unless all its issues are informational. Epic answers an
    empty search with a Bundle whose only entries are OperationOutcomes of severity information/warning: that is
    "no results", not an error.
    """
    if _is_operation_outcome(value):
        return "the CDS client sent an OperationOutcome" if _outcome_is_error(value) else None
    if isinstance(value, dict) and value.get("resourceType") == "Bundle":
        entries = value.get("entry")
        if isinstance(entries, list) and entries:
            resources = [e.get("resource") for e in entries if isinstance(e, dict)]
            if resources and all(_is_operation_outcome(r) for r in resources):
                if any(_outcome_is_error(r) for r in resources if isinstance(r, dict)):
                    return "the search returned only an error OperationOutcome"
    return None


class FhirPool:
    """One pooled HTTP session per FHIR server base URL, and the threads that fetch prefetch concurrently."""

    def __init__(
        self,
        *,
        timeout: float,
        total_timeout: float,
        max_pages: int,
        pool_size: int,
        observer: Observer = NULL_OBSERVER,
    ) -> None:
        self.observer = observer  # counts and spans each GET (service/obs)
        self.timeout = timeout
        self.total_timeout = total_timeout
        self.max_pages = max_pages
        self.pool_size = pool_size
        self._sessions: dict[str, requests.Session] = {}
        self._lock = threading.Lock()
        # Threads start only when needed; enough that fetches of concurrent requests (gthread workers) never
        # queue behind one slow server: each fetch ends by its own request's deadline (fhir/deadline.py).
        self.executor = ThreadPoolExecutor(max_workers=max(32, 4 * pool_size), thread_name_prefix="prefetch")

    @classmethod
    def from_settings(cls, settings: Settings, observer: Observer = NULL_OBSERVER) -> FhirPool:
        """The pool as the service runs it (the app, the SMART app and the benchmarks build it this way)."""
        return cls(
            timeout=settings.fhir_timeout_seconds,
            total_timeout=settings.fhir_total_timeout_seconds,
            max_pages=settings.fhir_max_pages,
            pool_size=settings.fhir_pool_size,
            observer=observer,
        )

    def session(self, base_url: str) -> requests.Session:
        """The session for this server, created on first use."""
        with self._lock:
            session = self._sessions.get(base_url)
            if session is None:
                session = requests.Session()
                session.trust_env = False  # no proxy variables: PHI goes only to the named server
                adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.pool_size, max_retries=0)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                self._sessions[base_url] = session
            return session

    def close(self) -> None:
        """Close every session and stop the fetch threads."""
        self.executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for session in self._sessions.values():
                session.close()
            self._sessions.clear()

    def get_json(self, base_url: str, url: str, token: str | None, deadline: float) -> Any:
        """GET one URL on the server; raises FetchUnavailable with a loggable reason."""
        with self.observer.fhir_fetch():  # outcome: ok, or the FetchUnavailable's
            return self._get_json(base_url, url, token, deadline)

    def _get_json(self, base_url: str, url: str, token: str | None, deadline: float) -> Any:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchTimedOut("no time left in the prefetch budget")
        headers = {"Accept": "application/fhir+json, application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = self.session(base_url).get(
                url, headers=headers, timeout=min(self.timeout, remaining), allow_redirects=False, stream=True
            )
            if response.status_code == 200:
                raw = deadline_read(response, deadline)  # the whole body within this fetch's own deadline
            else:
                response.close()
        except BodyDeadline as exc:
            raise (FetchTimedOut(exc.reason) if exc.timeout else FetchUnavailable(exc.reason)) from None
        except requests.Timeout:
            raise FetchTimedOut("the FHIR server did not answer in time") from None
        except requests.RequestException as exc:
            raise FetchUnavailable(
                f"the FHIR server could not be reached ({type(exc).__name__})", outcome="refused"
            ) from None
        if response.status_code == 401:
            raise TokenRefused("the FHIR server answered HTTP 401")
        if response.status_code != 200:
            kind = "client_error" if 400 <= response.status_code < 500 else "server_error"
            raise FetchUnavailable(f"the FHIR server answered HTTP {response.status_code}", outcome=kind)
        try:
            return parse_body(raw)
        except ValueError:
            raise FetchUnavailable("the FHIR server answered with something other than JSON") from None

    def follow_pages(self, base_url: str, bundle: Any, token: str | None, deadline: float) -> Any:
        """Append the entries of `next` pages (same server only, at most max_pages in all) to a search Bundle."""
        if not (isinstance(bundle, dict) and bundle.get("resourceType") == "Bundle"):
            return bundle
        _check_shape(bundle)
        entries = list(bundle.get("entry") or [])
        page, pages = bundle, 1
        while pages < self.max_pages:
            next_url = _next_link(page)
            if next_url is None:
                break
            if not next_url.startswith(base_url.rstrip("/") + "/"):
                # Never send the EHR's token to a host other than the fhirServer it was issued for.
                log.warning("prefetch: ignoring a next link that leaves the FHIR server")
                break
            page = self.get_json(base_url, next_url, token, deadline)
            if not (isinstance(page, dict) and page.get("resourceType") == "Bundle"):
                raise FetchUnavailable("a next page was not a Bundle")
            _check_shape(page)
            entries.extend(page.get("entry") or [])
            pages += 1
        else:
            if _next_link(page) is not None:
                log.warning("prefetch: stopped after %d pages; later pages were not read", pages)
        merged = {k: v for k, v in bundle.items() if k not in ("entry", "link")}
        if entries:
            merged["entry"] = entries
        return merged


def _check_shape(bundle: Any) -> None:
    """A fetched Bundle the service cannot walk stands for unavailable data (412 or omitted), naming the path."""
    problem = bundle_problem(bundle, "Bundle")
    if problem is not None:
        raise FetchUnavailable(f"the FHIR server answered an unusable Bundle: {problem}")


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    for link in bundle.get("link") or ():
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None


def resolve(
    service: ServiceDefinition, request: Mapping[str, Any], pool: FhirPool | None, access: FhirAccess | None
) -> Resolved:
    """Every prefetch key of the service: as sent, or fetched through `access`, or omitted by its policy.

    :raises PrefetchUnavailableError: a key whose policy is FAIL cannot be had (412); its subclasses say why
        (FhirTimeoutError: try again later; FhirTokenRefusedError: the access token was refused).
    """
    sent = request.get("prefetch")
    sent = sent if isinstance(sent, dict) else {}
    raw_context = request.get("context")
    context: Mapping[str, Any] = raw_context if isinstance(raw_context, dict) else {}
    online = access is not None and pool is not None

    values: dict[str, Any] = {}
    omitted: dict[str, str] = {}
    to_fetch: dict[str, str] = {}
    for key, spec in service.prefetch.items():
        if key in sent:
            shape = bundle_problem(sent[key], f"prefetch.{key}")
            if shape is not None:
                raise InvalidRequestError(f"the prefetch cannot be read: {shape}")
            problem = outcome_problem(sent[key])
            if problem is None:
                values[key] = sent[key]
            else:
                _unavailable(key, spec.on_unavailable, FetchUnavailable(problem), omitted)
            continue
        url = fill_template(spec.template, context)
        if url is None:
            reason = "its template needs a context value the request lacks"
            _unavailable(key, spec.on_unavailable, FetchUnavailable(reason), omitted)
        elif not online:
            reason = "it was not prefetched and the request names no fhirServer"
            _unavailable(key, spec.on_unavailable, FetchUnavailable(reason), omitted)
        else:
            to_fetch[key] = url

    fetched: list[str] = []
    if access is not None and pool is not None:
        deadline = time.monotonic() + pool.total_timeout
        base, token = access.base_url, access.token
        # Sent Bundles may be paginated (CDS Hooks 2.0): read their next pages too.
        paged = {k: v for k, v in values.items() if isinstance(v, dict) and _next_link(v) is not None}
        jobs: dict[str, Future[Any]] = {}
        for key, relative in to_fetch.items():
            # copy_context: the request's trace context reaches the fetch thread (its spans' parent).
            jobs[key] = pool.executor.submit(
                contextvars.copy_context().run, _fetch, pool, base, f"{base}/{encode_search(relative)}", token, deadline
            )
        for key, bundle in paged.items():
            jobs[key] = pool.executor.submit(
                contextvars.copy_context().run, pool.follow_pages, base, bundle, token, deadline
            )
        # Each call is bounded by the same deadline, so waiting for all of them ends by the deadline too.
        done, _ = wait(jobs.values(), timeout=max(0.0, deadline - time.monotonic()) + 0.05)
        for key, future in jobs.items():
            spec = service.prefetch[key]
            if future not in done:
                future.cancel()
                timed_out = FetchTimedOut("the FHIR server did not answer in time")
                _unavailable(key, spec.on_unavailable, timed_out, omitted)
                continue
            try:
                value = future.result()
            except FetchUnavailable as exc:
                _unavailable(key, spec.on_unavailable, exc, omitted)
                continue
            problem = outcome_problem(value)
            if problem is not None:
                _unavailable(key, spec.on_unavailable, FetchUnavailable(problem), omitted)
                continue
            values[key] = value
            if key in to_fetch:
                fetched.append(key)
    return Resolved(values=values, omitted=omitted, fetched=tuple(fetched))


def _fetch(pool: FhirPool, base: str, url: str, token: str | None, deadline: float) -> Any:
    value = pool.get_json(base, url, token, deadline)
    return pool.follow_pages(base, value, token, deadline)


def _unavailable(key: str, policy: OnUnavailable, why: FetchUnavailable, omitted: dict[str, str]) -> None:
    if policy is OnUnavailable.FAIL:
        raise why.error(f"prefetch key {key!r} is required but unavailable: {why.reason}")
    log.debug("prefetch: key %s omitted: %s", key, why.reason)  # the access line lists omitted keys already
    omitted[key] = why.reason


def flatten(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every resource in the prefetch values, Bundles unpacked, duplicates (same type and id) kept once."""
    resources: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()

    def add(resource: Any) -> None:
        if not isinstance(resource, dict):
            return
        kind = resource.get("resourceType")
        if not isinstance(kind, str) or kind == "OperationOutcome":
            return
        ident = resource.get("id")
        if isinstance(ident, str) and ident:
            marker = (kind, ident)
            if marker in seen:
                return
            seen.add(marker)
        resources.append(resource)

    for value in values.values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            for entry in value.get("entry") or ():
                if isinstance(entry, dict):
                    add(entry.get("resource"))
        else:
            add(value)
    return resources
