"""Child-process plumbing for the local planes: spawn, identify, stop, and read logs.

Every child runs in its own session (so its process group can be killed whole, and a Ctrl-C typed at the terminal
reaches only us, who then stop the children in order). Children of a foreground run also get a parent-death signal,
so even if Python itself is killed outright (SIGKILL, os._exit) the kernel stops them; detached children do not, since
they are meant to outlive the command that started them. A pid is only signalled after checking its start time
against the one recorded at spawn, so a stale state file can never kill an unrelated process that reused the pid.

Failure modes: OSError from spawning (binary missing or not executable) propagates for the caller to locate;
signalling a process that is already gone is not an error.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _parent_death_signal(parent_pid: int) -> Callable[[], None]:
    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        # SIGKILL, not SIGTERM: with the parent gone nobody waits for a graceful exit, and an apiserver told to
        # terminate at the same moment as its etcd can hang for a long time retrying storage during shutdown.
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # The parent may have died between fork and prctl; then no signal would ever come.
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


def spawn(command: Sequence[str], log_path: Path, *, detached: bool, env: dict[str, str] | None = None) -> int:
    """Start `command` in a new session with stdout and stderr appended to `log_path`; returns its pid.

    The caller owns the child from here on and must stop it with `stop_group`.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=None if detached else _parent_death_signal(os.getpid()),
            env=env,
        )
    # Popen's own bookkeeping is not used: children are tracked by pid and start time, and reaped in `stop_group`.
    # Marking it finished keeps Python from warning at exit about a still-running detached child.
    process.returncode = 0
    return process.pid


def start_time(pid: int) -> int | None:
    """The kernel's start time of `pid` (clock ticks since boot), or None if there is no such live process."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] == "Z":  # a zombie has exited; only its exit status is left to collect
        return None
    return int(fields[19])


def is_running(pid: int, expected_start_time: int) -> bool:
    """Whether `pid` is alive and is the very process that had `expected_start_time`."""
    return start_time(pid) == expected_start_time


def _reap(pid: int) -> None:
    # Our own children would otherwise stay zombies until we exit; other processes' children are not ours to reap.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces; the fields after it are plain.
    return stat[stat.rindex(")") + 2 :].split()


def _live_groups() -> set[int]:
    """Process groups with at least one running member. Zombies do not count: they have exited and only wait to be
    reaped, and a detached child's reaper may be an init that is slow to do it."""
    groups = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(entry.name)
            if fields is not None and fields[0] != "Z":
                groups.add(int(fields[2]))
    return groups


def stop_groups(processes: Sequence[tuple[int, int]], grace_seconds: float = 5.0) -> list[int]:
    """Stop the process groups led by each (pid, start time): SIGTERM to all at once, SIGKILL to any left after
    `grace_seconds`. Returns the pids that were ours and running; pids gone or now someone else's are left alone.
    """
    ours = [pid for pid, started in processes if is_running(pid, started)]
    for pid, _ in processes:
        if pid not in ours:
            _reap(pid)
    for pid in ours:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    for sig, wait in ((signal.SIGTERM, grace_seconds), (signal.SIGKILL, 5.0)):
        if sig == signal.SIGKILL:
            for pid in ours:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            for pid in ours:
                _reap(pid)
            if _live_groups().isdisjoint(ours):
                return ours
            time.sleep(0.05)
    return ours


def stop_group(pid: int, expected_start_time: int, grace_seconds: float = 5.0) -> bool:
    """Stop the process group led by `pid`; returns whether it was ours and running (see `stop_groups`)."""
    return bool(stop_groups([(pid, expected_start_time)], grace_seconds))


def exit_status(pid: int) -> int | None:
    """The exit status of our child `pid` if it has exited (reaping it), else None."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return -1 if start_time(pid) is None else None
    if done == 0:
        return None
    return os.waitstatus_to_exitcode(status)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the caller retries if it is taken before use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tail(path: Path, lines: int = 40, max_bytes: int = 256 * 1024) -> str:
    """The last `lines` lines of a log file (reading at most `max_bytes` from its end); "" if it does not exist."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])
