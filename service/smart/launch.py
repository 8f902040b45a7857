"""The SMART app's steps: start a launch, finish it at the redirect, and load the page for a launch.

The page runs the hooks' own core: `prefetch.resolve` with a patient-view request synthesized from the
launch and its FhirAccess (the iss checked at launch, the SMART token), then `features.extract` and
`rules.evaluate`. No Flask here; the views pass in the browser key and the query parameters.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from typing import Any

from service.cds.pipeline import Deps
from service.cds.registry import ServiceDefinition
from service.config import RULESET_VERSION
from service.config import Settings
from service.config import SmartSettings
from service.core import engine as rules
from service.core import features
from service.core.vocabulary import LABORATORY
from service.core.vocabulary import OBSERVATION_CATEGORY
from service.errors import FhirTimeoutError
from service.errors import FhirTokenRefusedError
from service.errors import InvalidRequestError
from service.errors import PrefetchUnavailableError
from service.fhir import prefetch
from service.fhir.access import FhirAccess
from service.fhir.shape import bundle_problem
from service.fhir.urls import encode_search
from service.smart import report
from service.smart import timeline
from service.smart.errors import FhirUnavailableError
from service.smart.errors import IssNotAllowedError
from service.smart.errors import LaunchExpiredError
from service.smart.errors import LaunchRequestError
from service.smart.errors import NotConfiguredError
from service.smart.errors import StateMismatchError
from service.smart.errors import UnknownLaunchError
from service.smart.oauth import SmartClient
from service.smart.oauth import oauth_error
from service.smart.oauth import scopes_for
from service.smart.store import KIND_EHR
from service.smart.store import KIND_STANDALONE
from service.smart.store import PROBLEM_EXPIRED
from service.smart.store import STATUS_ACTIVE
from service.smart.store import Launch
from service.smart.store import LaunchStore
from service.smart.store import new_secret

log = logging.getLogger(__name__)

PATIENT_VIEW_SERVICE = "bme-patient-view"
MAX_PARAM_CHARS = 4096  # launch tokens can be JWTs; anything longer is not a launch
PREFETCH_WORDS = {
    "patient": "Patient record",
    "conditions": "Conditions",
    "observations": "Labs and scores",
    "reports": "Imaging and other reports",
    "medications": "Medications",
    "imaging": "Imaging studies",
    "procedures": "Procedures",
    "encounters": "Hospital stays",
}
# The patient's newest lab results whatever their code, so the page can list those the rules do not read.
OTHER_LABS_SEARCH = (
    "Observation?patient={patient}" f"&category={OBSERVATION_CATEGORY}|{LABORATORY}&_sort=-date&_count=50"
)
OTHER_LABS_ERROR = "the FHIR server returned an error for other lab results"


class FhirTimeoutPageError(FhirUnavailableError):
    """The FHIR server did not answer in time (504)."""

    status = 504
    code = "BME-S504"


@dataclass(frozen=True)
class Page:
    """Everything the app page shows for one launch."""

    launch_id: str
    banner: report.Banner | None
    card_rule: str
    fhir_context: tuple[str, ...]
    recommendations: tuple[report.Recommendation, ...]
    groups: tuple[report.FeatureGroup, ...]
    unknown: tuple[str, ...]
    timeline_svg: str
    timeline: timeline.Timeline
    unavailable: tuple[tuple[str, str], ...]  # (what, why) for prefetch keys the FHIR server could not give
    other_labs: tuple[report.OtherLab, ...]
    other_labs_error: str  # "" when the search for other lab results succeeded
    fhir_server: str
    today: date
    ruleset_version: str = RULESET_VERSION


class SmartApp:
    """The SMART app's behaviour, built once by init_app."""

    def __init__(
        self,
        settings: Settings,
        deps: Deps,
        store: LaunchStore,
        client: SmartClient,
        clock: Callable[[], datetime],
        *,
        jwks: Mapping[str, Any] | None = None,
    ) -> None:
        self.config: SmartSettings = settings.smart
        self.settings = settings
        self.deps = deps
        self.store = store
        self.client = client
        self.clock = clock
        self.jwks = jwks  # the public key set, when the client uses private_key_jwt
        self.service: ServiceDefinition = deps.registry.get(PATIENT_VIEW_SERVICE)

    @property
    def redirect_uri(self) -> str:
        """Where the authorization server sends the browser back (as registered)."""
        return self.config.redirect_url or f"{self.settings.public_base_url}/smart/callback"

    def scope(self, standalone: bool) -> str:
        """The scopes requested: configured, or derived from the patient-view prefetch."""
        if self.config.scopes:
            return self.config.scopes
        prefetch_scopes = tuple(s for key in self.service.prefetch.values() for s in key.scopes)
        return scopes_for(prefetch_scopes, v1=self.config.v1_scopes, standalone=standalone)

    def _check_iss(self, iss: str) -> str:
        if not self.config.enabled:
            raise NotConfiguredError("no SMART client id is configured (BME_SMART_CLIENT_ID)")
        if not iss or len(iss) > MAX_PARAM_CHARS:
            raise LaunchRequestError("the launch did not say which FHIR server (iss) to use")
        try:
            self.client.check_url(iss)
        except InvalidRequestError:
            raise LaunchRequestError("the FHIR server address (iss) must be an https URL") from None
        if not self.config.iss_allowed(iss):
            log.warning("smart: launch refused for an iss not on the allow-list")
            raise IssNotAllowedError("this FHIR server is not on the app's allow-list")
        return iss.rstrip("/")

    def start(self, *, iss: str, launch: str | None, browser_key: str) -> str:
        """Discover the endpoints, record a pending launch and return the authorize URL to redirect to.

        :raises SmartError: not configured, bad iss, discovery failed.
        """
        base = self._check_iss(iss)
        if launch is not None and (not launch or len(launch) > MAX_PARAM_CHARS):
            raise LaunchRequestError("the launch request carries no usable launch value")
        endpoints = self.client.discover(base)
        state, verifier = new_secret(), new_secret() + new_secret()  # verifier: 86 chars (RFC 7636: 43-128)
        kind = KIND_STANDALONE if launch is None else KIND_EHR
        pending = self.store.create(
            browser_key=browser_key,
            state=state,
            code_verifier=verifier,
            kind=kind,
            iss=base,
            token_endpoint=endpoints.token,
            lifetime_seconds=self.config.pending_seconds,
        )
        log.info("smart: %s launch %s… started (discovery via %s)", kind, pending.id[:6], endpoints.via)
        return self.client.authorize_url(
            endpoints,
            # SMART: aud is the iss exactly as the EHR sent it (a strict server compares the strings).
            iss=iss.strip(),
            state=state,
            verifier=verifier,
            scope=self.scope(launch is None),
            redirect_uri=self.redirect_uri,
            launch=launch,
        )

    def start_standalone(self, *, iss: str | None, browser_key: str) -> str:
        """A standalone launch from the configured (or given, allow-listed) FHIR server."""
        chosen = iss or self.config.default_standalone_iss
        if not chosen:
            raise NotConfiguredError(
                "no FHIR server is configured for standalone launch (BME_SMART_STANDALONE_ISS)"
            )
        return self.start(iss=chosen, launch=None, browser_key=browser_key)

    def finish(self, params: Mapping[str, str], browser_key: str | None) -> str:
        """Check the redirect's state against this browser's pending launch, get the token; the launch id.

        :raises SmartError: tampered/unknown state, expired, denied, token refused, no patient.
        """
        state = params.get("state", "")
        if not state or len(state) > MAX_PARAM_CHARS or not browser_key:
            log.warning("smart: redirect without a state or without the launch cookie refused")
            raise StateMismatchError(
                "the sign-in response is incomplete, or this browser did not keep the app's cookie"
            )
        pending, problem = self.store.take_pending(state, browser_key)
        if pending is None:
            log.warning("smart: redirect refused: state %s", problem)
            if problem == PROBLEM_EXPIRED:
                raise LaunchExpiredError("the sign-in took longer than the app allows")
            raise StateMismatchError(
                "it matches no launch started in this browser: it may have been altered, reused, "
                "or opened in another browser"
            )
        if "error" in params:
            self.store.end(pending.id)
            raise oauth_error(params)
        code = params.get("code", "")
        if not code or len(code) > MAX_PARAM_CHARS:
            self.store.end(pending.id)
            raise StateMismatchError("the sign-in response carries no authorization code")
        context = self.client.exchange(
            pending.token_endpoint, code=code, verifier=pending.code_verifier, redirect_uri=self.redirect_uri
        )
        active = self.store.activate(pending, context, self.config.session_seconds)
        log.info("smart: launch %s… authorized", active.id[:6])
        return active.id

    def launch(self, launch_id: str, browser_key: str | None) -> Launch:
        """The active launch for this handle and browser.

        :raises UnknownLaunchError: unknown handle, or another browser's.
        :raises LaunchExpiredError: expired.
        """
        if not browser_key or len(launch_id) > 64:
            raise UnknownLaunchError("no launch cookie in this browser")
        found, expired = self.store.get(launch_id, browser_key)
        if found is None or found.status != STATUS_ACTIVE:
            raise UnknownLaunchError("no such launch in this browser")
        if expired:
            self.store.expire(found.id)
            raise LaunchExpiredError("the launch has expired")
        return found

    def request_for(self, launch: Launch) -> dict[str, Any]:
        """The patient-view request the hooks would get, built from the launch (its server and token: access)."""
        context: dict[str, Any] = {"patientId": launch.patient}
        if launch.encounter:
            context["encounterId"] = launch.encounter
        return {"hook": self.service.hook, "hookInstance": str(uuid.uuid4()), "context": context}

    @staticmethod
    def access(launch: Launch) -> FhirAccess:
        """The launch's FHIR server (its iss, checked when the launch started) and access token."""
        return FhirAccess(launch.iss, launch.access_token or None)

    def page(self, launch: Launch) -> Page:
        """Read the patient's data with the launch's token and run the features and rules on it.

        :raises FhirUnavailableError: required data could not be read (502, 504 on timeout).
        :raises LaunchExpiredError: the FHIR server no longer accepts the token.
        """
        if self.deps.pool is None:
            raise FhirUnavailableError("this server is configured offline: it calls no FHIR server")
        try:
            resolved = prefetch.resolve(self.service, self.request_for(launch), self.deps.pool, self.access(launch))
        except FhirTimeoutError:
            raise FhirTimeoutPageError("the FHIR server did not answer in time") from None
        except FhirTokenRefusedError:
            self.store.end(launch.id)
            raise LaunchExpiredError("the FHIR server no longer accepts the launch's token") from None
        except PrefetchUnavailableError:
            raise FhirUnavailableError("required patient data could not be read") from None
        now = self.clock()
        today = now.date()
        resources = prefetch.flatten(resolved.values)
        extracted = features.extract(
            resources,
            today=today,
            valuesets=self.deps.valuesets,
            policy=self.deps.policy,
            patient_id=launch.patient,
            draft_orders=[],
            selections=(),
        )
        findings = rules.evaluate(extracted, self.service.hook, self.deps.knowledge)
        groups, unknown = report.feature_groups(extracted)
        plot = timeline.collect(extracted)
        patient = report.find_patient(resources, launch.patient)
        unavailable = tuple((PREFETCH_WORDS.get(key, key), why) for key, why in resolved.omitted.items())
        found, other_labs_error = self.other_lab_results(launch)
        return Page(
            launch_id=launch.id,
            banner=report.banner(patient, f"Patient/{launch.patient}")
            if launch.need_patient_banner
            else None,
            card_rule=launch.card_rule,
            fhir_context=launch.fhir_context,
            recommendations=report.recommendations(findings, launch.card_rule),
            groups=groups,
            unknown=unknown,
            timeline_svg=timeline.render_svg(plot, today),
            timeline=plot,
            unavailable=unavailable,
            other_labs=report.other_labs(found, resources, self.deps.valuesets),
            other_labs_error=other_labs_error,
            fhir_server=launch.iss,
            today=today,
        )

    def other_lab_results(self, launch: Launch) -> tuple[list[dict[str, Any]], str]:
        """(the patient's newest lab Observations of any code, "" or the error line); never raises."""
        pool = self.deps.pool
        if pool is None:
            return [], OTHER_LABS_ERROR
        access = self.access(launch)
        relative = encode_search(OTHER_LABS_SEARCH.format(patient=launch.patient))
        try:
            bundle = pool.get_json(
                access.base_url,
                f"{access.base_url}/{relative}",
                access.token,
                time.monotonic() + pool.total_timeout,
            )
        except prefetch.FetchUnavailable as exc:
            log.info("smart: the search for other lab results failed: %s", exc.reason)
            return [], OTHER_LABS_ERROR
        usable = isinstance(bundle, dict) and bundle.get("resourceType") == "Bundle"
        if not usable or bundle_problem(bundle, "Bundle") or prefetch.outcome_problem(bundle):
            log.info("smart: the search for other lab results did not answer a usable Bundle")
            return [], OTHER_LABS_ERROR
        # The first page only: the newest results (`_sort=-date`), enough to show what the rules leave aside.
        return prefetch.flatten({"labs": bundle}), ""


def utc_now() -> datetime:
    """The wall clock, timezone-aware (the default clock)."""
    return datetime.now(UTC)
