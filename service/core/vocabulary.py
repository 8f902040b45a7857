"""The project's vocabulary, said once: code systems, hook names, drug and order classes, EHR profile names.

Every other module imports these names from here. Pure: constants only.
"""

from __future__ import annotations

from typing import Final

# Code systems (FHIR canonical URIs).
SNOMED: Final = "http://snomed.info/sct"
ICD10CM: Final = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC: Final = "http://loinc.org"
RXNORM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"
CPT: Final = "http://www.ama-assn.org/go/cpt"
DCM: Final = "http://dicom.nema.org/resources/ontology/DCM"
UCUM: Final = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
LABORATORY: Final = "laboratory"  # the observation-category code of lab results (FHIR R4)

# CDS Hooks 2.0 hooks the service answers.
HOOK_PATIENT_VIEW: Final = "patient-view"
HOOK_ORDER_SELECT: Final = "order-select"
HOOK_ORDER_SIGN: Final = "order-sign"
HOOKS: Final[tuple[str, ...]] = (HOOK_PATIENT_VIEW, HOOK_ORDER_SELECT, HOOK_ORDER_SIGN)
ORDER_HOOKS: Final[tuple[str, ...]] = (HOOK_ORDER_SELECT, HOOK_ORDER_SIGN)

# Drug and order classes: what a suggestion offers (SuggestionSpec.drug_class), what a draft order is
# (DraftOrder.kinds) and what a safety gate filters on.
NSAID: Final = "nsaid"
INDOMETHACIN: Final = "indomethacin"  # an NSAID that S07 also checks
IV_BISPHOSPHONATE: Final = "iv_bisphosphonate"
PAMIDRONATE: Final = "pamidronate"  # an IV bisphosphonate
ZOLEDRONIC_ACID: Final = "zoledronic_acid"  # an IV bisphosphonate
BISPHOSPHONATE: Final = "bisphosphonate"  # any, incl. oral (draft orders only)
DENOSUMAB: Final = "denosumab"
TNFI: Final = "tnfi"
DEXAMETHASONE: Final = "dexamethasone"
SYSTEMIC_GLUCOCORTICOID: Final = "systemic_glucocorticoid"
OPIOID: Final = "opioid"
ILOPROST: Final = "iloprost"
CALCITONIN: Final = "calcitonin"
BED_REST: Final = "bed_rest"
VERTEBRAL_AUGMENTATION: Final = "vertebral_augmentation"
MRI: Final = "mri"

NSAID_CLASSES: Final = frozenset({NSAID, INDOMETHACIN})
IV_BP_CLASSES: Final = frozenset({IV_BISPHOSPHONATE, PAMIDRONATE, ZOLEDRONIC_ACID})
ANTIRESORPTIVE_CLASSES: Final = IV_BP_CLASSES | {BISPHOSPHONATE, DENOSUMAB}
GLUCOCORTICOID_CLASSES: Final = frozenset({SYSTEMIC_GLUCOCORTICOID, DEXAMETHASONE})

# EHR profiles a trusted client may name (TrustedClient.profile).
PROFILE_GENERIC: Final = "generic"
PROFILE_EPIC: Final = "epic"
PROFILE_ORACLE: Final = "oracle"
PROFILE_SANDBOX: Final = "sandbox"
PROFILES: Final[tuple[str, ...]] = (PROFILE_GENERIC, PROFILE_EPIC, PROFILE_ORACLE, PROFILE_SANDBOX)
