"""Public pages of the rules and safety gates: GET /rules/ (index) and /rules/R21, the link behind every card.

Server-rendered HTML, no script, no patient data (the page model takes only the id and the policy in force), so
any EHR may frame it. An unknown id is a 404 OperationOutcome like every other error of the service.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import make_response
from flask import render_template

from service.core.citations import RULES_PATH
from service.core.policy import DEFAULT_POLICY
from service.core.policy import Policy
from service.errors import CdsError
from service.knowledge.rulepage import index_page
from service.knowledge.rulepage import rule_page

STATIC = Path(__file__).resolve().parent.parent / "static" / "rules"
# Own stylesheet only, nothing else loads; framing is open because the page holds nothing about a patient.
CSP = ("default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors *")
CACHE = "public, max-age=300"  # the same for everyone; short, so a changed policy file shows within minutes

bp = Blueprint("rules", __name__, url_prefix=RULES_PATH.rstrip("/"), static_folder=str(STATIC),
               static_url_path="/static")


class UnknownRuleError(CdsError):
    """No rule or safety gate has this id (404)."""

    status = 404
    issue_code = "not-found"
    error_code = "BME-0404"


def _policy() -> Policy:
    """The policy the service runs with, so the page shows the numbers the cards use."""
    state = current_app.extensions.get("bme")
    return state.deps.policy if state is not None else DEFAULT_POLICY


@bp.after_request
def _headers(response: Response) -> Response:
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Cache-Control"] = CACHE
    return response


@bp.get("/")
def index() -> Response:
    """Every rule by stage, then the safety gates."""
    return make_response(render_template("rules/index.html", page=index_page(_policy())))


@bp.get("/<rule_id>")
def rule(rule_id: str) -> Response:
    """One rule or gate: When/Then in words, the card, the orders, evidence, settings, limitations."""
    page = rule_page(rule_id, _policy())
    if page is None:
        raise UnknownRuleError(f"no rule or safety gate has this id; the index is {RULES_PATH}")
    return make_response(render_template("rules/page.html", page=page))
