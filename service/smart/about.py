"""The "About this decision support" content: the 13 evidence-based DSI source attributes of ONC HTI-1.

45 CFR 170.315(b)(11)(iv)(A) (the ONC certification criterion for decision support interventions). Filled in
for this service as it is: the four seed documents are its only clinical sources, and the demographic answers
follow what the features and rules actually read (service/core/features/, service/knowledge/,
service/core/gates.py). Pure module.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

from service.config import RULESET_VERSION
from service.config import SERVICE_NAME
from service.knowledge.evidence import SEED_000
from service.knowledge.evidence import SEED_001
from service.knowledge.evidence import SEED_002
from service.knowledge.evidence import SEED_003

DISTRIBUTION = "bme-cds"


@dataclass(frozen=True)
class Seed:
    """One clinical source document, cited."""

    file: str
    title: str
    kind: str
    dated: str
    caveat: str

    @property
    def anchor(self) -> str:
        """The anchor id the evidence links on the app page point to."""
        return f"seed-{self.file[:3]}"


SEEDS = (
    Seed(
        SEED_000,
        "Treatment for Bone Marrow Edema",
        "Summary in the style of a guideline",
        "No author or date stated",
        "Its numbered references (1-8) cannot be traced; two algorithm bullets are empty.",
    ),
    Seed(
        SEED_001,
        "How is marrow edema managed?",
        "Article from a medical-answers website",
        "Last updated 4 November 2025",
        'Marked "content pending human review" by its publisher.',
    ),
    Seed(
        SEED_002,
        "Treatment of Vertebral Body Bone Marrow Edema",
        "Algorithm in the style of a guideline",
        "No author or date stated",
        "Its numbered references cannot be traced; the only seed with drug doses.",
    ),
    Seed(
        SEED_003,
        "Bone Marrow Edema - Causes, Symptoms, Diagnosis, and Treatment",
        "Patient-education article, medically reviewed by an orthopaedist",
        "Published and reviewed 12 December 2023",
        "Gives causes and treatments; no thresholds and no doses.",
    ),
)


@dataclass(frozen=True)
class Attribute:
    """One HTI-1 source attribute and our answer."""

    number: str
    name: str
    answer: str
    uses: bool | None = None  # for the demographic inputs (5-13): does the intervention use it?


def service_version() -> str:
    """The installed package version, or a note that the code runs from a source tree."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "not installed as a package (running from source)"


def attributes() -> tuple[Attribute, ...]:
    """The 13 evidence-based DSI source attributes, answered for this service."""
    citation = (
        'The four seed documents listed below under "Sources" (files '
        + ", ".join(s.file for s in SEEDS)
        + "). None is a primary guideline or peer-reviewed study; "
        "nothing has been checked against primary literature. Safety checks S01-S14 are not from the "
        "seeds: each one names its own source (drug labels, FDA communications) on its card."
    )
    return (
        Attribute("1", "Bibliographic citation of the intervention", citation),
        Attribute(
            "2",
            "Developer of the intervention",
            f"The {SERVICE_NAME} open-source project (its contributors translated the seeds into the rule "
            "table R01-R37). Research draft: a clinician must review and sign off every rule before "
            "clinical use.",
        ),
        Attribute(
            "3",
            "Funding source of the intervention's technical implementation",
            "None: an unfunded open-source project (Apache-2.0).",
        ),
        Attribute(
            "4",
            "Release and revision dates of the intervention and of its reference sources",
            f"Rule set version {RULESET_VERSION} (year.month.revision); service version "
            f"{service_version()}. Sources: seed 001 last updated 4 November 2025; seed 003 published "
            "12 December 2023; seeds 000 and 002 state no date.",
        ),
        Attribute("5", "Race as an input", "Not used.", False),
        Attribute("6", "Ethnicity as an input", "Not used.", False),
        Attribute("7", "Language as an input", "Not used.", False),
        Attribute("8", "Sexual orientation as an input", "Not used.", False),
        Attribute("9", "Gender identity as an input", "Not used.", False),
        Attribute(
            "10",
            "Sex as an input",
            "Used: administrative sex (Patient.gender) decides whether the NSAID-in-pregnancy safety check "
            "(S05) applies when no pregnancy status is recorded; it is also shown in the patient banner.",
            True,
        ),
        Attribute(
            "11",
            "Date of birth as an input",
            "Used: age in years, computed from Patient.birthDate, feeds the older-adult criteria and the "
            "NSAID safety checks.",
            True,
        ),
        Attribute("12", "Social determinants of health as an input", "Not used.", False),
        Attribute(
            "13",
            "Health status assessments as an input",
            "Used: pain scores (numeric rating scale observations), pregnancy status and recorded mobility "
            "problems feed the pathway and safety rules.",
            True,
        ),
    )
