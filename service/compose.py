"""The composition root: the pipeline's dependencies, built once from Settings.

The one place Deps is made: `create_app`, `bme-cds evaluate`, `tools/regenerate_golden.py` and the benchmarks
all call `build_deps`, so what the golden files and benchmarks exercise is what the service runs.
"""

from __future__ import annotations

from hooks import SERVICES
from service.cds import schemas
from service.cds.pipeline import CardRecorder
from service.cds.pipeline import Deps
from service.cds.registry import Registry
from service.config import Settings
from service.core.policy import Policy
from service.core.policy import load_policy
from service.core.valuesets import ValueSetIndex
from service.fhir.prefetch import FhirPool
from service.knowledge.compiled import compile_knowledge
from service.obs.observer import NULL_OBSERVER
from service.obs.observer import Observer
from service.profiles import load_order_codes


def build_deps(
    settings: Settings,
    *,
    pool: FhirPool | None = None,
    recorder: CardRecorder | None = None,
    observer: Observer = NULL_OBSERVER,
    policy: Policy | None = None,
) -> Deps:
    """Registry, value sets, policy, compiled knowledge and order codes; `pool` None keeps the pipeline offline.

    :raises ConfigError, PolicyError, ValueSetError: a broken file stops start-up here, not at the first call.
    """
    schemas.preload()
    policy = policy if policy is not None else load_policy(settings.policy_file)  # replay's what-if passes one
    return Deps(
        settings=settings,
        registry=Registry(SERVICES),
        valuesets=ValueSetIndex.load(settings.valuesets_dir),
        policy=policy,
        knowledge=compile_knowledge(policy),
        pool=pool,
        recorder=recorder,
        observer=observer,
        order_codes=load_order_codes(settings.order_codes_file) if settings.order_codes_file else None,
    )
