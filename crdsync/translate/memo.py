"""Per-config caches: answers that depend only on a SyncConfig (and small hashable keys), kept on the config itself.

Translations run for every event and some of their inputs only depend on the rules (which rule a reference names, a
fingerprint of the rules); recomputing them per object shows in the engine's throughput. The cache lives in the
config object's own instance dict, as functools.cached_property keeps its values on frozen dataclasses: it is created
with the config and collected with it, so one config can never read another's answers. A module dict keyed by
id(config) could (ids are reused once a config is collected), and keying by the config's value costs more than the
answers save (hashing a frozen config walks every rule: ~20 µs, against ~3 µs for the scan a target lookup is).
`dataclasses.replace` builds a new config with an empty cache, as it must (its rules may differ). The cache is not a
field: equality, hashing and repr of the config are unchanged.

Thread safety: entries are only added, with dict.setdefault; two threads computing the same entry at once both get
a correct (equal) answer.
"""

from __future__ import annotations

from typing import Any

from crdsync.spec.model import SyncConfig

_PREFIX = "_crdsync_translate_"


def config_cache(config: SyncConfig, name: str) -> dict[Any, Any]:
    """The cache called `name` of `config` (one per caller module), created empty on first use."""
    slot = _PREFIX + name
    store = vars(config)  # the config's instance dict; frozen dataclasses only guard __setattr__
    cache = store.get(slot)
    if cache is None:
        cache = store.setdefault(slot, {})
    return cache  # type: ignore[no-any-return]
