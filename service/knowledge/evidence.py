"""Seed statements, quoted verbatim from the four seed files.

The seeds are never read at run time: their statements are copied here as text. `tests/rules` checks every
quote against a copy of the seed files, so a misquote fails. Pure module.
"""

from __future__ import annotations

from service.core.findings import Evidence

SEED_000 = "000_78eca85d1300eed9.txt"  # "Treatment for Bone Marrow Edema" (guideline-style summary)
SEED_001 = "001_55f96261c0195ecd.txt"  # "How is marrow edema managed?" (medical-answers article)
SEED_002 = "002_a2231a674c43bc45.txt"  # "Treatment of Vertebral Body Bone Marrow Edema" (algorithm, doses)
SEED_003 = "003_c46f0e6aafd4fa31.txt"  # "Bone Marrow Edema - Causes, Symptoms, Diagnosis, and Treatment"
SEED_FILES: tuple[str, ...] = (SEED_000, SEED_001, SEED_002, SEED_003)

NO_DOSE_NOTE = "The seeds give no dose: use your institution's protocol."
NO_CODE_NOTE = "No verified code exists for this order: it is ordered as text."


def s000(statement: str) -> Evidence:
    """A statement quoted from seed 000."""
    return Evidence(SEED_000, statement)


def s001(statement: str) -> Evidence:
    """A statement quoted from seed 001."""
    return Evidence(SEED_001, statement)


def s002(statement: str) -> Evidence:
    """A statement quoted from seed 002."""
    return Evidence(SEED_002, statement)


def s003(statement: str) -> Evidence:
    """A statement quoted from seed 003."""
    return Evidence(SEED_003, statement)


# Statements used by more than one rule.
NSAID_FIRST_000 = s000("Nonsteroidal anti-inflammatory drugs (NSAIDs) are first-line treatment for pain "
                       "management in bone marrow edema")
NSAID_FIRST_001 = s001("NSAIDs as first-line analgesics for pain control")
NSAID_EFFECT_003 = s003("Nonsteroidal anti-inflammatory drugs are effective in reducing pain and alleviating "
                        "inflammation in bone marrow edema")
NSAID_AGENTS_002 = s002("Specific agents: Naproxen 375-1100 mg/day in two doses, Diclofenac 75-150 mg/day in "
                        "divided doses, Indomethacin 150 mg/day in divided doses, Celecoxib 200-400 mg/day")
NSAID_TRIAL_002 = s002("Trial NSAIDs/COXIBs at maximum tolerated dosage for 2-4 weeks as first-line "
                       "treatment")
PAMIDRONATE_002 = s002("Pamidronate 30 mg intravenously on 3 consecutive days, repeated every 3 months, is "
                       "preferred over zoledronate for superior pain reduction based on clinical experience")
PAMIDRONATE_ALT_002 = s002("Alternative dosing: Pamidronate 45-90 mg (or 1 mg/kg) intravenously every month "
                           "or every 3 months")
TNFI_ADD_002 = s002("Add TNF-α inhibitors if significant accumulated skeletal damage is present (existing "
                    "vertebral collapse, severe joint or vertebral ankylosis)")
TNFI_AGENTS_002 = s002("TNF-α inhibitor options: Infliximab 3-5 mg/kg IV at 0,2,6 weeks then every 6-8 "
                       "weeks, Etanercept 50 mg/week subcutaneously, Adalimumab 40 mg every 2 weeks "
                       "subcutaneously")
NO_CONSERVATIVE_002 = s002("Do not pursue conservative management if any of the following are present")
SHORT_NARCOTICS_000 = s000("For patients with severe pain, short-term narcotic medications may be necessary, "
                           "though they should be used with caution due to risks of sedation, nausea, and "
                           "increased fall risk")
SHORT_NARCOTICS_001 = s001("Short-term narcotics only when necessary due to risks of sedation, falls, and "
                           "deconditioning")
LIMIT_NARCOTICS_002 = s002("Limit narcotic use to avoid sedation, increased fall risk, respiratory "
                           "depression, and decreased physical conditioning in elderly patients")
GC_BRIDGE_002 = s002("Short courses of oral prednisolone or intra-articular glucocorticoid injections can "
                     "serve as bridging options while awaiting effect of other agents, but avoid long-term "
                     "glucocorticoid use")
GC_CAUSE_003 = s003("Medications with immunosuppressive effects, including glucocorticoids and Cyclosporin")
AUGMENT_3W_002 = s002("Consider vertebroplasty or kyphoplasty if persistent severe pain after 3 weeks of "
                      "conservative management despite appropriate analgesics")
AUGMENT_3M_000 = s000("For vertebral compression fractures with persistent pain after 3 months of "
                      "conservative treatment, vertebral augmentation (vertebroplasty or kyphoplasty) should "
                      "be considered")
AUGMENT_3M_001 = s001("Offer vertebroplasty or kyphoplasty after 3 months of persistent pain despite "
                      "conservative therapy")
AUGMENT_EARLY_001 = s001("Consider earlier intervention if severe pain requires parenteral narcotics or "
                         "hospitalization")
KYPHOPLASTY_CANCER_000 = s000("Balloon kyphoplasty is the treatment of choice for the reduction of pain due "
                              "to cancer-related vertebral fractures, with approximately 80% of patients "
                              "experiencing pain relief")
KYPHOPLASTY_CANCER_001 = s001("Balloon kyphoplasty provides pain relief in approximately 80% of "
                              "cancer-related vertebral fractures")
MRI_CONFIRM_000 = s000("Obtain MRI of the affected area to confirm bone marrow edema and identify potential "
                       "underlying causes")
TBMES_COURSE_001 = s001("Typically resolves spontaneously within 3-9 months")
HYPERBARIC_000 = s000("Hyperbaric oxygen therapy may be beneficial in cases with suspected vascular "
                      "compromise")
ILOPROST_ALTERNATIVE_001 = s001("Alternative options include iloprost, bisphosphonates, extracorporeal shock "
                                "wave therapy, or pulsed electromagnetic fields")
BED_REST_002 = s002("Never prescribe prolonged bed rest, as this worsens bone loss, muscle weakness, "
                    "deconditioning, increases DVT risk, and increases mortality")
BED_REST_001 = s001("avoid prolonged bed rest which causes deconditioning, bone loss, and increased "
                    "mortality")
IMMOBILISATION_001 = s001("Avoid prolonged immobilization in vertebral fractures, which worsens outcomes")
PHYSIO_002 = s002("Consider physiotherapy focusing on core strengthening and posture improvement once "
                  "neurologically stable")
MOBILISE_001 = s001("Early mobilization is critical")
