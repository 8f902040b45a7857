"""The SMART app's Blueprint: launch, callback, the patient page, About, and friendly error pages.

Views stay thin: they read the cookie and the query, call SmartApp, and render a template. The browser gets
only an opaque random key in an HttpOnly cookie; tokens stay in the server-side launch store.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from flask import Blueprint
from flask import Response
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from markupsafe import Markup
from werkzeug.wrappers.response import Response as BaseResponse

from service.config import RULESET_VERSION
from service.smart import about
from service.smart.errors import SmartError
from service.smart.launch import SmartApp
from service.smart.report import seed_anchor
from service.smart.store import new_secret

log = logging.getLogger(__name__)

COOKIE = "bme_smart"
_KEY = re.compile(r"^[A-Za-z0-9_-]{43}$")  # what new_secret() makes; anything else is replaced
STATIC = Path(__file__).resolve().parent.parent / "static" / "smart"


def _csp(frame_ancestors: str) -> str:
    # Server-rendered pages: own CSS only, no script needed, inline SVG is markup (not a resource).
    return (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; base-uri 'none'; "
        f"form-action 'self'; frame-ancestors {frame_ancestors}"
    )


class SmartSlot:
    """Holds the app's SmartApp; init_app may replace it (tests re-configure an app built by create_app)."""

    def __init__(self, smart: SmartApp) -> None:
        self.current = smart


def make_blueprint(slot: SmartSlot) -> Blueprint:
    """The Blueprint, bound to one slot (no globals, no current_app)."""
    bp = Blueprint("smart", __name__, static_folder=str(STATIC), static_url_path="/static")

    def browser_key() -> str | None:
        value = request.cookies.get(COOKIE)
        return value if value and _KEY.match(value) else None

    def with_cookie(response: BaseResponse, key: str) -> BaseResponse:
        smart = slot.current
        https = smart.settings.public_base_url.lower().startswith("https://")
        secure = https or request.is_secure or smart.config.cookie_samesite == "None"
        response.set_cookie(
            COOKIE,
            key,
            httponly=True,
            secure=secure,
            samesite=smart.config.cookie_samesite,
            path="/smart/",
            max_age=smart.config.session_seconds,
        )
        return response

    @bp.after_request
    def _headers(response: Response) -> Response:
        if response.mimetype == "text/html":
            response.headers["Content-Security-Policy"] = _csp(slot.current.config.frame_ancestor_sources)
        response.headers["Cache-Control"] = "no-store"  # pages hold patient data
        response.headers["Referrer-Policy"] = "no-referrer"  # the callback URL carries the code
        return response

    @bp.errorhandler(SmartError)
    def _error(error: SmartError) -> Response:
        log.info("smart: %s %s: %s", error.status, error.code, error.message)
        body = render_template("smart/error.html", error=error)
        response = make_response(body, error.status)
        response.headers.update(error.headers())
        return response

    @bp.get("/")
    def index() -> str:
        return render_template(
            "smart/index.html",
            configured=slot.current.config.enabled,
            standalone=bool(slot.current.config.default_standalone_iss),
        )

    @bp.get("/launch")
    def launch() -> BaseResponse:
        """EHR launch: ?iss=<FHIR base>&launch=<opaque>."""
        key = browser_key() or new_secret()
        target = slot.current.start(
            iss=request.args.get("iss", ""), launch=request.args.get("launch", ""), browser_key=key
        )
        return with_cookie(redirect(target, 302), key)

    @bp.get("/standalone")
    def standalone() -> BaseResponse:
        """Standalone launch from the configured FHIR server (or an allow-listed ?iss=)."""
        key = browser_key() or new_secret()
        target = slot.current.start_standalone(iss=request.args.get("iss") or None, browser_key=key)
        return with_cookie(redirect(target, 302), key)

    @bp.get("/callback")
    def callback() -> BaseResponse:
        """The authorization server's redirect: ?code&state, or ?error&state."""
        launch_id = slot.current.finish(request.args.to_dict(flat=True), browser_key())
        # A redirect drops the code from the address bar and from the page's history entry.
        return redirect(url_for("smart.app_page", launch_id=launch_id), 303)

    @bp.get("/app/<launch_id>")
    def app_page(launch_id: str) -> str:
        active = slot.current.launch(launch_id, browser_key())
        page = slot.current.page(active)
        return render_template(
            "smart/app.html", page=page, svg=Markup(page.timeline_svg), seed_anchor=seed_anchor
        )

    @bp.get("/.well-known/jwks.json")
    def jwks() -> Response:
        """The client's public key (private_key_jwt), for EHRs that take a JWK Set URL."""
        if slot.current.jwks is None:
            return Response('{"keys":[]}', 404, mimetype="application/json")
        return Response(json.dumps(slot.current.jwks), 200, mimetype="application/json")

    @bp.get("/about")
    def about_page() -> str:
        return render_template(
            "smart/about.html",
            attributes=about.attributes(),
            seeds=about.SEEDS,
            ruleset_version=RULESET_VERSION,
            service_version=about.service_version(),
        )

    return bp
