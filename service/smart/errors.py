"""Errors of the SMART app: each says what happened in plain words and what the person can do next.

The views render them as HTML pages with the right status code; never a stack trace, never a token.
"""

from __future__ import annotations


class SmartError(Exception):
    """Base: a problem the person at the screen can act on."""

    status = 500
    code = "BME-S500"
    title = "The decision support app hit a problem"
    next_step = (
        "Close this window and open the app again from the patient's chart. If it keeps happening, "
        "contact your IT service desk and quote the code below."
    )

    def __init__(self, message: str, *, next_step: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if next_step is not None:
            self.next_step = next_step

    def headers(self) -> dict[str, str]:
        """Extra response headers this error needs."""
        return {}


class NotConfiguredError(SmartError):
    """The SMART app has no client id, or no FHIR server for a standalone launch (503)."""

    status = 503
    code = "BME-S503"
    title = "The decision support app is not set up on this server"
    next_step = "Ask your EHR or IT team to register the app and configure it (see docs/smart.md)."


class LaunchRequestError(SmartError):
    """The launch request lacks `iss`/`launch` or names an unusable server (400)."""

    status = 400
    code = "BME-S400"
    title = "This launch link is incomplete"
    next_step = (
        "Open the app from the patient's chart or from a decision support card in the EHR, not from a "
        "bookmark."
    )


class IssNotAllowedError(SmartError):
    """The `iss` is not on the allow-list (403)."""

    status = 403
    code = "BME-S403"
    title = "This EHR is not registered with the decision support app"
    next_step = "Ask your IT team to add this EHR's FHIR server to BME_SMART_ALLOWED_ISS."


class StateMismatchError(SmartError):
    """The redirect's `state` matches no launch from this browser: tampered, replayed or foreign (400)."""

    status = 400
    code = "BME-S4002"
    title = "This sign-in response does not belong to a launch from this browser"
    next_step = "For your safety the app ignored it. Open the app again from the patient's chart."


class LaunchExpiredError(SmartError):
    """The launch (or its access token) has expired (401)."""

    status = 401
    code = "BME-S440"
    title = "This launch has expired"
    next_step = "Open the app again from the patient's chart to see current data."

    def headers(self) -> dict[str, str]:
        """RFC 9110 asks a 401 to name a scheme; the remedy is a new SMART launch."""
        return {
            "WWW-Authenticate": 'Bearer realm="bme-smart-app", error="invalid_token", '
            'error_description="the launch has expired"'
        }


class UnknownLaunchError(SmartError):
    """The launch handle is unknown or was started in another browser (404)."""

    status = 404
    code = "BME-S404"
    title = "This page does not belong to a launch in this browser"
    next_step = (
        "It may be an old launch (launches are forgotten a day after they expire) or one opened in another "
        "browser. Open the app again from the patient's chart in the EHR."
    )


class AccessDeniedError(SmartError):
    """The user or the EHR declined the authorization request (`error=access_denied`) (403)."""

    status = 403
    code = "BME-S4031"
    title = "Access to the patient's record was not granted"
    next_step = (
        "If that was not intended, open the app again and approve access. The app only reads the "
        "patient's conditions, imaging reports, labs, pain scores and medications."
    )


class AuthorizationFailedError(SmartError):
    """The authorization server answered with another OAuth error, or an unusable token response (502)."""

    status = 502
    code = "BME-S502"
    title = "The EHR's sign-in service did not let the app in"
    next_step = (
        "Try again from the patient's chart. If it keeps happening, contact your IT service desk with "
        "the code below: the app's registration may need a change."
    )


class DatabaseUnavailableError(SmartError):
    """The service's database does not answer within its deadline (503); the page comes back by itself."""

    status = 503
    code = "BME-S503D"
    title = "The decision support app cannot reach its database right now"
    next_step = "Wait a minute and reload this page. Nothing was lost; the patient's record was not changed."

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # the database guard's recheck interval (BME_DB_RETRY_AFTER_SECONDS)

    def headers(self) -> dict[str, str]:
        """Tell the browser (and any proxy) when to try again."""
        return {"Retry-After": str(self.retry_after)}


class NoSmartConfigurationError(SmartError):
    """The FHIR server answered but offers no SMART sign-in (no smart-configuration, no oauth-uris) (502)."""

    status = 502
    code = "BME-S5023"
    title = "This FHIR server does not offer SMART sign-in"
    next_step = (
        "The launch named a FHIR server that answered but publishes no SMART configuration. Ask your IT team "
        "to check that the EHR launches the app with the FHIR base URL of a SMART-enabled server."
    )


class DiscoveryError(SmartError):
    """The EHR's SMART configuration could not be read: no answer, or an unusable one (502)."""

    status = 502
    code = "BME-S5021"
    title = "The EHR's sign-in details could not be read"
    next_step = "The EHR may be busy or down. Wait a minute and open the app again from the patient's chart."


class FhirUnavailableError(SmartError):
    """The patient's data could not be read from the FHIR server (502, or 504 on a timeout)."""

    status = 502
    code = "BME-S5022"
    title = "The patient's record could not be read from the EHR"
    next_step = (
        "The EHR's data service may be busy or down. Reload this page in a minute; no recommendation "
        "is shown without the data it needs."
    )


class NoPatientError(SmartError):
    """The EHR did not say which patient the launch is for (400)."""

    status = 400
    code = "BME-S4001"
    title = "The EHR did not say which patient to show"
    next_step = "Open the app from inside a patient's chart (or pick a patient when the EHR asks)."
