"""The integration guides stay true: generated prefetch tables, loadable examples, real setting names."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path

import pytest

from hooks import SERVICES
from service import profiles
from service.config import PREFIX
from service.config import Settings
from service.core.cards import OVERRIDE_REASONS
from service.web.auth import load_trusted_clients
from tests.ehr.doc_tables import BEGIN
from tests.ehr.doc_tables import DOCS
from tests.ehr.doc_tables import END
from tests.ehr.doc_tables import GUIDES
from tests.ehr.doc_tables import generated
from tests.ehr.doc_tables import prefetch_table

PROFILE_OF = {
    "integration-epic.md": "epic",
    "integration-oracle.md": "oracle",
    "integration-sandbox.md": "sandbox",
}
# Settings a guide names that the lead adds when wiring issue 7; move them out once Settings has them.
PENDING_SETTINGS: set[str] = set()
_JSON_BLOCK = re.compile(r"```json\n(.*?)```", re.S)


def guide(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", GUIDES)
def test_prefetch_table_matches_the_registry(name: str) -> None:
    text = guide(name)
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert generated(text) == text, f"docs/{name} is stale: run python -m tests.ehr.doc_tables"


def test_the_table_lists_every_key_template_and_scope() -> None:
    table = prefetch_table()
    for service in SERVICES:
        for key, spec in service.prefetch.items():
            assert f"| `{key}` | `{spec.template.replace('|', chr(92) + '|')}` |" in table
            assert all(scope in table for scope in spec.scopes)


@pytest.mark.parametrize("name", GUIDES)
def test_trusted_clients_example_loads_with_the_guides_profile(name: str, tmp_path: Path) -> None:
    examples = [json.loads(block) for block in _JSON_BLOCK.findall(guide(name))]
    clients = [example for example in examples if "clients" in example]
    assert len(clients) == 1
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(clients[0]), encoding="utf-8")
    (client,) = load_trusted_clients(path)
    assert client.profile == PROFILE_OF[name]


def test_epic_mapping_examples_load(tmp_path: Path) -> None:
    inline = [block for block in _JSON_BLOCK.findall(guide("integration-epic.md")) if '"codes"' in block]
    assert len(inline) == 1
    path = tmp_path / "codes.json"
    path.write_text(inline[0], encoding="utf-8")
    mapping = profiles.load_order_codes(path)
    assert mapping.lookup("http://www.nlm.nih.gov/research/umls/rxnorm", "11473") is not None
    assert "docs/examples/order-codes.epic.json" in guide("integration-epic.md")


@pytest.mark.parametrize("name", GUIDES)
def test_settings_named_in_the_guides_exist(name: str) -> None:
    known = {PREFIX + f.name.upper() for f in fields(Settings)}
    named = set(re.findall(r"\bBME_[A-Z_]+\b", guide(name)))
    assert named - known - PENDING_SETTINGS == set()
    assert PENDING_SETTINGS & known == set(), "a pending setting now exists: remove it from PENDING_SETTINGS"


def test_epic_guide_names_our_override_reason_codes_and_topic_rule() -> None:
    text = guide("integration-epic.md")
    assert all(f"`{code}`" in text for code, _ in OVERRIDE_REASONS)
    assert (
        "urn:oid:2.16.840.1.113883.6.88" in text and profiles.EPIC_RXNORM == "urn:oid:2.16.840.1.113883.6.88"
    )


def test_oracle_guide_states_the_detail_cap_and_pointer() -> None:
    text = guide("integration-oracle.md")
    assert f"{profiles.ORACLE_MAX_DETAIL:,} characters" in text
    assert profiles.ORACLE_POINTER_APP in text


@pytest.mark.parametrize("name", GUIDES)
def test_guides_name_the_endpoints_and_claims(name: str) -> None:
    text = guide(name)
    for claim in ("`iss`", "`aud`", "`jti`", "jku"):
        assert claim in text
    assert "412" in text and "{base}/cds-services" in text


def test_example_mapping_maps_a_text_only_order() -> None:
    mapping = profiles.load_order_codes(DOCS / "examples" / "order-codes.epic.json")
    assert mapping.lookup_text("Referral to physiotherapy") is not None
