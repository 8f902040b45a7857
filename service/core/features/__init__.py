"""Features: the patient's FHIR resources and the hook's draft orders mapped to the catalogue's named facts.

Pure package: no flask, no requests; the clock (`today`), value sets and policy are passed in. Where to look:
`contract` (the Features fields, each declared once with its label, unit and group), `codes` (which value set,
local code or wording feeds which feature), `fhirjson` (junk-tolerant FHIR JSON accessors), one module per
resource family (`patient`, `conditions`, `observations`, `reports`, `medications`, `procedures`,
`encounters`), `judgements` (what depends on policy), `drafts` (the hook's draft orders) and `extraction`
(the pass over the resources, and `extract`).

How `extract` decides True / False / unknown:
- True needs positive data, and every True carries its Sources (resource, date, short display; `via` says how
  it was found when not a plain coded match: "report text: '<sentence>'", "medication text", "proxy code").
- False from absence only where §1 names a single complete source: the Condition-only flags of §1.3/§1.5
  (`codes.CONDITION_ONLY`) when Conditions were supplied and every value set behind the flag is loaded; drug
  flags when medication resources were supplied and none is unidentified; imaging "done" flags when imaging
  resources were supplied. Explicit negatives ("no retropulsion", local Observation valueBoolean false) also
  give False. Everything else (neuro_deficit, cord compression, pregnancy, extent, labs) stays unknown.
- Labs: the newest Observation decides, converted to the unit its declaration names; a unit we cannot convert
  gives an unknown value (the Source says so).
- A partial birthDate ("1942") gives the older possible age: every rule that reads the age is a caution at or
  above an age, so a patient who may be 65 gets the older-adult cautions (the Source shows the range).
- `mri_contraindicated` defaults to False, as clinical-rules §1.2 says, unless a local Observation says True.

Project-local codes are listed in `LOCAL_CODES` (system `LOCAL_SYSTEM`).
"""

from service.core.features.codes import LOCAL_CODES
from service.core.features.codes import LOCAL_SYSTEM
from service.core.features.contract import EXTENT_EXTENSIVE
from service.core.features.contract import EXTENT_LIMITED
from service.core.features.contract import SITE_FOOT_ANKLE
from service.core.features.contract import SITE_HIP
from service.core.features.contract import SITE_KNEE
from service.core.features.contract import SITE_OTHER
from service.core.features.contract import SITE_SACROILIAC
from service.core.features.contract import SITE_VERTEBRA
from service.core.features.contract import SPECS
from service.core.features.contract import DraftOrder
from service.core.features.contract import Features
from service.core.features.contract import FeatureSpec
from service.core.features.extraction import extract

__all__ = [
    "EXTENT_EXTENSIVE",
    "EXTENT_LIMITED",
    "LOCAL_CODES",
    "LOCAL_SYSTEM",
    "SITE_FOOT_ANKLE",
    "SITE_HIP",
    "SITE_KNEE",
    "SITE_OTHER",
    "SITE_SACROILIAC",
    "SITE_VERTEBRA",
    "SPECS",
    "DraftOrder",
    "FeatureSpec",
    "Features",
    "extract",
]
