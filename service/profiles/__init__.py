"""Client profiles: adapt rendered CDS Hooks cards to what each EHR really renders (ehr-and-smart.md §0-§3).

One pure post-processing step after `cards.render`: `adapt(cards, profile, order_codes=...)` returns the card
dicts for the calling client's profile (`TrustedClient.profile`). One module per EHR: `generic` (generic and
sandbox), `epic`, `oracle`; adding an EHR means a module with an `adapt` and a line in `_ADAPTERS`.
No flask, no requests, no globals.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any
from typing import Final

from service.core.vocabulary import PROFILE_EPIC
from service.core.vocabulary import PROFILE_GENERIC
from service.core.vocabulary import PROFILE_ORACLE
from service.core.vocabulary import PROFILE_SANDBOX
from service.core.vocabulary import PROFILES
from service.profiles import epic
from service.profiles import generic
from service.profiles import oracle
from service.profiles.epic import EPIC_ORDERSET
from service.profiles.epic import EPIC_PREFERENCE_LIST
from service.profiles.epic import EPIC_RXNORM
from service.profiles.epic import OrderCodeMap
from service.profiles.epic import epic_request_extensions
from service.profiles.epic import epic_topic_code
from service.profiles.epic import load_order_codes
from service.profiles.oracle import ORACLE_MAX_DETAIL
from service.profiles.oracle import ORACLE_POINTER
from service.profiles.oracle import ORACLE_POINTER_APP
from service.profiles.oracle import shorten_detail
from service.profiles.oracle import truncate_markdown

Adapter = Callable[[Sequence[Mapping[str, Any]], OrderCodeMap | None], list[dict[str, Any]]]

_ADAPTERS: Final[Mapping[str, Adapter]] = MappingProxyType({
    PROFILE_GENERIC: generic.adapt,
    PROFILE_SANDBOX: generic.adapt,
    PROFILE_EPIC: epic.adapt,
    PROFILE_ORACLE: oracle.adapt,
})


def adapt(cards: Sequence[Mapping[str, Any]], profile: str, *,
          order_codes: OrderCodeMap | None = None) -> list[dict[str, Any]]:
    """The cards as this client profile should receive them (the input is not changed).

    :raises ValueError: an unknown profile (the trusted-clients loader accepts only PROFILES).
    """
    adapter = _ADAPTERS.get(profile)
    if adapter is None:
        raise ValueError(f"unknown client profile {profile!r}; expected one of {', '.join(PROFILES)}")
    return adapter(cards, order_codes)


__all__ = [
    "EPIC_ORDERSET", "EPIC_PREFERENCE_LIST", "EPIC_RXNORM", "ORACLE_MAX_DETAIL", "ORACLE_POINTER",
    "ORACLE_POINTER_APP", "OrderCodeMap", "adapt", "epic_request_extensions", "epic_topic_code",
    "load_order_codes", "shorten_detail", "truncate_markdown",
]
