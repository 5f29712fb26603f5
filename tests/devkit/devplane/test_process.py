"""Child-process plumbing: spawning into own sessions, identity by start time, group stop, parent-death signal."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from devkit.devplane import process


def _wait_gone(pid: int, started: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        process.exit_status(pid)  # reap if it is ours
        if not process.is_running(pid, started):
            return True
        time.sleep(0.05)
    return False


def test_spawned_child_logs_to_file_and_stops_with_its_group(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    # The child starts a grandchild in its group; stopping the group must take both.
    script = "import subprocess, time; subprocess.Popen(['sleep', '300']); print('up', flush=True); time.sleep(300)"
    pid = process.spawn([sys.executable, "-c", script], log, detached=False)
    started = process.start_time(pid)
    assert started is not None
    assert os.getpgid(pid) == pid  # leads its own group, apart from ours
    deadline = time.monotonic() + 10
    while "up" not in process.tail(log) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.tail(log) == "up"
    grandchildren = subprocess.run(["pgrep", "-g", str(pid)], capture_output=True, text=True).stdout.split()
    assert len(grandchildren) == 2
    assert process.stop_group(pid, started, grace_seconds=2)
    assert process.exit_status(pid) is not None or process.start_time(pid) is None
    for other in grandchildren:
        assert process.start_time(int(other)) is None


def test_a_reused_pid_is_never_signalled() -> None:
    pid = process.spawn(["sleep", "300"], Path(os.devnull), detached=False)
    started = process.start_time(pid)
    assert started is not None
    try:
        assert not process.stop_group(pid, started + 1)  # same pid, different process as far as we can tell
        assert process.is_running(pid, started)
    finally:
        assert process.stop_group(pid, started)


def test_exit_status_reports_and_reaps_our_child() -> None:
    pid = process.spawn([sys.executable, "-c", "raise SystemExit(3)"], Path(os.devnull), detached=False)
    deadline = time.monotonic() + 10
    status = None
    while status is None and time.monotonic() < deadline:
        status = process.exit_status(pid)
        time.sleep(0.02)
    assert status == 3
    assert process.start_time(pid) is None


def test_children_die_with_a_parent_killed_outright(tmp_path: Path) -> None:
    # A parent that spawns a foreground child, reports its pid and is then SIGKILLed: no cleanup code runs in it,
    # so only the kernel's parent-death signal can stop the child.
    parent = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[3])!r})
        from pathlib import Path
        from devkit.devplane import process
        pid = process.spawn(["sleep", "300"], Path({str(tmp_path / "c.log")!r}), detached=False)
        print(pid, process.start_time(pid), flush=True)
        time.sleep(300)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    pid, started = map(int, proc.stdout.readline().split())
    assert process.is_running(pid, started)
    proc.kill()
    proc.wait()
    assert _wait_gone(pid, started)


def test_detached_children_survive_their_parent(tmp_path: Path) -> None:
    parent = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[3])!r})
        from pathlib import Path
        from devkit.devplane import process
        pid = process.spawn(["sleep", "300"], Path({str(tmp_path / "c.log")!r}), detached=True)
        print(pid, process.start_time(pid), flush=True)
        """
    )
    out = subprocess.run([sys.executable, "-W", "error", "-c", parent], capture_output=True, text=True, check=True)
    pid, started = map(int, out.stdout.split())
    assert out.stderr == ""
    try:
        time.sleep(0.3)
        assert process.is_running(pid, started)
    finally:
        assert process.stop_group(pid, started)
    assert _wait_gone(pid, started)


def test_tail_reads_the_last_lines_only(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    log.write_text("".join(f"line {i}\n" for i in range(100_000)))
    assert process.tail(log, 3) == "line 99997\nline 99998\nline 99999"
    assert process.tail(tmp_path / "missing.log") == ""


def test_free_port_is_bindable() -> None:
    import socket

    port = process.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        assert sock.getsockname()[1] == port
