"""Processes under measurement: `crdsync run` (or a peer copier: `ChildProcess`) as a child process with its log in a
file, and /proc readings.

`CrdsyncProcess` is also what the e2e tests use to run the engine, so a sync test and a benchmark start it the same
way. Its log is read incrementally; each line keeps the time crdsync logged it (parsed from the line's timestamp), so
"how long until the log said X" does not depend on how often we poll.

Failure modes: a child that exits while we wait raises `ProcessDied` with its log tail; a wait that runs out raises
`WaitTimeout` with the log tail; reading /proc of a process that is gone raises `ProcessDied`.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from devkit.benchmark.metrics import ParseError, parse_log_time, parse_proc_stat, parse_status_kb

# The checkout holding the crdsync and devkit packages, so `python -m crdsync` (and devkit) work from any cwd.
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ProcessDied(AssertionError):
    """The process exited (or vanished) while we needed it. An AssertionError so e2e tests fail, not error."""


class WaitTimeout(AssertionError):
    """What we waited for did not happen in time."""


@dataclass(frozen=True)
class LogLine:
    wall: float  # epoch seconds from the line's own timestamp (when crdsync logged it), else when we read it
    text: str


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process in clock ticks (see CLOCK_TICKS)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError as exc:
        raise ProcessDied(f"process {pid} is gone ({exc.strerror})") from None
    return parse_proc_stat(text).ticks


def memory_kb(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of /proc/<pid>/status in kB: VmRSS (resident now) or VmHWM (peak resident)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError as exc:
        raise ProcessDied(f"process {pid} is gone ({exc.strerror})") from None
    try:
        return parse_status_kb(text, field)
    except ParseError as exc:
        raise ProcessDied(f"process {pid}: {exc}") from None


class CpuMeter:
    """CPU seconds used by named processes between `start()` and `stop()` (processes that vanish count as 0)."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self._pids = dict(pids)
        self._start: dict[str, int] = {}
        self._wall = 0.0

    def start(self) -> CpuMeter:
        self._start = {name: self._ticks(pid) for name, pid in self._pids.items()}
        self._wall = time.monotonic()
        return self

    def stop(self) -> dict[str, float]:
        """name -> CPU seconds, plus "wall_s": the interval itself."""
        wall = time.monotonic() - self._wall
        used = {
            name: round((self._ticks(pid) - self._start.get(name, 0)) / CLOCK_TICKS, 2)
            for name, pid in self._pids.items()
        }
        return {**used, "wall_s": round(wall, 2)}

    @staticmethod
    def _ticks(pid: int) -> int:
        try:
            return cpu_ticks(pid)
        except ProcessDied:
            return 0


class CpuSampler:
    """Samples a process's cumulative CPU ticks every `interval` seconds on a thread, as (monotonic time, ticks)."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"cpu-sampler-{pid}", daemon=True)

    def start(self) -> CpuSampler:
        self._thread.start()
        return self

    def stop(self) -> list[tuple[float, int]]:
        self._stop.set()
        self._thread.join()
        return self.samples

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.monotonic(), cpu_ticks(self.pid)))
            except ProcessDied:
                return
            self._stop.wait(self.interval)


class ChildProcess:
    """A command under measurement as a child process in its own session, its output appended to `log_path`.

    `name` is what messages call it ("crdsync", "kopf copier", ...); `env` adds to the environment (PYTHONPATH always
    leads with the directory holding the crdsync package, so `python -m crdsync...` works from any cwd).
    """

    def __init__(
        self, name: str, command: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None,
        *, python: bool = True,
    ) -> None:
        self.name = name
        self.python = python  # py-spy can profile it
        self.command = list(command)
        self.log_path = log_path
        self.env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.started_wall = 0.0  # epoch seconds just before the spawn
        self.started_mono = 0.0
        self._offset = 0
        self._partial = b""
        self._lines: list[LogLine] = []

    @property
    def pid(self) -> int:
        if self.process is None:
            raise ProcessDied(f"{self.name} was never started")
        return self.process.pid

    def start(self) -> Self:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._offset = log.tell()
            self._partial = b""
            self._lines = []
            path = os.environ.get("PYTHONPATH")
            env = {
                **os.environ,
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": str(_PACKAGE_ROOT) + (os.pathsep + path if path else ""),
                **self.env,
            }
            self.started_wall = time.time()
            self.started_mono = time.monotonic()
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        return self

    # -- log ------------------------------------------------------------------------------------------------------

    def lines(self) -> list[LogLine]:
        """Every line this run has logged so far (read incrementally)."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._offset)
                chunk = log.read()
        except FileNotFoundError:
            return self._lines
        self._offset += len(chunk)
        data = self._partial + chunk
        *complete, self._partial = data.split(b"\n")
        now = time.time()
        for raw in complete:
            text = raw.decode(errors="replace")
            stamp = parse_log_time(text)
            # A traceback's lines carry no timestamp: they belong to the line before.
            wall = stamp if stamp is not None else (self._lines[-1].wall if self._lines else now)
            self._lines.append(LogLine(wall, text))
        return self._lines

    def find_log(self, pattern: str) -> LogLine | None:
        regex = re.compile(pattern)
        return next((line for line in self.lines() if regex.search(line.text)), None)

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def assert_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            code = self.process.returncode
            raise ProcessDied(f"{self.name} exited with {code}; log {self.log_path}:\n{self.log_tail()}")

    def wait_log(self, pattern: str, timeout: float) -> LogLine:
        """The first line of this run matching `pattern`, waiting for it up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.find_log(pattern)
            if found is not None:
                return found
            self.assert_alive()
            if time.monotonic() > deadline:
                raise WaitTimeout(
                    f"{self.name} log never matched {pattern!r} within {timeout:.0f}s:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    # -- measurements ---------------------------------------------------------------------------------------------

    def cpu_ticks(self) -> int:
        self.assert_alive()
        return cpu_ticks(self.pid)

    def memory_kb(self, field: str = "VmRSS") -> int:
        self.assert_alive()
        return memory_kb(self.pid, field)

    def wait_idle(self, *, window: float = 1.0, below_pct: float = 5.0, timeout: float = 60.0) -> float:
        """Wait until one `window` used less than `below_pct` of a core; returns the seconds waited.

        Raises WaitTimeout when the process stays busy past `timeout`.
        """
        started = time.monotonic()
        while True:
            before = self.cpu_ticks()
            time.sleep(window)
            used = 100.0 * (self.cpu_ticks() - before) / CLOCK_TICKS / window
            if used < below_pct:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise WaitTimeout(f"{self.name} still uses {used:.0f}% CPU after {timeout:.0f}s:\n{self.log_tail(20)}")

    # -- ending ---------------------------------------------------------------------------------------------------

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM and wait; returns the exit code. Raises ProcessDied (after SIGKILL) when it does not stop."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise ProcessDied(f"{self.name} did not stop within {timeout}s:\n{self.log_tail()}") from None
        return self.process.returncode

    def kill(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):  # exited between the poll and the kill
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


class CrdsyncProcess(ChildProcess):
    """`python -m crdsync run ...` as a child process in its own session, its output appended to `log_path`."""

    def __init__(
        self,
        *,
        mappings: Sequence[Path],
        host_kubeconfig: Path,
        virtual_kubeconfig: Path,
        host_namespace: str,
        vcluster: str,
        log_path: Path,
        extra: Sequence[str] | None = None,
        verbosity: Sequence[str] = (),
    ) -> None:
        """`verbosity` are crdsync's global flags (e.g. ["-v"]); the default level already logs the INFO lines the
        benchmark times ("syncing ...", "initial sync complete ..."), and more would time the logging too."""
        command = [
            sys.executable, "-m", "crdsync", *verbosity, "run",
            *[arg for m in mappings for arg in ("--mapping", str(m))],
            "--host-kubeconfig", str(host_kubeconfig), "--virtual-kubeconfig", str(virtual_kubeconfig),
            "--host-namespace", host_namespace, "--vcluster", vcluster, *(extra or ()),
        ]  # fmt: skip
        super().__init__("crdsync", command, log_path)


class Profiler:
    """`py-spy record` attached to a running process for one phase; `stop()` ends it and returns the profile text.

    py-spy needs ptrace rights on the target (root, or CAP_SYS_PTRACE). Failure modes: a missing py-spy raises
    ProfilerUnavailable at start; a py-spy that fails later yields "" from stop() and leaves its own message in
    `<output>.log`.
    """

    def __init__(self, pid: int, output: Path, *, rate: int = 100) -> None:
        # --nonblocking: never pause the target, so a profiled run's timings stay close to an unprofiled one.
        # --gil: only the thread holding the GIL, i.e. where crdsync's Python CPU goes, not threads waiting on IO.
        self.output = output
        self._command = [
            "py-spy", "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw", "--nolineno",
            "--nonblocking", "--gil",
            "--output", str(output),
        ]  # fmt: skip
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Profiler:
        self.output.parent.mkdir(parents=True, exist_ok=True)
        with self.output.with_suffix(".log").open("wb") as log:
            try:
                self._process = subprocess.Popen(self._command, stdout=log, stderr=subprocess.STDOUT)
            except FileNotFoundError:
                raise ProfilerUnavailable("py-spy is not installed (pip install py-spy)") from None
        return self

    def stop(self, timeout: float = 30.0) -> str:
        if self._process is None:
            return ""
        if self._process.poll() is None:
            # py-spy writes its output when interrupted, like Ctrl-C.
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        try:
            return self.output.read_text()
        except FileNotFoundError:
            return ""


class ProfilerUnavailable(Exception):
    """py-spy cannot be run; the message says what to install."""
