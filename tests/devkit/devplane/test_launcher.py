"""Launcher behaviour that needs no real binaries: failure reporting, cleanup, state handling."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from devkit.devplane import process
from devkit.devplane.launcher import PlanesError, local_planes, read_state, start_detached, stop_detached
from devkit.devplane.render import ProcessRecord, StateError, render_state


def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def fake_binaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _script(bin_dir / "kube-apiserver", "echo never started; exit 1")
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(bin_dir))
    monkeypatch.delenv("CRDSYNC_ETCD", raising=False)
    monkeypatch.delenv("CRDSYNC_KUBE_APISERVER", raising=False)
    return bin_dir


def test_a_crashing_process_fails_with_its_log_tail(tmp_path: Path, fake_binaries: Path) -> None:
    _script(fake_binaries / "etcd", "echo 'etcdmain: fatal: disk on fire' >&2; exit 7")
    with (
        pytest.raises(PlanesError, match=r"(?s)etcd exited with status 7.*disk on fire"),
        local_planes(tmp_path / "planes"),
    ):
        pytest.fail("planes must not start")
    assert read_state(tmp_path / "planes") == []


def test_a_hanging_process_times_out_and_is_stopped(tmp_path: Path, fake_binaries: Path) -> None:
    pid_file = tmp_path / "pid"
    _script(fake_binaries / "etcd", f"echo $$ > {pid_file}; echo listening soon; exec sleep 300")
    with (
        pytest.raises(PlanesError, match=r"(?s)etcd did not become ready within 1s.*listening soon"),
        local_planes(tmp_path / "planes", ready_timeout=1),
    ):
        pytest.fail("planes must not start")
    assert process.start_time(int(pid_file.read_text())) is None  # stopped, not leaked


FAKE_ETCD = """#!{python}
# Answers etcd's health check on the client URL it is given, like the real one, and records its pid.
import http.server, sys
url = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--listen-client-urls="))
open({pid_file!r}, "w").write(str(__import__("os").getpid()))
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b'{{"health":"true"}}')
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(url.rsplit(":", 1)[1])), Health).serve_forever()
"""


def test_a_failing_apiserver_fails_the_start_and_stops_etcd(tmp_path: Path, fake_binaries: Path) -> None:
    pid_file = tmp_path / "etcd.pid"
    etcd = fake_binaries / "etcd"
    etcd.write_text(FAKE_ETCD.format(python=sys.executable, pid_file=str(pid_file)))
    etcd.chmod(0o755)
    _script(fake_binaries / "kube-apiserver", "echo 'E0101 run.go: invalid flag --bogus' >&2; exit 1")
    with (
        pytest.raises(PlanesError, match=r"(?s)(host|virtual) exited with status 1.*invalid flag --bogus"),
        local_planes(tmp_path / "planes"),
    ):
        pytest.fail("planes must not start")
    assert process.start_time(int(pid_file.read_text())) is None
    assert read_state(tmp_path / "planes") == []


def test_detached_start_failure_stops_what_it_started(tmp_path: Path, fake_binaries: Path) -> None:
    pid_file = tmp_path / "pid"
    _script(fake_binaries / "etcd", f"echo $$ > {pid_file}; exec sleep 300")
    with pytest.raises(PlanesError, match="did not become ready"):
        start_detached(tmp_path / "planes", ready_timeout=1)
    assert process.start_time(int(pid_file.read_text())) is None


def test_bad_plane_names_are_refused_before_anything_starts(tmp_path: Path, fake_binaries: Path) -> None:
    with pytest.raises(ValueError, match="invalid plane name 'etcd'"), local_planes(tmp_path, names=("etcd",)):
        pass
    with pytest.raises(ValueError, match="distinct"), local_planes(tmp_path, names=("a", "a")):
        pass


def test_refuses_to_start_over_running_planes_and_keeps_their_state(tmp_path: Path, fake_binaries: Path) -> None:
    me = ProcessRecord("host", os.getpid(), process.start_time(os.getpid()) or 0, "https://127.0.0.1:1")
    state = tmp_path / "planes.json"
    state.write_text(json.dumps(render_state([me])))
    with (
        pytest.raises(PlanesError, match=r"already running .*host=\d+.*python -m devkit down --dir"),
        local_planes(tmp_path),
    ):
        pass
    with pytest.raises(PlanesError, match="already running"):
        start_detached(tmp_path)
    assert read_state(tmp_path) == [me]  # still there for `down` to use


def test_stop_detached_skips_dead_and_reused_pids(tmp_path: Path) -> None:
    victim = process.spawn(["sleep", "300"], tmp_path / "v.log", detached=False)
    started = process.start_time(victim)
    assert started is not None
    records = [
        ProcessRecord("host", victim, started + 1, "x"),  # pid reused by someone else: must survive
        ProcessRecord("etcd", 2**22 + 1, 1, "y"),  # long gone
    ]
    (tmp_path / "planes.json").write_text(json.dumps(render_state(records)))
    try:
        assert stop_detached(tmp_path) == []
        assert process.is_running(victim, started)
        assert not (tmp_path / "planes.json").exists()
    finally:
        process.stop_group(victim, started)


def test_corrupt_state_is_reported_with_file_and_position(tmp_path: Path) -> None:
    (tmp_path / "planes.json").write_text('{"version": 1,\n "processes": [}')
    with pytest.raises(StateError, match=r"planes\.json:2:\d+: not JSON"):
        stop_detached(tmp_path)


def test_down_without_state_stops_nothing(tmp_path: Path) -> None:
    assert stop_detached(tmp_path) == []
