"""Finding and caching the control-plane binaries."""

from __future__ import annotations

import os
import shutil
import stat
import threading
from pathlib import Path

import pytest

from devkit.devplane import build
from devkit.devplane.build import BuildError, cache_key, cache_root, cached_binary_path, ensure_go_binary, find_binary

INPUTS = {"go.mod": b"module x\n", "go.sum": b"", "main.go": b"package main\nfunc main() {}\n"}


def test_cache_key_is_stable_and_short() -> None:
    key = cache_key(INPUTS, ".", "-s -w", target="linux-x86_64")
    assert key == cache_key(dict(reversed(INPUTS.items())), ".", "-s -w", target="linux-x86_64")
    assert len(key) == 16 and int(key, 16) >= 0


@pytest.mark.parametrize(
    "change",
    [
        lambda i, p, f, t: ({**i, "go.sum": b"x h1:abc\n"}, p, f, t),
        lambda i, p, f, t: ({**i, "main.go": i["main.go"] + b"// edit\n"}, p, f, t),
        lambda i, p, f, t: ({**i, "extra.go": b"package main\n"}, p, f, t),
        lambda i, p, f, t: (i, "./cmd/other", f, t),
        lambda i, p, f, t: (i, p, f + " -X a.b=c", t),
        lambda i, p, f, t: (i, p, f, "darwin-arm64"),
    ],
)
def test_cache_key_changes_with_every_pinned_input(change: object) -> None:
    base = (INPUTS, ".", "-s -w", "linux-x86_64")
    assert callable(change)
    assert cache_key(*change(*base)) != cache_key(*base)


def test_cache_root_prefers_explicit_dir_then_xdg_then_home() -> None:
    assert cache_root({"CRDSYNC_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x"}) == Path("/c")
    assert cache_root({"XDG_CACHE_HOME": "/x"}) == Path("/x/crdsync")
    assert cache_root({}) == Path.home() / ".cache" / "crdsync"
    assert cached_binary_path("etcd", "abc", Path("/c")) == Path("/c/bin/etcd-abc/etcd")


def test_pinned_modules_hash_their_go_mod_sum_and_sources() -> None:
    for name, (module_dir, _) in build.BUILTIN.items():
        inputs = build.module_inputs(module_dir)
        assert {"go.mod", "go.sum", "main.go"} <= set(inputs), name


def test_kube_apiserver_reports_the_pinned_version() -> None:
    _, ldflags = build.BUILTIN["kube-apiserver"]
    assert f"k8s.io/component-base/version.gitVersion={build.KUBE_VERSION}" in ldflags
    assert "k8s.io/component-base/version.gitMinor=36" in ldflags
    go_mod = (build.GO_DIR / "kube-apiserver" / "go.mod").read_text()
    assert f"k8s.io/kubernetes {build.KUBE_VERSION}" in go_mod
    assert "k8s.io/apiserver => k8s.io/apiserver v0.36.3" in go_mod


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_explicit_path_wins_over_kubebuilder_assets(tmp_path: Path) -> None:
    explicit = _executable(tmp_path / "mine" / "etcd")
    assets = tmp_path / "assets"
    _executable(assets / "etcd")
    _executable(assets / "kube-apiserver")
    env = {"CRDSYNC_ETCD": str(explicit), "KUBEBUILDER_ASSETS": str(assets)}
    assert find_binary("etcd", env) == explicit
    assert find_binary("kube-apiserver", env) == assets / "kube-apiserver"


def test_bad_explicit_paths_name_the_variable(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"CRDSYNC_KUBE_APISERVER: .* does not exist"):
        find_binary("kube-apiserver", {"CRDSYNC_KUBE_APISERVER": str(tmp_path / "nope")})
    not_executable = tmp_path / "etcd"
    not_executable.write_text("")
    with pytest.raises(BuildError, match=r"KUBEBUILDER_ASSETS: .* not executable"):
        find_binary("etcd", {"KUBEBUILDER_ASSETS": str(tmp_path)})
    with pytest.raises(BuildError, match="unknown control-plane binary"):
        find_binary("kubelet", {})


def _module(tmp_path: Path, body: str) -> Path:
    module = tmp_path / "mod"
    module.mkdir()
    (module / "go.mod").write_text("module example.com/hello\n\ngo 1.22\n")
    (module / "main.go").write_text(body)
    return module


needs_go = pytest.mark.skipif(shutil.which("go") is None, reason="go toolchain not installed")


@needs_go
def test_builds_once_then_serves_from_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CRDSYNC_CACHE_DIR", str(tmp_path / "cache"))
    module = _module(tmp_path, 'package main\n\nvar v = "dev"\n\nfunc main() { println(v) }\n')
    binary = ensure_go_binary("hello", module, ldflags="-X main.v=pinned")
    assert binary.parent.parent == tmp_path / "cache" / "bin"
    assert os.access(binary, os.X_OK)
    assert b"pinned" in binary.read_bytes()
    first = capsys.readouterr().err
    assert "building hello" in first and "built hello in" in first
    mtime = binary.stat().st_mtime_ns
    assert ensure_go_binary("hello", module, ldflags="-X main.v=pinned") == binary
    assert capsys.readouterr().err == ""
    assert binary.stat().st_mtime_ns == mtime
    assert [p.name for p in binary.parent.iterdir()] == ["hello"]  # no temporary left behind


@needs_go
def test_concurrent_callers_build_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRDSYNC_CACHE_DIR", str(tmp_path / "cache"))
    module = _module(tmp_path, "package main\n\nfunc main() {}\n")
    builds: list[str] = []
    real = build._run_go_build

    def counting(*args: object) -> None:
        builds.append("x")
        real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(build, "_run_go_build", counting)
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(ensure_go_binary("noop", module))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1
    assert len(set(results)) == 1 and results[0].is_file()


@needs_go
def test_build_failure_carries_the_tail_of_go_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRDSYNC_CACHE_DIR", str(tmp_path / "cache"))
    module = _module(tmp_path, "package main\n\nfunc main() { undefinedThing() }\n")
    with pytest.raises(BuildError, match=r"(?s)building broken .* failed.*undefined: undefinedThing"):
        ensure_go_binary("broken", module)
    assert not list((tmp_path / "cache" / "bin").rglob("broken"))


def test_missing_go_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRDSYNC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))
    module = _module(tmp_path, "package main\n\nfunc main() {}\n")
    with pytest.raises(BuildError, match=r"go.*not on PATH.*KUBEBUILDER_ASSETS"):
        ensure_go_binary("nogo", module)


def test_a_directory_without_go_mod_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"no go\.mod"):
        ensure_go_binary("x", tmp_path)
