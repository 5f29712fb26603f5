"""Loading kubeconfigs: the token is sent, failures name the file and context."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from crdsync.kube import errors
from crdsync.kube.client import KubeClient

from .stub import Reply, StubServer


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
