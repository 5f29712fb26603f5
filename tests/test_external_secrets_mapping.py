"""Golden `crdsync plan` runs of mappings/external-secrets.yaml on realistic tenant objects (upstream's documented
examples, rewritten for a tenant): what the host receives and what follows, field by field.

Each test pins one decision of the mapping's header: names translated by the tenant rule, the target Secret imported
under target.name or the ExternalSecret's name, ClusterSecretStores kept by name, per-item store references judged by
their own kind, provider credentials exported, host identities and generators removed, no forged bookkeeping.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from crdsync.cli import main
from crdsync.gvk import GroupVersionKind
from crdsync.spec.load import load_files
from crdsync.spec.model import Direction, Naming
from crdsync.translate.names import Tenant, host_name
from crdsync.translate.objects import shared_references

MAPPING = Path(__file__).resolve().parent.parent / "mappings" / "external-secrets.yaml"
HOST_NS, VCLUSTER = "vc-a", "t1"
TENANT = Tenant(VCLUSTER, HOST_NS)
FORGED = {
    "crdsync.io/managed-by": "crdsync",
    "crdsync.io/vcluster": "victim",
    "crdsync.io/role": "follower",
    "crdsync.io/source-side": "host",
    "crdsync.io/source-name": "decoy",
}


def hn(namespace: str, name: str) -> str:
    return host_name(TENANT, namespace, name, Naming())


def plan(capsys: pytest.CaptureFixture[str], *objects: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Run `crdsync plan -o json` on `objects` (given on stdin); the output items by (kind, name)."""
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump_all(list(objects), stream)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", io.StringIO(stream.getvalue()))
        code = main(
            [
                *("plan", "--mapping", str(MAPPING), "--host-namespace", HOST_NS, "--vcluster", VCLUSTER),
                *("-f", "-", "-o", "json"),
            ]
        )
    out, err = capsys.readouterr()
    assert code == 0, out + err
    items = json.loads(out)["items"]
    return {(item["kind"], item["metadata"]["name"]): item for item in items}


def bare(obj: dict[str, Any]) -> dict[str, Any]:
    """apiVersion, kind, spec and the namespace/name: what the golden comparisons look at."""
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {"name": obj["metadata"]["name"], "namespace": obj["metadata"].get("namespace")},
        **({"spec": obj["spec"]} if "spec" in obj else {}),
    }


# -- ExternalSecret ---------------------------------------------------------------------------------------------------


def test_external_secret_against_a_shared_cluster_store_keeps_the_store_and_imports_target_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    es = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"name": "vault-backend", "kind": "ClusterSecretStore"},
            "target": {"name": "db-credentials", "creationPolicy": "Owner"},
            "data": [{"secretKey": "password", "remoteRef": {"key": "shop/db", "property": "password"}}],
        },
    }
    out = plan(capsys, es)
    assert bare(out[("ExternalSecret", hn("shop", "db"))]) == {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": hn("shop", "db"), "namespace": HOST_NS},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"name": "vault-backend", "kind": "ClusterSecretStore"},
            # An empty template: external-secrets must not copy the copy's bookkeeping onto the Secret.
            "target": {
                "name": hn("shop", "db-credentials"),
                "creationPolicy": "Owner",
                "template": {"engineVersion": "v2"},
            },
            "data": [{"secretKey": "password", "remoteRef": {"key": "shop/db", "property": "password"}}],
        },
    }
    imported = out[("Secret", "db-credentials")]
    assert imported["metadata"]["namespace"] == "shop"
    assert imported["metadata"]["annotations"]["crdsync.io/source-name"] == hn("shop", "db-credentials")
    # The ClusterSecretStore crosses by name only once the engine finds it shared on the host.
    config = load_files([MAPPING]).config
    assert config is not None
    rule = config.rule_for(Direction.TO_HOST, GroupVersionKind("external-secrets.io", "v1", "ExternalSecret"))
    assert rule is not None
    assert [(s.name, s.gvk.kind) for s in shared_references(config, rule, es)] == [
        ("vault-backend", "ClusterSecretStore")
    ]


def test_without_target_name_the_secret_is_imported_under_the_external_secret_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    es = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "api-key", "namespace": "shop"},
        "spec": {
            "secretStoreRef": {"name": "team-store"},
            "dataFrom": [{"extract": {"key": "shop/api"}}],
        },
    }
    out = plan(capsys, es)
    host = out[("ExternalSecret", hn("shop", "api-key"))]
    # external-secrets names the Secret after the host ExternalSecret: the host name of a Secret "api-key".
    assert "name" not in host["spec"].get("target", {})
    assert host["spec"]["secretStoreRef"] == {"name": hn("shop", "team-store")}
    imported = out[("Secret", "api-key")]
    assert imported["metadata"]["annotations"]["crdsync.io/source-name"] == hn("shop", "api-key")


def test_per_item_store_refs_follow_their_own_kind_and_generators_are_removed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    es = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "mixed", "namespace": "shop"},
        "spec": {
            "secretStoreRef": {"name": "team-store", "kind": "SecretStore"},
            "target": {
                "name": "mixed",
                "template": {
                    "metadata": {"labels": {"app": "shop", **FORGED}, "annotations": dict(FORGED)},
                    "templateFrom": [{"configMap": {"name": "tmpl", "items": [{"key": "config.yaml"}]}}],
                },
            },
            "data": [
                {"secretKey": "a", "remoteRef": {"key": "a"}, "sourceRef": {"storeRef": {"name": "other-store"}}},
                {
                    "secretKey": "b",
                    "remoteRef": {"key": "b"},
                    "sourceRef": {"storeRef": {"name": "vault-backend", "kind": "ClusterSecretStore"}},
                },
            ],
            "dataFrom": [
                {
                    "sourceRef": {
                        "generatorRef": {
                            "apiVersion": "generators.external-secrets.io/v1alpha1",
                            "kind": "ClusterGenerator",
                            "name": "host-ecr",
                        }
                    }
                }
            ],
        },
    }
    out = plan(capsys, es)
    spec = out[("ExternalSecret", hn("shop", "mixed"))]["spec"]
    assert spec["data"][0]["sourceRef"] == {"storeRef": {"name": hn("shop", "other-store")}}
    assert spec["data"][1]["sourceRef"] == {"storeRef": {"name": "vault-backend", "kind": "ClusterSecretStore"}}
    assert spec["dataFrom"] == [{"sourceRef": {}}]
    assert spec["target"]["template"]["metadata"] == {"labels": {"app": "shop"}, "annotations": {}}
    assert spec["target"]["template"]["templateFrom"][0]["configMap"]["name"] == hn("shop", "tmpl")
    assert ("ConfigMap", hn("shop", "tmpl")) in out  # exported while named


# -- SecretStore ------------------------------------------------------------------------------------------------------


def test_fake_store_crosses_whole(capsys: pytest.CaptureFixture[str]) -> None:
    store = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "SecretStore",
        "metadata": {"name": "fake", "namespace": "shop"},
        "spec": {"provider": {"fake": {"data": [{"key": "/db/password", "value": "s3cr3t", "version": "v1"}]}}},
    }
    out = plan(capsys, store)
    assert bare(out[("SecretStore", hn("shop", "fake"))]) == {
        "apiVersion": "external-secrets.io/v1",
        "kind": "SecretStore",
        "metadata": {"name": hn("shop", "fake"), "namespace": HOST_NS},
        "spec": store["spec"],
    }


def test_vault_store_exports_its_credentials_and_loses_host_service_accounts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "SecretStore",
        "metadata": {"name": "vault", "namespace": "shop"},
        "spec": {
            "provider": {
                "vault": {
                    "server": "https://vault.example.test:8200",
                    "path": "secret",
                    "version": "v2",
                    "caProvider": {"type": "ConfigMap", "name": "vault-ca", "key": "ca.crt"},
                    "auth": {
                        "tokenSecretRef": {"name": "vault-token", "key": "token", "namespace": "shop"},
                        "kubernetes": {
                            "mountPath": "kubernetes",
                            "role": "shop",
                            "serviceAccountRef": {"name": "external-secrets"},
                        },
                    },
                }
            }
        },
    }
    out = plan(capsys, store)
    vault = out[("SecretStore", hn("shop", "vault"))]["spec"]["provider"]["vault"]
    assert vault["auth"] == {
        "tokenSecretRef": {"name": hn("shop", "vault-token"), "key": "token", "namespace": HOST_NS},
        "kubernetes": {"mountPath": "kubernetes", "role": "shop"},
    }
    assert vault["caProvider"] == {"type": "ConfigMap", "name": hn("shop", "vault-ca"), "key": "ca.crt"}
    assert ("Secret", hn("shop", "vault-token")) in out
    assert ("ConfigMap", hn("shop", "vault-ca")) in out


@pytest.mark.parametrize(
    "provider",
    [
        {"aws": {"service": "SecretsManager", "region": "eu-west-1"}},
        {"gcpsm": {"projectID": "p"}},
        {"azurekv": {"vaultUrl": "https://v.vault.azure.net", "authType": "WorkloadIdentity"}},
        {"oracle": {"vault": "ocid1.vault", "region": "eu-frankfurt-1"}},
    ],
    ids=lambda p: next(iter(p)),
)
def test_ambient_cloud_identity_stores_reach_the_host_without_a_provider(
    provider: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    store = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "SecretStore",
        "metadata": {"name": "ambient", "namespace": "shop"},
        "spec": {"provider": provider},
    }
    out = plan(capsys, store)
    assert out[("SecretStore", hn("shop", "ambient"))]["spec"]["provider"] == {}


def test_aws_store_with_static_keys_keeps_them(capsys: pytest.CaptureFixture[str]) -> None:
    auth = {
        "secretRef": {
            "accessKeyIDSecretRef": {"name": "aws", "key": "id"},
            "secretAccessKeySecretRef": {"name": "aws", "key": "secret"},
        },
        "jwt": {"serviceAccountRef": {"name": "irsa"}},
    }
    store = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "SecretStore",
        "metadata": {"name": "aws", "namespace": "shop"},
        "spec": {"provider": {"aws": {"service": "SecretsManager", "region": "eu-west-1", "auth": auth}}},
    }
    out = plan(capsys, store)
    host_auth = out[("SecretStore", hn("shop", "aws"))]["spec"]["provider"]["aws"]["auth"]
    assert host_auth == {
        "secretRef": {
            # No namespace written, none added: a namespaced store reads its own (host) namespace.
            "accessKeyIDSecretRef": {"name": hn("shop", "aws"), "key": "id"},
            "secretAccessKeySecretRef": {"name": hn("shop", "aws"), "key": "secret"},
        }
    }


# -- PushSecret -------------------------------------------------------------------------------------------------------


def test_push_secret_exports_its_secret_and_names_stores_explicitly(capsys: pytest.CaptureFixture[str]) -> None:
    push = {
        "apiVersion": "external-secrets.io/v1alpha1",
        "kind": "PushSecret",
        "metadata": {"name": "push-db", "namespace": "shop"},
        "spec": {
            "refreshInterval": "10s",
            "secretStoreRefs": [
                {"name": "team-store", "kind": "SecretStore"},
                {"name": "vault-backend", "kind": "ClusterSecretStore"},
                {"kind": "ClusterSecretStore", "labelSelector": {"matchLabels": {"env": "prod"}}},
            ],
            "selector": {"secret": {"name": "db"}},
            "data": [{"match": {"secretKey": "password", "remoteRef": {"remoteKey": "shop/db"}}}],
        },
    }
    out = plan(capsys, push)
    spec = out[("PushSecret", hn("shop", "push-db"))]["spec"]
    assert spec["secretStoreRefs"] == [
        {"name": hn("shop", "team-store"), "kind": "SecretStore"},
        {"name": "vault-backend", "kind": "ClusterSecretStore"},
        {"kind": "ClusterSecretStore"},
    ]
    assert spec["selector"] == {"secret": {"name": hn("shop", "db")}}
    assert ("Secret", hn("shop", "db")) in out


# -- ClusterSecretStore (from the host) and cluster-scoped tenant kinds ------------------------------------------------


def test_shared_cluster_store_is_imported_read_only_and_cluster_kinds_never_leave_the_tenant() -> None:
    config = load_files([MAPPING]).config
    assert config is not None
    css = GroupVersionKind("external-secrets.io", "v1", "ClusterSecretStore")
    imported = config.rule_for(Direction.FROM_HOST, css)
    assert imported is not None and imported.read_only
    assert config.rule_for(Direction.TO_HOST, css) is None
    for kind in ("ClusterExternalSecret", "ClusterPushSecret"):
        for version in ("v1", "v1alpha1"):
            gvk = GroupVersionKind("external-secrets.io", version, kind)
            assert config.rule_for(Direction.TO_HOST, gvk) is None
