"""Unit tests of devkit.devplane.externalsecrets' pure parts and its registration with the build registry.

The build and the running controller are exercised for real by e2e/test_external_secrets.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devkit.devplane import build, externalsecrets
from devkit.devplane.externalsecrets import (
    ESO_MODULE,
    FAKE_ONLY,
    ExternalSecretsError,
    build_go_mod,
    controller_args,
    load_crds,
    module_sum,
    pinned_version,
    prepared_key,
)
from devkit.devplane.operator_files import ModuleInfo


def shipped_go_mod() -> str:
    return (externalsecrets.MODULE_DIR / "go.mod").read_text()


def test_the_shipped_go_mod_pins_a_version_that_go_sum_hashes() -> None:
    version = pinned_version(shipped_go_mod())
    assert version.startswith("v")
    assert module_sum((externalsecrets.MODULE_DIR / "go.sum").read_text(), version).startswith("h1:")


def test_a_go_mod_without_the_module_is_refused() -> None:
    with pytest.raises(ExternalSecretsError, match="no requirement"):
        pinned_version("module x\n\ngo 1.26.0\n// github.com/external-secrets/external-secrets v0.1.0\n")


def test_a_go_sum_without_the_pinned_hash_is_refused() -> None:
    with pytest.raises(ExternalSecretsError, match="no hash"):
        module_sum(f"{ESO_MODULE} v0.1.0/go.mod h1:abc=\n", "v0.1.0")


def test_the_build_go_mod_replaces_upstream_with_the_prepared_copy() -> None:
    text = build_go_mod(shipped_go_mod())
    assert text.startswith(shipped_go_mod().rstrip())
    assert text.rstrip().endswith(f"replace {ESO_MODULE} => ./upstream")


def test_the_prepared_key_covers_our_files_the_pin_and_the_patch(monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = {"go.mod": b"module x", "main.go": b"package main"}
    key = prepared_key(inputs, "h1:one")
    assert key == prepared_key(dict(inputs), "h1:one")
    assert key != prepared_key({**inputs, "main.go": b"package main // changed"}, "h1:one")
    assert key != prepared_key(inputs, "h1:two")
    monkeypatch.setitem(FAKE_ONLY, "pkg/provider/register/register.go", "package register\n")
    assert key != prepared_key(inputs, "h1:one")


def test_the_patch_links_only_the_fake_provider_and_generator() -> None:
    assert set(FAKE_ONLY) == {"pkg/provider/register/register.go", "pkg/generator/register/register.go"}
    for text in FAKE_ONLY.values():
        imports = [line for line in text.splitlines() if line.startswith("import")]
        assert len(imports) == 1 and imports[0].endswith('/fake"')


def test_controller_args_keep_everything_on_loopback_and_metrics_off(tmp_path: Path) -> None:
    args = controller_args(Path("/bin/eso"), tmp_path / "k", tmp_path / "addr")
    assert args[0] == "/bin/eso"
    assert "--health-listen-address=127.0.0.1:0" in args
    assert "--metrics-listen-address=0" in args
    assert f"--kubeconfig={tmp_path / 'k'}" in args
    assert f"--address-file={tmp_path / 'addr'}" in args
    # The fake provider is not safe for concurrent reconciles (crashed the controller in a full run).
    assert "--concurrent=1" in args


def test_load_crds_reads_the_bases_and_skips_the_kustomization(tmp_path: Path) -> None:
    bases = tmp_path / "config" / "crds" / "bases"
    bases.mkdir(parents=True)
    (bases / "kustomization.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n")
    (bases / "a.yaml").write_text(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: as.example.test}\n"
    )
    crds = load_crds(ModuleInfo(ESO_MODULE, "v0.0.0", tmp_path))
    assert [crd["metadata"]["name"] for crd in crds] == ["as.example.test"]


def test_load_crds_locates_bad_yaml(tmp_path: Path) -> None:
    bases = tmp_path / "config" / "crds" / "bases"
    bases.mkdir(parents=True)
    (bases / "bad.yaml").write_text("a: [\n")
    with pytest.raises(ExternalSecretsError, match=r"bad\.yaml:\d+"):
        load_crds(ModuleInfo(ESO_MODULE, "v0.0.0", tmp_path))


def test_an_empty_module_has_no_crds(tmp_path: Path) -> None:
    with pytest.raises(ExternalSecretsError, match="no CRD files"):
        load_crds(ModuleInfo(ESO_MODULE, "v0.0.0", tmp_path))


def test_registered_with_the_build_registry_and_its_env_override(tmp_path: Path) -> None:
    assert build.PREPARED["external-secrets-controller"].endswith(":ensure_external_secrets_binary")
    binary = tmp_path / "eso"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert build.find_binary("external-secrets-controller", {"CRDSYNC_EXTERNAL_SECRETS_CONTROLLER": str(binary)}) == (
        binary
    )
    assert externalsecrets.BINARY_ENV == "CRDSYNC_EXTERNAL_SECRETS_CONTROLLER"


def test_the_registered_function_resolves(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    binary = tmp_path / "eso"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv(externalsecrets.BINARY_ENV, str(binary))
    # find_binary's own env lookup is bypassed with an empty env, so the registered helper answers.
    assert build.find_binary("external-secrets-controller", {}) == binary


def test_a_non_executable_override_is_a_build_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(externalsecrets.BINARY_ENV, str(tmp_path / "missing"))
    with pytest.raises(build.BuildError, match="not an executable"):
        externalsecrets.ensure_external_secrets_binary()
