"""`crdsync run` settings: flags, CRDSYNC_* environment variables, in-cluster defaults, precedence and errors.

Nothing here starts the engine: resolution and client construction are checked up to the point where the clusters
would be contacted.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from crdsync import cli
from crdsync.commands import run as run_cmd
from crdsync.commands.run import connect
from crdsync.commands.run_settings import Settings, SettingsError, env_name, resolve_settings
from crdsync.kube import incluster

MAPPING = str(Path(__file__).resolve().parents[2] / "mappings" / "cert-manager.yaml")
POD_ENV = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}


def parse(*argv: str) -> argparse.Namespace:
    return cli.build_parser(["run", *argv]).parse_args(["run", *argv])


@pytest.fixture
def sa_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "sa"
    directory.mkdir()
    (directory / "token").write_text("tok")
    (directory / "ca.crt").write_text("ca")
    (directory / "namespace").write_text("vc-from-pod")
    return directory


@pytest.fixture
def virtual_kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "virtual.kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: v\n"
        "clusters: [{name: v, cluster: {server: 'https://127.0.0.1:6443', insecure-skip-tls-verify: true}}]\n"
        "users: [{name: v, user: {token: vtok}}]\n"
        "contexts: [{name: v, context: {cluster: v, user: v}}]\n"
    )
    return path


def test_env_names() -> None:
    assert env_name("host_namespace") == "CRDSYNC_HOST_NAMESPACE"
    assert env_name("leader_elect") == "CRDSYNC_LEADER_ELECT"


def test_everything_from_the_environment(sa_dir: Path) -> None:
    env = {
        "CRDSYNC_MAPPING": "a.yaml,b.yaml:c.yaml",
        "CRDSYNC_HOST_KUBECONFIG": "/h",
        "CRDSYNC_HOST_CONTEXT": "hc",
        "CRDSYNC_VIRTUAL_KUBECONFIG": "/v",
        "CRDSYNC_VIRTUAL_CONTEXT": "vc",
        "CRDSYNC_HOST_NAMESPACE": "vc-team-a",
        "CRDSYNC_VCLUSTER": "team-a",
        "CRDSYNC_WORKERS": "4",
        "CRDSYNC_FIELD_MANAGER": "fm",
        "CRDSYNC_LEADER_ELECT": "true",
    }
    assert resolve_settings(parse(), env, sa_dir) == Settings(
        mapping=("a.yaml", "b.yaml", "c.yaml"),
        host_kubeconfig="/h",
        host_context="hc",
        virtual_kubeconfig="/v",
        virtual_context="vc",
        host_namespace="vc-team-a",
        vcluster="team-a",
        workers=4,
        field_manager="fm",
        leader_elect=True,
    )


def test_in_cluster_defaults(sa_dir: Path) -> None:
    env = {"CRDSYNC_MAPPING": MAPPING, "CRDSYNC_VIRTUAL_KUBECONFIG": "/v", "CRDSYNC_VCLUSTER": "team-a"}
    settings = resolve_settings(parse(), env, sa_dir)
    assert settings.host_kubeconfig is None  # in-cluster
    assert settings.host_namespace == "vc-from-pod"  # the service account's namespace
    assert (settings.workers, settings.field_manager, settings.leader_elect) == (32, "crdsync", False)


def test_command_line_wins(sa_dir: Path) -> None:
    env = {
        "CRDSYNC_MAPPING": "env.yaml",
        "CRDSYNC_VIRTUAL_KUBECONFIG": "/env",
        "CRDSYNC_HOST_NAMESPACE": "env-ns",
        "CRDSYNC_VCLUSTER": "env-vc",
        "CRDSYNC_WORKERS": "4",
        "CRDSYNC_LEADER_ELECT": "true",
    }
    args = parse(
        "--mapping", "cli1.yaml", "--mapping", "cli2.yaml", "--virtual-kubeconfig", "/cli", "--host-namespace",
        "cli-ns", "--vcluster", "cli-vc", "--workers", "8", "--no-leader-elect",
    )  # fmt: skip
    settings = resolve_settings(args, env, sa_dir)
    assert settings.mapping == ("cli1.yaml", "cli2.yaml")
    assert (settings.virtual_kubeconfig, settings.host_namespace, settings.vcluster) == ("/cli", "cli-ns", "cli-vc")
    assert (settings.workers, settings.leader_elect) == (8, False)
    # The environment's host namespace beats the pod's namespace file.
    assert resolve_settings(parse(), env, sa_dir).host_namespace == "env-ns"
    assert resolve_settings(parse("--leader-elect"), {**env, "CRDSYNC_LEADER_ELECT": "false"}, sa_dir).leader_elect


def test_empty_variables_count_as_unset(sa_dir: Path) -> None:
    env = {
        "CRDSYNC_MAPPING": MAPPING,
        "CRDSYNC_VIRTUAL_KUBECONFIG": "/v",
        "CRDSYNC_VCLUSTER": "t",
        "CRDSYNC_HOST_NAMESPACE": "",
        "CRDSYNC_LEADER_ELECT": "",
    }
    settings = resolve_settings(parse(), env, sa_dir)
    assert (settings.host_namespace, settings.leader_elect) == ("vc-from-pod", False)


V = {"CRDSYNC_VIRTUAL_KUBECONFIG": "/v"}


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        ((), V, "--mapping (or CRDSYNC_MAPPING) is required"),
        ((), {**V, "CRDSYNC_MAPPING": " , "}, "--mapping (or CRDSYNC_MAPPING) is required"),
        (("--mapping", "m"), V, "--vcluster (or CRDSYNC_VCLUSTER) is required"),
        (("--mapping", "m", "--vcluster", "t"), {}, "--virtual-kubeconfig (or CRDSYNC_VIRTUAL_KUBECONFIG) is required"),
        (("--mapping", "m", "--vcluster", "T_1"), V, "--vcluster 'T_1' must be a DNS-1123 label"),
        (("--mapping", "m", "--vcluster", "t", "--workers", "x"), V, "--workers (or CRDSYNC_WORKERS) 'x' is not"),
        (("--mapping", "m", "--vcluster", "t"), {**V, "CRDSYNC_WORKERS": "0"}, "--workers must be at least 1"),
        (("--mapping", "m", "--vcluster", "t"), {**V, "CRDSYNC_LEADER_ELECT": "maybe"}, "expected true or false"),
    ],
)
def test_setting_errors(argv: tuple[str, ...], env: dict[str, str], message: str, sa_dir: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        resolve_settings(parse(*argv), env, sa_dir)
    assert message in str(caught.value)


def test_host_namespace_required_outside_a_pod(tmp_path: Path, sa_dir: Path) -> None:
    args = parse("--mapping", "m", "--vcluster", "t", "--virtual-kubeconfig", "/v")
    with pytest.raises(SettingsError, match=r"--host-namespace .* is required outside a pod"):
        resolve_settings(args, {}, tmp_path / "no-sa")
    # With a host kubeconfig the pod's own namespace is no default: the host may be another cluster.
    with pytest.raises(SettingsError, match="--host-namespace"):
        resolve_settings(parse("--mapping", "m", "--vcluster", "t", "--host-kubeconfig", "/h"), V, sa_dir)


def test_connect_in_cluster(sa_dir: Path, virtual_kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in POD_ENV.items():
        monkeypatch.setenv(key, value)
    args = parse("--mapping", MAPPING, "--vcluster", "t", "--virtual-kubeconfig", str(virtual_kubeconfig))
    settings = resolve_settings(args, {}, sa_dir)
    host, virtual = connect(settings, sa_dir)
    assert host.host == "https://10.96.0.1:443"
    assert host.transport.headers(None)["authorization"] == "Bearer tok"
    assert virtual.host == "https://127.0.0.1:6443"


def test_run_outside_a_pod_without_host_kubeconfig(
    tmp_path: Path, virtual_kubeconfig: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(incluster, "SERVICE_ACCOUNT_DIR", tmp_path / "no-sa")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    for name in list(os.environ):
        if name.startswith("CRDSYNC_"):
            monkeypatch.delenv(name)
    argv = ["run", "--mapping", MAPPING, "--vcluster", "t", "--virtual-kubeconfig", str(virtual_kubeconfig)]
    assert cli.main([*argv, "--host-namespace", "ns"]) == 1
    err = capsys.readouterr().err
    assert "crdsync run: host: no --host-kubeconfig (or CRDSYNC_HOST_KUBECONFIG) and not running in a pod" in err
    assert "KUBERNETES_SERVICE_HOST" in err
    assert "Traceback" not in err

    assert cli.main(argv) == 1
    assert "--host-namespace (or CRDSYNC_HOST_NAMESPACE) is required outside a pod" in capsys.readouterr().err


def test_run_reports_a_missing_virtual_kubeconfig(
    sa_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(incluster, "SERVICE_ACCOUNT_DIR", sa_dir)
    for key, value in POD_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CRDSYNC_MAPPING", MAPPING)
    monkeypatch.setenv("CRDSYNC_VCLUSTER", "t")
    monkeypatch.setenv("CRDSYNC_VIRTUAL_KUBECONFIG", str(tmp_path / "missing"))
    assert run_cmd.run(parse()) == 1
    assert "kubeconfig file does not exist" in capsys.readouterr().err
