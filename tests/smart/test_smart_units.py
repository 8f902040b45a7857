"""The SMART app's pure parts: PKCE, scopes, token response, config, timeline SVG, page model, About."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from service.config import RULESET_VERSION
from service.config import ConfigError
from service.config import load_settings
from service.core.facts import Fact
from service.core.facts import Source
from service.core.features import SPECS
from service.core.features import Features
from service.core.features import extract
from service.core.policy import DEFAULT_POLICY
from service.core.valuesets import ValueSetIndex
from service.knowledge.evidence import SEED_FILES
from service.smart import about
from service.smart.errors import AuthorizationFailedError
from service.smart.errors import NoPatientError
from service.smart.oauth import card_rule
from service.smart.oauth import fhir_context
from service.smart.oauth import pkce_pair
from service.smart.oauth import read_token_response
from service.smart.oauth import scopes_for
from service.smart.report import banner
from service.smart.report import classify
from service.smart.report import feature_groups
from service.smart.report import other_labs
from service.smart.report import seed_anchor
from service.smart.report import value_text
from service.smart.timeline import collect
from service.smart.timeline import render_svg
from tests import builders as b
from valuesets import DIRECTORY as PACKAGED_VALUESETS

SERVICE_DIR = Path(__file__).resolve().parents[2] / "service"
TODAY = date(2026, 11, 21)


def test_pkce_s256_matches_rfc7636_appendix_b() -> None:
    assert (
        pkce_pair("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


@pytest.mark.parametrize(
    ("v1", "standalone", "expected"),
    [
        (False, False, "launch patient/Condition.rs patient/Observation.rs"),
        (True, False, "launch patient/Condition.read patient/Observation.read"),
        (False, True, "launch/patient patient/Condition.rs patient/Observation.rs"),
    ],
)
def test_scopes_follow_the_prefetch_declaration(v1: bool, standalone: bool, expected: str) -> None:
    declared = ("patient/Condition.read", "patient/Observation.read", "patient/Condition.read")
    assert scopes_for(declared, v1=v1, standalone=standalone) == expected


def _token(**extra: object) -> dict[str, object]:
    return {"access_token": "t0k3n", "token_type": "bearer", "patient": "p1", **extra}


@pytest.mark.parametrize(
    ("sent", "shown"),
    [(True, True), (False, False), ("false", False), ("TRUE", True), (None, True), ("maybe", True)],
)
def test_need_patient_banner_tolerates_epic_strings_and_defaults_to_showing(
    sent: object, shown: bool
) -> None:
    body = _token() if sent is None else _token(need_patient_banner=sent)
    assert read_token_response(body).need_patient_banner is shown


def test_token_response_context() -> None:
    context = read_token_response(
        _token(
            expires_in=570,
            scope="launch patient/*.rs",
            encounter="e9",
            appContext='{"rule":"R21"}',
            fhirContext=[{"reference": "Encounter/e9"}],
        )
    )
    assert (context.patient, context.encounter, context.expires_in, context.card_rule) == (
        "p1",
        "e9",
        570,
        "R21",
    )
    assert context.granted_scope == "launch patient/*.rs"
    assert context.fhir_context == ("Encounter/e9",)


@pytest.mark.parametrize(
    ("value", "references"),
    [
        (
            [{"reference": "DiagnosticReport/r1", "role": "launch"}, {"reference": "DiagnosticReport/r1"}],
            ("DiagnosticReport/r1",),
        ),
        ([{"canonical": "http://x/Questionnaire/q"}, {"reference": "https://elsewhere/Patient/1"}], ()),
        ([{"reference": "Observation/<script>"}, "Observation/o1", None], ()),
        ({"reference": "Encounter/e1"}, ()),
        (
            [{"reference": f"Observation/o{i}"} for i in range(20)],
            tuple(f"Observation/o{i}" for i in range(10)),
        ),
    ],
)
def test_fhir_context_keeps_only_relative_references(value: object, references: tuple[str, ...]) -> None:
    assert fhir_context(value) == references


@pytest.mark.parametrize(
    "body",
    [
        {"token_type": "Bearer", "patient": "p1"},
        {"access_token": "x", "token_type": "mac", "patient": "p1"},
        {"access_token": "", "token_type": "Bearer", "patient": "p1"},
    ],
)
def test_token_response_without_a_bearer_token_is_refused(body: dict[str, object]) -> None:
    with pytest.raises(AuthorizationFailedError):
        read_token_response(body)


@pytest.mark.parametrize("patient", [None, "", "Patient/p1", 42])
def test_token_response_without_a_usable_patient_is_refused(patient: object) -> None:
    body = _token()
    body["patient"] = patient
    with pytest.raises(NoPatientError):
        read_token_response(body)


@pytest.mark.parametrize(
    ("app_context", "rule"),
    [
        ('{"rule":"R21"}', "R21"),
        ("R26a", "R26a"),
        ('{"rule":"S09"}', "S09"),
        ('{"rule":"<b>"}', ""),
        ("%FNAME%-%EXTENSION;74901%", ""),
        ('{"rule":"R21"' + " " * 600 + "}", ""),
        (None, ""),
        (["R21"], ""),
        ('["R21"]', ""),
    ],
)
def test_app_context_is_opaque_unless_it_names_one_of_our_rules(app_context: object, rule: str) -> None:
    assert card_rule(app_context) == rule


def test_config_reads_the_client_type_and_allow_list(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    assert load_settings({}).smart.client_type == "public"
    assert not load_settings({}).smart.enabled
    assert load_settings({"BME_SMART_CLIENT_SECRET": "s"}).smart.client_type == "client_secret_basic"
    assert load_settings({"BME_SMART_PRIVATE_KEY_FILE": str(key)}).smart.client_type == "private_key_jwt"
    config = load_settings({"BME_SMART_ALLOWED_ISS": "https://a.example/fhir/, https://b.example/r4"}).smart
    assert config.iss_allowed("https://a.example/fhir") and config.iss_allowed("https://b.example/r4/")
    assert not config.iss_allowed("https://a.example/fhir/other")
    assert config.default_standalone_iss == ""
    assert load_settings({"BME_SMART_ALLOWED_ISS": "https://a.example/fhir"}).smart.default_standalone_iss
    assert load_settings({"BME_SMART_ALLOWED_ISS": "*"}).smart.iss_allowed("https://anything.example")


def test_smart_settings_are_read_with_the_others_and_an_empty_variable_is_unset() -> None:
    env = {"BME_SMART_JWT_ALGORITHM": " ", "BME_SMART_SCOPES": " launch   openid\tfhirUser ", "BME_AUTH": "off"}
    settings = load_settings(env)
    assert settings.auth == "off" and settings.smart.jwt_algorithm == "RS384"
    assert settings.smart.scopes == "launch openid fhirUser"


@pytest.mark.parametrize(
    ("env", "sources"),
    [
        ({}, "'self'"),
        ({"BME_SMART_ALLOWED_ISS": "https://EHR.example:8443/fhir/r4, https://ehr.example:8443/other"},
         "'self' https://ehr.example:8443"),
        ({"BME_SMART_ALLOWED_ISS": "http://localhost:8080/v/r4/fhir",
          "BME_SMART_FRAME_ANCESTORS": "https://ui.example.org/launch  'self'"},
         "'self' http://localhost:8080 https://ui.example.org"),
        ({"BME_SMART_ALLOWED_ISS": "*"}, "*"),
    ],
)
def test_frame_ancestors_are_the_configured_ehr_origins(env: dict[str, str], sources: str) -> None:
    assert load_settings(env).smart.frame_ancestor_sources == sources


@pytest.mark.parametrize(
    "env",
    [
        {"BME_SMART_CLIENT_SECRET": "s", "BME_SMART_PRIVATE_KEY_FILE": __file__},
        {"BME_SMART_PRIVATE_KEY_FILE": "/nonexistent/key.pem"},
        {"BME_SMART_JWT_ALGORITHM": "HS256"},
        {"BME_SMART_COOKIE_SAMESITE": "none-ish"},
        {"BME_SMART_SESSION_SECONDS": "0"},
        {"BME_SMART_SESSION_SECONDS": "ten"},
        {"BME_SMART_V1_SCOPES": "perhaps"},
        {"BME_SMART_REDIRECT_URL": "/smart/callback"},
    ],
)
def test_config_refuses_contradictions_at_start(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_settings(env)


def _features() -> Features:
    mri = Source(
        "DiagnosticReport/m<1>", "MRI <script>alert(1)</script>", date(2026, 10, 1), via="report text"
    )
    return Features(
        today=TODAY,
        bme_present=Fact(True, (mri,)),
        last_mri_date=Fact(date(2026, 10, 1), (mri,)),  # same resource and date: one event
        vertebral_fracture=Fact(
            True,
            (
                Source("Condition/c1", "L1 fracture", date(2026, 9, 20)),
                Source("Condition/c2", "undated fracture"),
            ),
        ),
        nsaid_active=Fact(True, (Source("MedicationRequest/n1", "naproxen", date(2026, 9, 25)),)),
        malignancy_active=Fact(False),
        osteoporosis=Fact(None),
        pain_nrs_series=((date(2026, 9, 21), 8), (date(2026, 11, 1), 4)),
        egfr=Fact(72.0, (Source("Observation/e1", "eGFR 72", date(2026, 11, 1)),), as_of=date(2026, 11, 1)),
    )


def test_timeline_plots_each_resource_once_and_counts_the_undated() -> None:
    plot = collect(_features())
    assert [(e.lane, e.reference) for e in plot.events] == [
        ("Imaging", "DiagnosticReport/m<1>"),
        ("Fractures", "Condition/c1"),
        ("Treatments", "MedicationRequest/n1"),
    ]
    assert plot.undated == 1
    assert plot.pain == ((date(2026, 9, 21), 8), (date(2026, 11, 1), 4))


def test_timeline_svg_escapes_text_and_draws_every_event() -> None:
    svg = render_svg(collect(_features()), TODAY)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert svg.count('<g class="event">') == 3 + 2  # three lane events, two pain scores
    assert "2026-10-01: MRI" in svg


def test_timeline_without_dated_data_draws_nothing() -> None:
    assert render_svg(collect(Features(today=TODAY)), TODAY) == ""


def test_feature_groups_keep_values_sources_and_unknowns_apart() -> None:
    groups, unknown = feature_groups(_features())
    by_title = {g.title: g for g in groups}
    imaging = {row.label: row for row in by_title["Bone marrow edema (imaging)"].rows}
    assert imaging["Bone marrow edema on imaging"].value == "yes"
    assert imaging["Last MRI date"].value == "2026-10-01"
    assert {row.label: row.value for row in by_title["Labs"].rows} == {"eGFR": "72 mL/min/1.73m2"}
    assert "Malignancy active" in by_title["Cause and other conditions"].not_on_record
    assert "Osteoporosis" in unknown and "Malignancy active" not in unknown


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("pain_nrs_latest", 7, "7/10"),
        ("bme_extent", "extensive_full_vertebral_body", "extensive full vertebral body"),
        ("bme_sites", frozenset({"vertebra", "hip_femoral_head"}), "hip femoral head, vertebra"),
        ("nsaid_days", 38, "38"),
        ("osteoporosis", False, "no"),
        ("age_years", 74, "74 years"),
    ],
)
def test_values_read_as_words(name: str, value: object, words: str) -> None:
    assert value_text(name, value) == words


def test_labels_come_from_the_feature_declarations() -> None:
    assert SPECS["ckd_stage_4_5_or_esrd"].label == "CKD stage 4-5 or ESRD"
    assert SPECS["bme_present"].label == "Bone marrow edema on imaging"


def test_ionized_calcium_is_shown_in_the_unit_it_is_stored_in() -> None:
    """1.2 mmol/L is stored as 4.81 mg/dL, so the app must say mg/dL (it said "4.81 mmol/L")."""
    lab = b.observation("1994-3", 1.2, "mmol/L", "2026-11-10")
    features = extract([lab], today=TODAY, valuesets=ValueSetIndex.load(PACKAGED_VALUESETS), policy=DEFAULT_POLICY)
    assert features.calcium_ionized.value == 4.81
    groups, _ = feature_groups(features)
    (labs,) = [g for g in groups if g.title == "Labs"]
    assert {row.label: row.value for row in labs.rows} == {"Ionized calcium": "4.81 mg/dL"}
    assert labs.rows[0].sources[0].display == "Ionized calcium 4.81 mg/dL (reported 1.2 mmol/L)"


def _causes(features: Features) -> tuple[dict[str, tuple[str, str, tuple[str, ...]]], tuple[str, ...]]:
    groups, _ = feature_groups(features)
    (causes,) = [g for g in groups if g.title == "Cause and other conditions"]
    rows = {r.label: (r.value, r.note, tuple(s.display for s in r.sources)) for r in causes.rows}
    return rows, causes.not_on_record


def test_vitamin_d_diagnosis_is_shown_with_the_lab_and_never_as_counted_no() -> None:
    """R19 reads the diagnosis; a 25-OH vitamin D of 18 ng/mL beside "nothing on record (counted as no)" read as
    a contradiction, so the row names the diagnosis, cites the lab and says the rules do not read it."""
    lab = b.observation("1989-3", 18, "ng/mL", "2026-11-10", id="vitd-1")
    other = b.condition("M81.0", id="op-1")  # Conditions were read, so "no diagnosis" is a searched no
    features = extract(
        [other, lab], today=TODAY, valuesets=ValueSetIndex.load(PACKAGED_VALUESETS), policy=DEFAULT_POLICY
    )
    assert features.vitamin_d_deficiency.value is False and features.vitd_25oh.value == 18.0
    rows, absent = _causes(features)
    value, note, sources = rows["Vitamin D deficiency diagnosis"]
    assert value == "none on record"
    assert sources == ("25-OH vitamin D 18 ng/mL",)
    assert note == "The rules read the coded diagnosis, not this 25-OH vitamin D result."
    assert not any("Vitamin D" in label for label in absent)
    groups, _ = feature_groups(features)
    (causes,) = [g for g in groups if g.title == "Cause and other conditions"]
    assert causes.on_record == len(causes.rows) - 1  # "none on record" is not counted as on record


def test_vitamin_d_diagnosis_without_a_lab_stays_in_the_nothing_on_record_list() -> None:
    other = b.condition("M81.0", id="op-1")
    features = extract([other], today=TODAY, valuesets=ValueSetIndex.load(PACKAGED_VALUESETS), policy=DEFAULT_POLICY)
    rows, absent = _causes(features)
    assert "Vitamin D deficiency diagnosis" in absent and "Vitamin D deficiency diagnosis" not in rows


def test_a_coded_vitamin_d_deficiency_keeps_its_condition_and_cites_the_lab() -> None:
    dx = b.condition("E55.9", id="vitd-dx")
    lab = b.observation("1989-3", 18, "ng/mL", "2026-11-10", id="vitd-1")
    features = extract(
        [dx, lab], today=TODAY, valuesets=ValueSetIndex.load(PACKAGED_VALUESETS), policy=DEFAULT_POLICY
    )
    value, _, sources = _causes(features)[0]["Vitamin D deficiency diagnosis"]
    assert value == "yes"
    assert len(sources) == 2 and sources[1] == "25-OH vitamin D 18 ng/mL"


@pytest.mark.parametrize(
    ("note", "outcome"),
    [
        ("S08 passed: eGFR 72 on 2026-11-11", "passed"),
        ("Withheld: Pamidronate 30 mg IV (S09: no current calcium)", "failed"),
        ("Removed: naproxen (S01: eGFR 25; contraindicated)", "failed"),
        (
            "suggestion 'Pamidronate' (R21): no current calcium; suggestion withheld until the lab is in",
            "failed",
        ),
        ("S02 caution: GI bleed history (see the S02 card)", "caution"),
        ("Seeds 000/001 put NSAIDs first for most BME (conflict C1)", "note"),
    ],
)
def test_check_lines_are_classified(note: str, outcome: str) -> None:
    assert classify(note).outcome == outcome


def test_banner_from_the_patient_resource() -> None:
    shown = banner(
        {
            "resourceType": "Patient",
            "name": [
                {"use": "old", "text": "Old Name"},
                {"use": "official", "given": ["Ada", "B."], "family": "N"},
            ],
            "birthDate": "1952-03-14",
            "gender": "female",
            "identifier": [{"type": {"text": "MRN"}, "value": "4711"}],
        },
        "Patient/p1",
    )
    assert (shown.name, shown.birth_date, shown.sex, shown.identifier) == (
        "Ada B. N",
        "1952-03-14",
        "female",
        "MRN 4711",
    )
    assert banner(None, "Patient/p1").name == "Name not available"


def test_seed_anchors_link_only_seed_files() -> None:
    assert seed_anchor("002_a2231a674c43bc45.txt") == "seed-002"
    assert seed_anchor("https://www.fda.gov/x") == ""


def test_about_lists_the_13_hti1_attributes_and_the_four_seeds() -> None:
    attributes = about.attributes()
    assert [a.number for a in attributes] == [str(n) for n in range(1, 14)]
    assert all(a.uses is not None for a in attributes[4:]) and all(a.uses is None for a in attributes[:4])
    assert tuple(s.file for s in about.SEEDS) == SEED_FILES
    assert all(s.file in attributes[0].answer for s in about.SEEDS)
    assert RULESET_VERSION in attributes[3].answer


# Attribute -> the feature whose use by a rule or gate decides the answer.
_DEMOGRAPHIC_FEATURES = {"10": "sex", "11": "age_years"}


@pytest.mark.parametrize(("number", "feature"), sorted(_DEMOGRAPHIC_FEATURES.items()))
def test_about_demographic_answers_follow_the_rules_and_gates(number: str, feature: str) -> None:
    knowledge = [SERVICE_DIR / "core" / "gates.py", *sorted((SERVICE_DIR / "knowledge").glob("*.py"))]
    used = any(re.search(rf"\.{feature}\b|\"{feature}\"", path.read_text()) for path in knowledge)
    answer = next(a for a in about.attributes() if a.number == number)
    assert answer.uses is used


def test_smart_guide_lists_exactly_the_scopes_the_app_requests() -> None:
    """docs/smart.md's EHR-launch scopes are the ones derived from the patient-view prefetch, DocumentReference too."""
    from hooks.patient_view import SERVICE
    from service.smart.oauth import scopes_for

    guide = (Path(__file__).resolve().parents[2] / "docs" / "smart.md").read_text(encoding="utf-8")
    prefetch_scopes = tuple(scope for key in SERVICE.prefetch.values() for scope in key.scopes)
    assert f"| EHR | `{scopes_for(prefetch_scopes, v1=False, standalone=False)}` |" in guide


def _lab(code: str, value: float, unit: str, when: str, id: str, category: str = "laboratory") -> dict[str, object]:
    lab = b.observation(code, value, unit, when, id=id)
    lab["category"] = [
        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}]}
    ]
    return lab


def test_other_labs_keep_the_newest_unread_lab_per_code() -> None:
    valuesets = ValueSetIndex.load(PACKAGED_VALUESETS)
    old_calcium = _lab("49765-1", 8.1, "mg/dL", "2020-01-02", "ca-old")
    new_calcium = _lab("49765-1", 9.4, "mg/dL", "2024-05-06", "ca-new")
    glucose = _lab("2339-0", 95, "mg/dL", "2023-03-04", "glu")
    read_by_id = _lab("718-7", 13.1, "g/dL", "2024-01-01", "hb-prefetched")
    in_a_value_set = _lab("98979-8", 72, "mL/min/{1.73_m2}", "2025-01-01", "egfr")  # eGFR: the rules read it
    vital = _lab("8867-4", 70, "/min", "2025-01-01", "pulse", category="vital-signs")
    wrong = _lab("2951-2", 140, "mmol/L", "2025-02-02", "na-wrong")
    wrong["status"] = "entered-in-error"
    found = [old_calcium, glucose, new_calcium, read_by_id, in_a_value_set, vital, wrong]
    labs = other_labs(found, [read_by_id], valuesets)
    assert [(lab.reference, lab.value, lab.when, lab.code) for lab in labs] == [
        ("Observation/ca-new", "9.4 mg/dL", date(2024, 5, 6), "http://loinc.org 49765-1"),
        ("Observation/glu", "95 mg/dL", date(2023, 3, 4), "http://loinc.org 2339-0"),
    ]
