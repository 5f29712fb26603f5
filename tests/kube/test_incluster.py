"""The in-cluster client: built from a fake service-account directory, and following a token the kubelet rotates."""

from __future__ import annotations

from pathlib import Path

import pytest

from crdsync.kube import incluster
from crdsync.kube.errors import ConfigError

ENV = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sa_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "serviceaccount"
    directory.mkdir()
    (directory / "token").write_text("token-1\n")
    (directory / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (directory / "namespace").write_text("vc-team-a")
    return directory


def test_client_from_the_service_account(sa_dir: Path) -> None:
    kube = incluster.client(sa_dir=sa_dir, env=ENV, field_manager="fm", pool_maxsize=4)
    assert kube.host == "https://10.96.0.1:443"
    assert kube.field_manager == "fm"
    assert kube.transport.headers(None)["authorization"] == "Bearer token-1"
    assert incluster.namespace(sa_dir) == "vc-team-a"


def test_ipv6_service_address(sa_dir: Path) -> None:
    kube = incluster.client(sa_dir=sa_dir, env={**ENV, "KUBERNETES_SERVICE_HOST": "fd00::1"})
    assert kube.host == "https://[fd00::1]:443"


def test_a_rotated_token_is_picked_up(sa_dir: Path) -> None:
    clock = Clock()
    kube = incluster.client(sa_dir=sa_dir, env=ENV, refresh_seconds=60, clock=clock)
    # The kubelet swaps the file atomically (a symlinked directory); writing it in place is the same for a reader.
    (sa_dir / "token").write_text("token-2\n")
    clock.now += 30
    assert kube.transport.headers(None)["authorization"] == "Bearer token-1"  # not re-read on every request
    clock.now += 30
    assert kube.transport.headers(None)["authorization"] == "Bearer token-2"


def test_an_unreadable_token_mid_rotation_keeps_the_previous_one(sa_dir: Path) -> None:
    clock = Clock()
    kube = incluster.client(sa_dir=sa_dir, env=ENV, refresh_seconds=60, clock=clock)
    (sa_dir / "token").unlink()
    clock.now += 61
    assert kube.transport.headers(None)["authorization"] == "Bearer token-1"
    (sa_dir / "token").write_text("token-3")
    clock.now += 61
    assert kube.transport.headers(None)["authorization"] == "Bearer token-3"


@pytest.mark.parametrize(
    ("remove", "env", "message"),
    [
        (None, {}, "$KUBERNETES_SERVICE_HOST is not set"),
        (None, {"KUBERNETES_SERVICE_HOST": "10.96.0.1"}, "$KUBERNETES_SERVICE_PORT is not set"),
        ("token", ENV, "token is missing or unreadable"),
        ("ca.crt", ENV, "ca.crt is missing or unreadable"),
    ],
)
def test_not_in_a_pod(sa_dir: Path, remove: str | None, env: dict[str, str], message: str) -> None:
    if remove:
        (sa_dir / remove).unlink()
    assert message in incluster.missing(sa_dir, env)
    with pytest.raises(ConfigError, match="not running in a pod") as caught:
        incluster.client(sa_dir=sa_dir, env=env)
    assert message in str(caught.value)


def test_empty_token_file(sa_dir: Path) -> None:
    (sa_dir / "token").write_text("\n")
    with pytest.raises(ConfigError, match="token file is empty"):
        incluster.client(sa_dir=sa_dir, env=ENV)


def test_namespace_outside_a_pod(tmp_path: Path) -> None:
    assert incluster.namespace(tmp_path) is None
    (tmp_path / "namespace").write_text("  \n")
    assert incluster.namespace(tmp_path) is None
