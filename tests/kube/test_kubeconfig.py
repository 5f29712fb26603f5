"""Loading kubeconfigs: the token is sent, failures name the file and context; static credentials are read without
the kubernetes package, everything else by the official loader."""

from __future__ import annotations

import base64
import json
import os
import re
import ssl
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from crdsync.kube import errors
from crdsync.kube import kubeconfig as kubeconfig_module
from crdsync.kube.client import KubeClient
from crdsync.kube.credentials import StaticCredentials

from .stub import Reply, StubServer

REPO = Path(__file__).resolve().parents[2]


def test_from_kubeconfig_sends_token(stub: StubServer, tmp_path: Path) -> None:
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "main",
        "clusters": [{"name": "c", "cluster": {"server": stub.url}}],
        "users": [{"name": "u", "user": {"token": "sekret"}}],
        "contexts": [{"name": "main", "context": {"cluster": "c", "user": "u"}},
                     {"name": "other", "context": {"cluster": "c", "user": "u", "namespace": "x"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    stub.route("GET", "/version", Reply(body={"gitVersion": "v9"}))
    client = KubeClient.from_kubeconfig(str(path), "other", field_manager="me")
    assert client.server_version()["gitVersion"] == "v9"
    assert stub.requests[-1].headers["authorization"] == "Bearer sekret"
    assert client.field_manager == "me" and client.host == stub.url


def test_from_kubeconfig_errors_are_located(tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigError, match="does not exist"):
        KubeClient.from_kubeconfig(str(tmp_path / "nope"))
    bad = tmp_path / "bad"
    bad.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    with pytest.raises(errors.ConfigError, match=re.escape(str(bad))):
        KubeClient.from_kubeconfig(str(bad), "missing")


# -- static credentials: read without the kubernetes package, the official loader for anything else ----------------


def kubeconfig(tmp_path: Path, cluster: dict[str, Any], user: dict[str, Any], name: str = "kubeconfig") -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "main",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "main", "context": {"cluster": "c", "user": "u"}}],
    }
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return path


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_static_credentials_hold_what_the_kubeconfig_says_and_never_import_the_kubernetes_package(
    tmp_path: Path,
) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text("CA")
    (tmp_path / "certs" / "client.pem").write_text("CERT")
    user = {"client-certificate": "certs/client.pem", "client-key-data": b64("KEY"), "token": "t"}
    cluster = {"server": "https://10.0.0.1:6443", "certificate-authority": "certs/ca.pem", "tls-server-name": "api"}
    code = (
        "import sys, json\n"
        "from crdsync.kube import kubeconfig\n"
        f"c = kubeconfig.load({str(kubeconfig(tmp_path, cluster, user))!r})\n"
        "print(json.dumps([type(c).__name__, 'kubernetes' in sys.modules, c.host, c.ca_file, c.cert_file, c.key_file,"
        " c.tls_server_name, c.verify, c.auth_settings()]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    kind, imported, host, ca, cert, key, server_name, verify, auth = json.loads(done.stdout)
    assert (kind, imported, host) == ("StaticCredentials", False, "https://10.0.0.1:6443")
    assert ca == str(tmp_path / "certs" / "ca.pem") and cert == str(tmp_path / "certs" / "client.pem")  # relative
    assert server_name == "api" and verify is True
    assert auth == {"BearerToken": {"in": "header", "key": "authorization", "value": "Bearer t"}}
    assert not Path(key).exists()  # inline key material was written to a private file, removed at exit


def test_inline_key_material_goes_to_files_only_this_user_can_read(tmp_path: Path) -> None:
    user = {"client-certificate-data": b64("CERT"), "client-key-data": b64("KEY")}
    cluster = {"server": "https://h", "certificate-authority-data": b64("CA"), "insecure-skip-tls-verify": True}
    creds = kubeconfig_module.load(str(kubeconfig(tmp_path, cluster, user)))
    assert isinstance(creds, StaticCredentials)
    assert creds.ca_data == "CA" and creds.ca_file is None and creds.verify is False
    for path, content in ((creds.cert_file, "CERT"), (creds.key_file, "KEY")):
        assert path is not None and Path(path).read_text() == content
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(Path(path).parent).st_mode) == 0o700
    assert creds.auth_settings() == {}
    pool = creds.pool_manager()
    assert pool.connection_pool_kw["cert_reqs"] == ssl.CERT_NONE and pool.connection_pool_kw["ca_cert_data"] == "CA"


def test_a_token_file_is_read_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("one\n")
    creds = kubeconfig_module.load(str(kubeconfig(tmp_path, {"server": "https://h"}, {"tokenFile": "token"})))
    assert isinstance(creds, StaticCredentials)
    assert creds.auth_settings()["BearerToken"]["value"] == "Bearer one"


@pytest.mark.parametrize(
    "user",
    [
        {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "true"}},
        {"auth-provider": {"name": "oidc"}},
        {"username": "a", "password": "b"},
        {"as": "someone"},
        {"token": "a", "tokenFile": "b"},
        {"client-certificate-data": "Q0VSVA=="},  # a certificate without its key
        {"client-certificate": "a", "client-certificate-data": "Q0VSVA==", "client-key": "k"},
    ],
    ids=["exec", "auth-provider", "basic", "impersonation", "token-and-file", "cert-without-key", "cert-twice"],
)
def test_anything_beyond_static_credentials_is_left_to_the_official_loader(
    tmp_path: Path, user: dict[str, Any]
) -> None:
    assert kubeconfig_module.static_credentials(kubeconfig(tmp_path, {"server": "https://h"}, user), None) is None
    proxied = kubeconfig(tmp_path, {"server": "https://h", "proxy-url": "http://p"}, {}, "proxied")
    assert kubeconfig_module.static_credentials(proxied, None) is None


def test_an_exec_plugin_still_works_through_the_official_loader(stub: StubServer, tmp_path: Path) -> None:
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        "import json\nprint(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', 'kind': 'ExecCredential',"
        " 'status': {'token': 'from-plugin'}}))\n"
    )
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable, "args": [str(plugin)],
                     "interactiveMode": "Never"}}  # fmt: skip
    stub.route("GET", "/version", Reply(body={"gitVersion": "v9"}))
    client = KubeClient.from_kubeconfig(str(kubeconfig(tmp_path, {"server": stub.url}, user)))
    assert type(client.transport._configuration).__name__ == "Configuration"
    assert client.server_version()["gitVersion"] == "v9"
    assert stub.requests[-1].headers["authorization"] == "Bearer from-plugin"


@pytest.mark.parametrize(
    ("cluster", "user", "message"),
    [
        ({}, {}, "cluster 'c' has no server"),
        ({"server": "https://h", "certificate-authority-data": "not base64!"}, {}, "certificate-authority-data is not"),
        ({"server": "https://h", "certificate-authority": "missing.pem"}, {}, "missing.pem does not exist"),
        ({"server": "https://h"}, {"tokenFile": "missing-token"}, "missing-token"),
        ({"server": "https://h", "insecure-skip-tls-verify": "false"}, {}, "must be true or false, not 'false'"),
        ({"server": "https://h", "tls-server-name": 5}, {}, "tls-server-name must be a string"),
        ({"server": "https://h"}, {"token": 12345}, "token must be a string"),
    ],
)
def test_a_broken_static_kubeconfig_is_a_located_error(
    tmp_path: Path, cluster: dict[str, Any], user: dict[str, Any], message: str
) -> None:
    path = kubeconfig(tmp_path, cluster, user)
    with pytest.raises(errors.ConfigError, match=re.escape(str(path))) as info:
        KubeClient.from_kubeconfig(str(path))
    assert message in str(info.value)


def test_not_yaml_and_no_context_are_located_errors(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.write_text("{{{{")
    with pytest.raises(errors.ConfigError, match="not YAML"):
        KubeClient.from_kubeconfig(str(garbage))
    nameless = tmp_path / "nameless"
    nameless.write_text("apiVersion: v1\nkind: Config\n")
    with pytest.raises(errors.ConfigError, match="no context given and no current-context"):
        KubeClient.from_kubeconfig(str(nameless))


def test_without_any_kubeconfig_outside_a_pod_the_error_says_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(errors.ConfigError, match=re.escape("~/.kube/config missing and not running in a pod")):
        KubeClient.from_kubeconfig(None)
