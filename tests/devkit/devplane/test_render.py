"""Command lines, kubeconfigs and the state record of the local planes (pure functions)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from devkit.devplane.render import (
    ApiserverConfig,
    EtcdConfig,
    ProcessRecord,
    StateError,
    apiserver_args,
    check_plane_name,
    etcd_args,
    parse_state,
    render_kubeconfig,
    render_state,
)


def _flags(args: list[str]) -> dict[str, str]:
    return dict(arg[2:].split("=", 1) for arg in args[1:])


def _apiserver(name: str = "virtual", port: int = 6443) -> ApiserverConfig:
    pki = Path("/d/pki")
    return ApiserverConfig(
        name=name,
        binary=Path("/bin/kube-apiserver"),
        port=port,
        etcd_url="http://127.0.0.1:2379",
        cert_dir=Path("/d/certs") / name,
        ca_cert=pki / "ca.crt",
        serving_cert=pki / "serving.crt",
        serving_key=pki / "serving.key",
        service_account_public_key=pki / f"{name}-sa.pub",
        service_account_private_key=pki / f"{name}-sa.key",
    )


def test_etcd_listens_only_on_loopback_and_forms_a_single_member_cluster() -> None:
    args = etcd_args(EtcdConfig(Path("/bin/etcd"), Path("/d/data/etcd"), client_port=2379, peer_port=2380))
    flags = _flags(args)
    assert args[0] == "/bin/etcd"
    assert flags["listen-client-urls"] == "http://127.0.0.1:2379"
    assert flags["listen-peer-urls"] == "http://127.0.0.1:2380"
    assert flags["initial-cluster"] == f"{flags['name']}=http://127.0.0.1:2380"
    assert flags["data-dir"] == "/d/data/etcd"
    assert int(flags["quota-backend-bytes"]) == 1 << 30


def test_apiserver_flags_give_tls_client_cert_auth_rbac_and_service_accounts() -> None:
    config = _apiserver()
    flags = _flags(apiserver_args(config))
    assert flags["secure-port"] == "6443"
    assert flags["bind-address"] == flags["advertise-address"] == "127.0.0.1"
    assert flags["etcd-servers"] == "http://127.0.0.1:2379"
    assert flags["tls-cert-file"] == "/d/pki/serving.crt"
    assert flags["client-ca-file"] == "/d/pki/ca.crt"
    assert flags["authorization-mode"] == "RBAC"
    assert flags["service-account-key-file"] == "/d/pki/virtual-sa.pub"
    assert flags["service-account-signing-key-file"] == "/d/pki/virtual-sa.key"
    assert "ServiceAccount" in flags["disable-admission-plugins"].split(",")
    assert config.url == "https://127.0.0.1:6443"


def test_planes_sharing_an_etcd_get_distinct_prefixes_and_issuers() -> None:
    host, virtual = _flags(apiserver_args(_apiserver("host"))), _flags(apiserver_args(_apiserver("virtual")))
    assert host["etcd-prefix"] == "/host" and virtual["etcd-prefix"] == "/virtual"
    assert host["service-account-issuer"] != virtual["service-account-issuer"]


def test_kubeconfig_names_everything_after_the_plane_and_embeds_credentials() -> None:
    config = render_kubeconfig("host", "https://127.0.0.1:1234", b"CA", b"CERT", b"KEY")
    assert config["current-context"] == "host"
    (context,) = config["contexts"]
    assert context == {"name": "host", "context": {"cluster": "host", "user": "host"}}
    (cluster,) = config["clusters"]
    assert cluster["cluster"]["server"] == "https://127.0.0.1:1234"
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]) == b"CA"
    (user,) = config["users"]
    assert base64.b64decode(user["user"]["client-certificate-data"]) == b"CERT"
    assert base64.b64decode(user["user"]["client-key-data"]) == b"KEY"


@pytest.mark.parametrize("name", ["host", "virtual", "virtual2", "tenant-a", "a"])
def test_plane_names_accepted(name: str) -> None:
    assert check_plane_name(name) == name


@pytest.mark.parametrize("name", ["", "etcd", "Host", "-a", "a-", "a_b", "../x", "a" * 33])
def test_plane_names_rejected_with_reason(name: str) -> None:
    with pytest.raises(ValueError, match="invalid plane name"):
        check_plane_name(name)


def test_state_round_trips() -> None:
    records = [ProcessRecord("etcd", 10, 555, "http://127.0.0.1:1"), ProcessRecord("host", 11, 556, "https://x")]
    assert parse_state(render_state(records)) == records


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ([], "state file"),
        ({"version": 99, "processes": []}, "state file"),
        ({"version": 1, "processes": {}}, "'processes'"),
        ({"version": 1, "processes": ["x"]}, r"processes\[0\]"),
        ({"version": 1, "processes": [{"name": "", "pid": 1, "startTime": 1, "url": ""}]}, r"processes\[0\]\.name"),
        ({"version": 1, "processes": [{"name": "a", "pid": "1", "startTime": 1, "url": ""}]}, r"processes\[0\]\.pid"),
        ({"version": 1, "processes": [{"name": "a", "pid": True, "startTime": 1, "url": ""}]}, r"\.pid"),
        ({"version": 1, "processes": [{"name": "a", "pid": 1, "startTime": 0, "url": ""}]}, r"\.startTime"),
        ({"version": 1, "processes": [{"name": "a", "pid": 1, "startTime": 1}]}, r"\.url"),
    ],
)
def test_bad_state_is_reported_with_its_location(data: object, where: str) -> None:
    with pytest.raises(StateError, match=where):
        parse_state(data, "state file")
