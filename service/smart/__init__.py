"""The SMART on FHIR app: from a card to the full picture, launched inside the EHR (issue 6).

`init_app` registers the Blueprint under /smart/; create_app calls it once. The app reuses the hooks' core
(prefetch, features, rules) and keeps its launches in the service's database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from flask import Flask

from service.cds.pipeline import Deps
from service.config import Settings
from service.smart.launch import SmartApp
from service.smart.launch import utc_now
from service.smart.oauth import SmartClient
from service.smart.oauth import public_jwks
from service.smart.store import LaunchStore
from service.smart.tokens import TokenCipher
from service.smart.tokens import load_keys
from service.smart.views import SmartSlot
from service.smart.views import make_blueprint

log = logging.getLogger(__name__)

EXTENSION = "bme_smart"


def init_app(
    app: Flask,
    settings: Settings,
    deps: Deps,
    *,
    clock: Callable[[], datetime] = utc_now,
) -> None:
    """Set the app up from `settings.smart`, create the launch table, and register the Blueprint under /smart/."""
    config = settings.smart
    engine = app.extensions["bme"].engine
    cipher = TokenCipher(load_keys(config.token_keys, settings.data_dir))
    guard = app.extensions["bme"].guard  # the service's database deadline, shared with the hooks
    store = LaunchStore(engine, clock=lambda: clock().timestamp(), cipher=cipher, guard=guard)
    private_key = config.private_key_file.read_bytes() if config.private_key_file is not None else b""
    # Checked at start: a wrong key should stop the service, not fail the first clinician's launch.
    jwks = public_jwks(private_key, config.jwt_algorithm, config.key_id) if private_key else None
    client = SmartClient(
        config, allow_http_hosts=settings.allow_http_fhir_hosts, private_key=private_key, clock=time.time
    )
    smart = SmartApp(settings, deps, store, client, clock, jwks=jwks)
    slot = app.extensions.get(EXTENSION)
    if isinstance(slot, SmartSlot):
        slot.current = smart  # called again (tests): the registered Blueprint now serves the new set-up
    else:
        app.extensions[EXTENSION] = SmartSlot(smart)
        app.register_blueprint(make_blueprint(app.extensions[EXTENSION]), url_prefix="/smart")
    if not config.enabled:
        log.info("smart: no BME_SMART_CLIENT_ID: the SMART app's pages explain that it is not set up")
    elif not config.allowed_iss:
        log.warning("smart: BME_SMART_ALLOWED_ISS is empty: every launch will be refused")
