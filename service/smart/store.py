"""Server-side SMART launch sessions: one row per launch, bound to the browser that started it.

The browser holds only an opaque random key in an HttpOnly cookie; the row keeps the sha256 of that key, the
sha256 of the OAuth `state`, the PKCE verifier and, once authorized, the access token and launch context. The
verifier and the token are stored encrypted (`service/smart/tokens.py`) and leave this table only as the PKCE
proof and the Authorization header of FHIR calls. No patient data is stored
beyond the patient/encounter ids the EHR chose for the launch.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace
from typing import Concatenate
from typing import ParamSpec
from typing import TypeVar

from sqlalchemy import Boolean
from sqlalchemy import Engine
from sqlalchemy import Float
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import Session
from sqlalchemy.orm import mapped_column

from service.smart.errors import DatabaseUnavailableError
from service.smart.tokens import TokenCipher
from service.smart.tokens import UnreadableSecret
from service.store.db import Base
from service.store.db import create_tables
from service.store.health import DatabaseDown
from service.store.health import DbGuard

P = ParamSpec("P")
T = TypeVar("T")

STATUS_PENDING = "pending"  # sent to the authorization server, waiting for the redirect back
STATUS_ACTIVE = "active"  # token received; the app's pages may be shown
KIND_EHR = "ehr"
KIND_STANDALONE = "standalone"
PROBLEM_UNKNOWN = "unknown"  # no pending launch has this state: tampered, replayed or never issued
PROBLEM_OTHER_BROWSER = "other-browser"  # the state is real but the cookie is not the one that started it
PROBLEM_EXPIRED = "expired"
# An expired launch keeps its row (without secrets) this long, so reloading its page says "expired", not "unknown".
RETAIN_EXPIRED_SECONDS = 24 * 3600


def digest(value: str) -> str:
    """sha256 hex of a secret, so the table never holds a cookie value or a state in the clear."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_secret() -> str:
    """256 bits from the OS CSPRNG, URL-safe (state, cookie key, PKCE verifier, launch handle)."""
    return secrets.token_urlsafe(32)


class SmartLaunchRow(Base):
    """One SMART launch (EHR or standalone), from the launch request until it expires."""

    __tablename__ = "smart_launch"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the launch handle in the app's URLs
    browser_hash: Mapped[str] = mapped_column(String(64))
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_verifier: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    iss: Mapped[str] = mapped_column(Text)
    token_endpoint: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
    access_token: Mapped[str] = mapped_column(Text, default="")
    granted_scope: Mapped[str] = mapped_column(Text, default="")
    patient: Mapped[str] = mapped_column(String(256), default="")
    encounter: Mapped[str] = mapped_column(String(256), default="")
    need_patient_banner: Mapped[bool] = mapped_column(Boolean, default=True)
    card_rule: Mapped[str] = mapped_column(String(16), default="")  # from appContext, when it names a rule
    fhir_context: Mapped[str] = mapped_column(Text, default="")  # space-joined references from fhirContext


@dataclass(frozen=True)
class Launch:
    """A launch as the views see it (a detached copy of the row)."""

    id: str
    kind: str
    status: str
    iss: str
    token_endpoint: str
    code_verifier: str
    expires_at: float
    access_token: str = ""
    granted_scope: str = ""
    patient: str = ""
    encounter: str = ""
    need_patient_banner: bool = True
    card_rule: str = ""
    fhir_context: tuple[str, ...] = ()

    def __repr__(self) -> str:
        # Keep the token and verifier out of any log line or traceback that prints a Launch.
        return f"Launch(id={self.id[:6]}…, kind={self.kind}, status={self.status})"


def _launch(row: SmartLaunchRow, cipher: TokenCipher) -> Launch:
    """A detached Launch with its secrets decrypted; UnreadableSecret when no key opens them."""
    return Launch(
        id=row.id,
        kind=row.kind,
        status=row.status,
        iss=row.iss,
        token_endpoint=row.token_endpoint,
        code_verifier=cipher.open(row.code_verifier),
        expires_at=row.expires_at,
        access_token=cipher.open(row.access_token),
        granted_scope=row.granted_scope,
        patient=row.patient,
        encounter=row.encounter,
        need_patient_banner=row.need_patient_banner,
        card_rule=row.card_rule,
        fhir_context=tuple(row.fhir_context.split()),
    )


def _launch_without_secrets(row: SmartLaunchRow) -> Launch:
    """The launch's public fields only, for a row whose secrets no key opens any more."""
    return Launch(id=row.id, kind=row.kind, status=row.status, iss=row.iss, token_endpoint=row.token_endpoint,
                  code_verifier="", expires_at=row.expires_at, patient=row.patient, encounter=row.encounter)


@dataclass(frozen=True)
class LaunchContext:
    """What the token response said, after validation."""

    access_token: str
    expires_in: int | None
    granted_scope: str
    patient: str
    encounter: str
    need_patient_banner: bool
    card_rule: str
    fhir_context: tuple[str, ...] = ()  # relative references the EHR put in fhirContext


def _guarded(method: Callable[Concatenate[LaunchStore, P], T]) -> Callable[Concatenate[LaunchStore, P], T]:
    """Run a store method under the database deadline (LaunchStore._run)."""

    def run(self: LaunchStore, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(lambda: method(self, *args, **kwargs))

    run.__doc__ = method.__doc__
    return run


class LaunchStore:
    """Create, find and complete launches; the clock is passed in (epoch seconds)."""

    def __init__(self, engine: Engine, clock: Callable[[], float], cipher: TokenCipher,
                 guard: DbGuard | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.cipher = cipher
        self.guard = guard  # every call under the service's database deadline (a frozen database stalls nothing)
        create_tables(engine, [SmartLaunchRow.__table__])  # type: ignore[list-item]  # boots in an outage too

    def _run(self, fn: Callable[[], T]) -> T:
        """fn() under the database deadline; DatabaseUnavailable (503 page) while the database is down."""
        if self.guard is None:
            return fn()
        try:
            return self.guard.call(fn)
        except DatabaseDown:
            raise DatabaseUnavailableError("the app's database is not answering",
                                           retry_after=self.guard.retry_after) from None

    @_guarded
    def create(
        self,
        *,
        browser_key: str,
        state: str,
        code_verifier: str,
        kind: str,
        iss: str,
        token_endpoint: str,
        lifetime_seconds: int,
    ) -> Launch:
        """A pending launch; expired rows are purged on the way."""
        now = self.clock()
        row = SmartLaunchRow(
            id=new_secret(),
            browser_hash=digest(browser_key),
            state_hash=digest(state),
            code_verifier=self.cipher.seal(code_verifier),
            kind=kind,
            status=STATUS_PENDING,
            iss=iss,
            token_endpoint=token_endpoint,
            created_at=now,
            expires_at=now + lifetime_seconds,
            access_token="",
            granted_scope="",
            patient="",
            encounter="",
            need_patient_banner=True,
            card_rule="",
            fhir_context="",
        )
        with Session(self.engine) as session, session.begin():
            session.execute(
                delete(SmartLaunchRow).where(SmartLaunchRow.expires_at < now - RETAIN_EXPIRED_SECONDS)
            )
            session.add(row)
            return replace(_launch(row, self.cipher), code_verifier=code_verifier)

    @_guarded
    def take_pending(self, state: str, browser_key: str) -> tuple[Launch | None, str]:
        """(the pending launch for this state and browser, "") or (None, why: unknown/other-browser/expired).

        The state is single-use: it is replaced in the row, so a replayed redirect finds nothing.
        """
        with Session(self.engine) as session, session.begin():
            row = session.scalars(
                select(SmartLaunchRow).where(SmartLaunchRow.state_hash == digest(state))
            ).first()
            if row is None or row.status != STATUS_PENDING:
                return None, PROBLEM_UNKNOWN
            if not secrets.compare_digest(row.browser_hash, digest(browser_key)):
                return None, PROBLEM_OTHER_BROWSER
            row.state_hash = digest(new_secret())
            if row.expires_at < self.clock():
                return None, PROBLEM_EXPIRED
            try:
                return _launch(row, self.cipher), ""
            except UnreadableSecret:
                return None, PROBLEM_EXPIRED  # its key was rotated out: the clinician launches again

    @_guarded
    def activate(self, launch: Launch, context: LaunchContext, session_seconds: int) -> Launch:
        """Store the token and launch context; the launch lives no longer than the token."""
        lifetime = session_seconds
        if context.expires_in is not None and context.expires_in > 0:
            lifetime = min(lifetime, context.expires_in)
        expires_at = self.clock() + lifetime
        with Session(self.engine) as session, session.begin():
            row = session.get(SmartLaunchRow, launch.id)
            if row is None:
                raise LookupError("the launch disappeared")
            row.status = STATUS_ACTIVE
            row.access_token = self.cipher.seal(context.access_token)
            row.granted_scope = context.granted_scope
            row.patient = context.patient
            row.encounter = context.encounter
            row.need_patient_banner = context.need_patient_banner
            row.card_rule = context.card_rule
            row.fhir_context = " ".join(context.fhir_context)
            row.expires_at = expires_at
            row.code_verifier = ""  # spent
        return replace(
            launch,
            status=STATUS_ACTIVE,
            access_token=context.access_token,
            granted_scope=context.granted_scope,
            patient=context.patient,
            encounter=context.encounter,
            need_patient_banner=context.need_patient_banner,
            card_rule=context.card_rule,
            fhir_context=context.fhir_context,
            expires_at=expires_at,
            code_verifier="",
        )

    @_guarded
    def get(self, launch_id: str, browser_key: str) -> tuple[Launch | None, bool]:
        """(the launch, expired?) for this handle and browser; (None, False) if unknown or foreign."""
        with Session(self.engine) as session:
            row = session.get(SmartLaunchRow, launch_id)
            if row is None or not secrets.compare_digest(row.browser_hash, digest(browser_key)):
                return None, False
            try:
                launch = _launch(row, self.cipher)
            except UnreadableSecret:
                # Its key was rotated out: the page says the launch expired, without the token.
                return _launch_without_secrets(row), True
        return launch, launch.expires_at < self.clock()

    @_guarded
    def expire(self, launch_id: str) -> None:
        """Forget an expired launch's secrets; its row stays a day so a reload can say it expired."""
        with Session(self.engine) as session, session.begin():
            row = session.get(SmartLaunchRow, launch_id)
            if row is not None:
                row.access_token = ""
                row.code_verifier = ""

    @_guarded
    def end(self, launch_id: str) -> None:
        """Forget a launch (the token with it)."""
        with Session(self.engine) as session, session.begin():
            session.execute(delete(SmartLaunchRow).where(SmartLaunchRow.id == launch_id))
