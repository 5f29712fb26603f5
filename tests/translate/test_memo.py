"""Per-config caches: one config never reads another's answers, however configs are created and collected."""

from __future__ import annotations

import dataclasses
import gc

from crdsync.gvk import GroupVersionKind
from crdsync.spec.model import Direction, Naming, Reference, Rule, SyncConfig, SyncMode
from crdsync.translate.memo import config_cache
from crdsync.translate.names import Tenant, host_name
from crdsync.translate.objects import to_host

WIDGET = GroupVersionKind("example.com", "v1", "Widget")
SECRET = GroupVersionKind("", "v1", "Secret")
TENANT = Tenant("vc1", "host-ns")
RULE = Rule(Direction.TO_HOST, WIDGET, references=(Reference("$.spec.secretName", "Secret", "v1"),))
WIDGET_OBJ = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "apps"}}


def config(shared: bool) -> SyncConfig:
    """Secrets shared by name (identity: the name crosses as written) or exported (tenant naming)."""
    secrets = Rule(Direction.FROM_HOST, SECRET) if shared else Rule(Direction.TO_HOST, SECRET, mode=SyncMode.REFERENCED)
    return SyncConfig("t", (RULE, secrets))


def written(cfg: SyncConfig) -> str:
    obj = {**WIDGET_OBJ, "spec": {"secretName": "tls"}}
    value = to_host(cfg, RULE, obj, TENANT)["spec"]["secretName"]
    assert isinstance(value, str)
    return value


def test_configs_created_and_collected_in_turn_never_share_answers() -> None:
    # Ids of collected configs are reused by new ones: a cache keyed by id(config) would hand one the other's target.
    hashed = host_name(TENANT, "apps", "tls", Naming())
    for i in range(40):
        shared = i % 2 == 0
        assert written(config(shared)) == ("tls" if shared else hashed)
        gc.collect()


def test_a_replaced_config_starts_empty_and_the_cache_is_not_a_field() -> None:
    cfg = config(shared=True)
    assert written(cfg) == "tls"
    assert config_cache(cfg, "reference_targets")  # the answer is kept on the config
    changed = dataclasses.replace(cfg, rules=config(shared=False).rules)
    assert config_cache(changed, "reference_targets") == {}
    assert written(changed) != "tls"
    assert cfg == config(shared=True) and hash(cfg) == hash(config(shared=True))  # equality ignores the cache
    assert "_crdsync" not in repr(cfg)
