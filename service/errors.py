"""Errors: one rooted hierarchy, split by what the caller can do, each rendered as a FHIR OperationOutcome.

Every non-2xx body the service sends is an OperationOutcome with a stable `BME-nnnn` code in `diagnostics`
(per CDS Hooks 3.0 "SHOULD include an OperationOutcome"); never HTML, never a stack trace.
"""

from __future__ import annotations

from typing import Any


class CdsError(Exception):
    """Base: an error the service answers with an OperationOutcome."""

    status = 500
    issue_code = "exception"
    error_code = "BME-0500"

    def __init__(self, message: str, *, details: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def headers(self) -> dict[str, str]:
        """Extra response headers this error needs."""
        return {}

    def to_outcome(self) -> dict[str, Any]:
        """The OperationOutcome body for this error."""
        return operation_outcome(self.issue_code, f"{self.error_code}: {self.message}", self.details)


class InvalidRequestError(CdsError):
    """The request is malformed or does not follow CDS Hooks 2.0: fix the request (400)."""

    status = 400
    issue_code = "invalid"
    error_code = "BME-0400"


class AuthenticationError(CdsError):
    """The caller's JWT is missing or not trusted (401)."""

    status = 401
    issue_code = "login"
    error_code = "BME-0401"

    def headers(self) -> dict[str, str]:
        """RFC 6750: tell the client which scheme we expect."""
        return {"WWW-Authenticate": 'Bearer realm="cds-services", error="invalid_token"'}


class ForbiddenError(CdsError):
    """The caller is known but may not do this, e.g. name a FHIR server it is not allowed to (403)."""

    status = 403
    issue_code = "forbidden"
    error_code = "BME-0403"


class UnknownServiceError(CdsError):
    """No CDS service has this id (404)."""

    status = 404
    issue_code = "not-found"
    error_code = "BME-0404"


class RequestTimeoutError(CdsError):
    """The client did not send its whole body in time (408); the service reads nothing more from it."""

    status = 408
    issue_code = "timeout"
    error_code = "BME-0408"


class PayloadTooLargeError(CdsError):
    """The body exceeds the configured maximum (413)."""

    status = 413
    issue_code = "too-costly"
    error_code = "BME-0413"


class UnsupportedMediaTypeError(CdsError):
    """The body is not JSON (415)."""

    status = 415
    issue_code = "not-supported"
    error_code = "BME-0415"


class PrefetchUnavailableError(CdsError):
    """Required data is neither in prefetch nor obtainable from the FHIR server (412, CDS Hooks 2.0)."""

    status = 412
    issue_code = "processing"
    error_code = "BME-0412"


class FhirTimeoutError(PrefetchUnavailableError):
    """The FHIR server did not answer in time; the same call may succeed later (412)."""

    issue_code = "timeout"
    error_code = "BME-0412"


class FhirTokenRefusedError(PrefetchUnavailableError):
    """The FHIR server refused the request's access token (HTTP 401): a new token is the remedy (412)."""


class ServiceUnavailableError(CdsError):
    """A dependency of the service (the database) is down (503); the client may retry after `retry_after` s."""

    status = 503
    issue_code = "transient"
    error_code = "BME-0503"

    def __init__(self, message: str, *, details: tuple[str, ...] = (), retry_after: int = 5) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        """RFC 9110 Retry-After: when the dependency is worth trying again."""
        return {"Retry-After": str(self.retry_after)}


def operation_outcome(
    code: str, diagnostics: str, details: tuple[str, ...] = (), severity: str = "error"
) -> dict[str, Any]:
    """Build a FHIR R4 OperationOutcome with one issue per detail (or one issue)."""
    issues: list[dict[str, Any]] = [{"severity": severity, "code": code, "diagnostics": diagnostics}]
    issues.extend({"severity": severity, "code": code, "diagnostics": d} for d in details[:20])
    return {"resourceType": "OperationOutcome", "issue": issues}
