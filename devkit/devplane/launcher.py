"""Run real local control planes: one etcd and any number of kube-apiservers (by default `host` and `virtual`).

All processes listen on free loopback ports only. The apiservers share the etcd, each under its own key prefix, so
they are fully isolated clusters (nothing created in one is visible in another) at the cost of one extra process per
plane. Each apiserver serves TLS with a throwaway CA, authenticates an admin client certificate (group
system:masters), authorizes with RBAC and signs service-account tokens; there is no kubelet, scheduler or
controller-manager. Everything lives in one directory:

    DIR/<name>.kubeconfig   context, cluster and user all named <name>, credentials embedded
    DIR/<name>.log          the process's stdout and stderr (etcd's too, as DIR/etcd.log)
    DIR/pki/, DIR/data/     credentials and etcd data, made fresh on every start
    DIR/planes.json         pids of the running processes, so `python -m devkit down` can stop them
    DIR/<name>-audit.log    with `audit=True`: every write the apiserver served (JSON lines, audit level Metadata,
                            written before the response; verb, object, user agent, code, timestamps)

Faults for the chaos suite: `restart_apiserver(name)` and `restart_etcd()` stop one process and start it again on the
same port with the same configuration and data (kubeconfigs stay valid, nothing is lost), optionally after staying
down for a while. They may be called from any thread: the new process is spawned from a thread that lives as long as
the planes, because the parent-death signal fires when the spawning *thread* exits (a restart from a short-lived
thread would see its apiserver killed the moment that thread ended).

Cleanup is layered so no process outlives its owner: the `local_planes` context manager stops everything on exit
(normal, exception, Ctrl-C); SIGTERM and SIGHUP are turned into KeyboardInterrupt while planes run; an atexit hook
catches interpreters that exit without unwinding; and the kernel's parent-death signal covers a Python killed outright.
Detached planes (`start_detached`) skip all of that on purpose and are stopped with `stop_detached`.

Failure modes: PlanesError (a process exited or did not become ready in time; the message carries its log tail, and
everything already started is stopped), BuildError from finding the binaries, StateError for a corrupt state file.

Why one module of ~600 lines: `Planes` is a single supervisor - its start, readiness, restart and stop share the
member table, its lock and the long-lived spawning thread - and the functions after it (the context manager, the
signal and atexit layers, detached start and stop) are the only ways it is entered or left; split apart, each half
would have to reach into the other's private state.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import shutil
import signal
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from devkit.devplane import pki, process
from devkit.devplane.build import find_binary
from devkit.devplane.render import (
    ETCD_NAME,
    ApiserverConfig,
    EtcdConfig,
    ProcessRecord,
    StateError,
    apiserver_args,
    check_plane_name,
    etcd_args,
    parse_state,
    render_kubeconfig,
    render_state,
)

DEFAULT_NAMES = ("host", "virtual")
DEFAULT_READY_TIMEOUT = 180.0  # a cold apiserver on two busy cores can take a minute; a hang is caught well after
STATE_FILE = "planes.json"
_PORT_RETRIES = 3
_PORT_IN_USE = "address already in use"


# Writes only (reads and watches would dwarf them), at Metadata level: who (user agent), what (verb, object, code),
# when (received and completed timestamps). Leases included: their history is who led when.
AUDIT_POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "verbs": ["get", "list", "watch"]},
        {"level": "None", "nonResourceURLs": ["*"]},
        {"level": "Metadata"},
    ],
}


class PlanesError(Exception):
    """A plane could not be started or stopped; the message says which and carries its log tail."""


def _progress(message: str) -> None:
    print(f"crdsync: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class _Member:
    """One running process of the planes."""

    record: ProcessRecord
    log_path: Path


class Planes:
    """Handle on running local planes; obtain it from `local_planes` or `start_detached`, not by constructing it."""

    def __init__(
        self,
        directory: Path,
        *,
        detached: bool,
        ready_timeout: float,
        audit: bool = False,
        apiserver_flags: Sequence[str] = (),
    ) -> None:
        self.directory = directory.resolve()
        self.audit = audit
        self.apiserver_flags = tuple(apiserver_flags)
        self._apiserver_configs: dict[str, ApiserverConfig] = {}
        self._respawner: ThreadPoolExecutor | None = None  # created on the first restart; see the module docstring
        self._etcd_config: EtcdConfig | None = None
        self.detached = detached
        self.ready_timeout = ready_timeout
        self.ready_seconds: dict[str, float] = {}  # name -> seconds from spawn to ready, for reports
        self._members: dict[str, _Member] = {}
        self._closed = False
        self._pki: pki.PkiPaths | None = None
        self._etcd_url = ""
        self._apiserver_binary: Path | None = None
        self._owns_state = False  # set once we write DIR/planes.json; a refused start must not remove another's

    # -- queries -------------------------------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """The apiserver planes, in start order."""
        return tuple(name for name in self._members if name != ETCD_NAME)

    @property
    def pids(self) -> dict[str, int]:
        """Process id of every running process, etcd included."""
        return {name: member.record.pid for name, member in self._members.items()}

    @property
    def ca_cert(self) -> Path:
        return self._require_pki().ca_cert

    @property
    def admin_cert(self) -> Path:
        return self._require_pki().admin_cert

    @property
    def admin_key(self) -> Path:
        return self._require_pki().admin_key

    def kubeconfig(self, name: str) -> Path:
        self._require(name)
        return self.directory / f"{name}.kubeconfig"

    def url(self, name: str) -> str:
        return self._require(name).record.url

    def log_path(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def audit_log(self, name: str) -> Path:
        """The apiserver's audit log (JSON lines; written only when the planes were started with audit=True)."""
        return self.directory / f"{name}-audit.log"

    def log_tail(self, name: str, lines: int = 40) -> str:
        return process.tail(self.log_path(name), lines)

    def log_tails(self, lines: int = 40) -> str:
        """The log tail of every process, each under a header: what to show when something went wrong."""
        names = [ETCD_NAME, *[n for n in self._members if n != ETCD_NAME]]
        return "\n".join(f"--- {self.log_path(n)} (last {lines} lines) ---\n{self.log_tail(n, lines)}" for n in names)

    def dead(self) -> list[str]:
        """Names of processes that have exited since they became ready."""
        return [name for name, m in self._members.items() if not process.is_running(m.record.pid, m.record.start_time)]

    def _require(self, name: str) -> _Member:
        member = self._members.get(name)
        if member is None:
            raise KeyError(f"no plane named {name!r}; running: {', '.join(self.names) or 'none'}")
        return member

    def _require_pki(self) -> pki.PkiPaths:
        if self._pki is None:
            raise PlanesError("planes not started")
        return self._pki

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def _start(self, names: Sequence[str]) -> None:
        for name in names:
            check_plane_name(name)
        if len(set(names)) != len(names):
            raise ValueError(f"plane names must be distinct: {list(names)}")
        _refuse_if_running(self.directory)
        etcd_binary = find_binary("etcd")
        self._apiserver_binary = find_binary("kube-apiserver")
        self.directory.mkdir(parents=True, exist_ok=True)
        # Fresh data on every start: each run is an empty cluster, whatever an earlier run in this directory left.
        for stale in ("data", "pki", "certs"):
            shutil.rmtree(self.directory / stale, ignore_errors=True)
        self._pki = pki.write_pki(self.directory / "pki")
        self._start_etcd(etcd_binary)
        self._start_apiservers(list(names))

    def _start_etcd(self, binary: Path) -> None:
        for attempt in range(_PORT_RETRIES):
            config = EtcdConfig(
                binary=binary,
                data_dir=self.directory / "data" / "etcd",
                client_port=process.free_port(),
                peer_port=process.free_port(),
            )
            shutil.rmtree(config.data_dir, ignore_errors=True)
            member = self._spawn(ETCD_NAME, etcd_args(config), config.client_url)
            self._etcd_url = config.client_url
            if self._wait_ready([ETCD_NAME], retry_port_clash=attempt + 1 < _PORT_RETRIES) == [ETCD_NAME]:
                self._forget(ETCD_NAME, member)
                continue
            self._etcd_config = config
            return

    def _apiserver_config(self, name: str) -> ApiserverConfig:
        assert self._pki is not None and self._apiserver_binary is not None
        public_key, private_key = pki.write_service_account_keys(self.directory / "pki", name)
        return ApiserverConfig(
            name=name,
            binary=self._apiserver_binary,
            port=process.free_port(),
            etcd_url=self._etcd_url,
            cert_dir=self.directory / "certs" / name,
            ca_cert=self._pki.ca_cert,
            serving_cert=self._pki.serving_cert,
            serving_key=self._pki.serving_key,
            service_account_public_key=public_key,
            service_account_private_key=private_key,
        )

    def _start_apiservers(self, names: list[str]) -> None:
        pending = names
        try:
            for attempt in range(_PORT_RETRIES):
                # Started together: their start-up work overlaps, so two planes are ready in about the time of one.
                for name in pending:
                    config = self._apiserver_config(name)
                    self._apiserver_configs[name] = config
                    self._spawn(name, self._apiserver_command(config), config.url)
                clashed = self._wait_ready(pending, retry_port_clash=attempt + 1 < _PORT_RETRIES)
                for name in clashed:
                    self._forget(name, self._members[name])
                if not clashed:
                    break
                pending = clashed
        except BaseException:
            # A failed add_apiserver must not leave a half-started plane among the running ones.
            for name in names:
                if name in self._members:
                    self._forget(name, self._members[name])
            self._write_state()
            raise
        for name in names:
            self._write_kubeconfig(name)
        self._write_state()

    def add_apiserver(self, name: str) -> Path:
        """Start one more apiserver (e.g. a second tenant's virtual plane) on the same etcd; returns its kubeconfig."""
        check_plane_name(name)
        if name in self._members:
            raise ValueError(f"a plane named {name!r} is already running")
        if self._closed or not self._etcd_url:
            raise PlanesError("planes are not running")
        self._start_apiservers([name])
        return self.kubeconfig(name)

    def _apiserver_command(self, config: ApiserverConfig) -> list[str]:
        command = [*apiserver_args(config), *self.apiserver_flags]
        if self.audit:
            policy = self.directory / "audit-policy.json"
            if not policy.exists():
                policy.write_text(json.dumps(AUDIT_POLICY, indent=2) + "\n")
            command += [
                f"--audit-policy-file={policy}",
                f"--audit-log-path={self.audit_log(config.name)}",
                "--audit-log-format=json",
                # Blocking: the event is on disk before the client has its answer, so a write is never missed.
                "--audit-log-mode=blocking",
            ]
        return command

    def restart_apiserver(self, name: str, *, down_for: float = 0.0) -> float:
        """Stop one apiserver (SIGTERM, then SIGKILL) and start it again on the same port with the same flags; its
        data is in etcd and stays. Returns the seconds it took until ready again (PlanesError if it does not come
        back)."""
        member = self._require(name)
        config = self._apiserver_configs.get(name)
        if name == ETCD_NAME or config is None:
            raise ValueError(f"{name!r} is not an apiserver these planes started")
        started = time.monotonic()
        process.stop_group(member.record.pid, member.record.start_time)
        del self._members[name]
        self._write_state()
        if down_for > 0:
            time.sleep(down_for)
        self._respawn(name, self._apiserver_command(config), config.url)
        self._wait_ready([name], retry_port_clash=False)
        return time.monotonic() - started

    def restart_etcd(self, *, down_for: float = 0.0) -> float:
        """Stop etcd and start it again with the same data and ports (the apiservers reconnect on their own).
        Returns the seconds until it was ready again."""
        member = self._require(ETCD_NAME)
        config = self._etcd_config
        if config is None:
            raise PlanesError("etcd was not started by these planes")
        started = time.monotonic()
        process.stop_group(member.record.pid, member.record.start_time)
        del self._members[ETCD_NAME]
        self._write_state()
        if down_for > 0:
            time.sleep(down_for)
        self._respawn(ETCD_NAME, etcd_args(config), config.client_url)
        self._wait_ready([ETCD_NAME], retry_port_clash=False)
        return time.monotonic() - started

    def _respawn(self, name: str, command: list[str], url: str) -> None:
        if self.detached:
            self._spawn(name, command, url, append=True)  # no parent-death signal for detached planes
            return
        if self._respawner is None:
            self._respawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="planes-respawn")
        self._respawner.submit(self._spawn, name, command, url, append=True).result()

    def stop_apiserver(self, name: str) -> None:
        """Stop one apiserver plane; its data stays in etcd under its prefix."""
        if name == ETCD_NAME:
            raise ValueError("etcd is stopped with the planes, not on its own")
        member = self._require(name)
        process.stop_group(member.record.pid, member.record.start_time)
        del self._members[name]
        self._write_state()

    def close(self) -> None:
        """Stop every process (apiservers first, then etcd). Idempotent; does nothing for detached planes."""
        if self._closed or self.detached:
            return
        self._closed = True
        _LIVE.discard(self)
        _stop_in_order([m.record for m in self._members.values()])
        self._members.clear()
        if self._respawner is not None:
            self._respawner.shutdown(wait=False)
        if self._owns_state:
            (self.directory / STATE_FILE).unlink(missing_ok=True)

    def _spawn(self, name: str, command: list[str], url: str, *, append: bool = False) -> _Member:
        log_path = self.log_path(name)
        if not append:  # a restart keeps the log of the run before it
            log_path.unlink(missing_ok=True)
        try:
            pid = process.spawn(command, log_path, detached=self.detached)
        except OSError as exc:
            raise PlanesError(f"cannot start {name} ({command[0]}): {exc}") from exc
        started = process.start_time(pid) or 0
        member = _Member(ProcessRecord(name, pid, started, url), log_path)
        self._members[name] = member
        # Recorded at once, so a crash between here and the end of start-up still leaves `down` able to stop it.
        self._write_state()
        return member

    def _forget(self, name: str, member: _Member) -> None:
        process.stop_group(member.record.pid, member.record.start_time)
        self._members.pop(name, None)

    def _wait_ready(self, names: list[str], *, retry_port_clash: bool) -> list[str]:
        """Wait until each named process answers; return those that lost their port to another process.

        Raises PlanesError if one exits for another reason or is not ready within the timeout.
        """
        context = self._client_context()
        started = time.monotonic()
        waiting = set(names)
        clashed: list[str] = []
        while waiting:
            for name in sorted(waiting):
                member = self._members[name]
                status = process.exit_status(member.record.pid)
                if status is not None:
                    log = self.log_tail(name, 60)
                    waiting.discard(name)
                    if retry_port_clash and _PORT_IN_USE in log:
                        _progress(f"{name}: port taken by another process, retrying on a new one")
                        clashed.append(name)
                        continue
                    raise PlanesError(
                        f"{name} exited with status {status} before becoming ready; last lines of "
                        f"{member.log_path}:\n{log}"
                    )
                if _is_ready(name, member.record.url, context):
                    waiting.discard(name)
                    self.ready_seconds[name] = round(time.monotonic() - started, 2)
                    _progress(f"{name} ready at {member.record.url} after {self.ready_seconds[name]:.1f}s")
            if waiting and time.monotonic() - started > self.ready_timeout:
                name = sorted(waiting)[0]
                raise PlanesError(
                    f"{name} did not become ready within {self.ready_timeout:.0f}s; last lines of "
                    f"{self.log_path(name)}:\n{self.log_tail(name, 60)}"
                )
            if waiting:
                time.sleep(0.25)
        return clashed

    def _client_context(self) -> ssl.SSLContext:
        paths = self._require_pki()
        context = ssl.create_default_context(cafile=str(paths.ca_cert))
        context.load_cert_chain(str(paths.admin_cert), str(paths.admin_key))
        return context

    def _write_kubeconfig(self, name: str) -> None:
        paths = self._require_pki()
        config = render_kubeconfig(
            name,
            self.url(name),
            paths.ca_cert.read_bytes(),
            paths.admin_cert.read_bytes(),
            paths.admin_key.read_bytes(),
        )
        target = self.kubeconfig(name)
        temporary = target.with_suffix(".tmp")
        # JSON is valid YAML, which is all kubectl and the Python client ask of a kubeconfig.
        temporary.write_text(json.dumps(config, indent=2) + "\n")
        temporary.chmod(0o600)
        temporary.replace(target)

    def _write_state(self) -> None:
        self._owns_state = True
        target = self.directory / STATE_FILE
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(render_state([m.record for m in self._members.values()]), indent=2) + "\n")
        temporary.replace(target)


def _is_ready(name: str, url: str, context: ssl.SSLContext) -> bool:
    if name == ETCD_NAME:
        body = _get(f"{url}/health", None)
        return body is not None and json.loads(body).get("health") == "true"
    # /readyz covers storage, RBAC bootstrap and CRD informers; the default namespace follows a moment later and
    # tests create objects in it at once.
    return _get(f"{url}/readyz", context) is not None and _get(f"{url}/api/v1/namespaces/default", context) is not None


def _get(url: str, context: ssl.SSLContext | None) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as response:
            data: bytes = response.read()
            return data if response.status == 200 else None
    except (OSError, ValueError):  # refused, reset, TLS not up yet, HTTP 5xx (HTTPError is an OSError)
        return None


# -- process-wide safety nets ------------------------------------------------------------------------------------

_LIVE: set[Planes] = set()
_LIVE_LOCK = threading.Lock()


def _close_all() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for planes in live:
        with contextlib.suppress(Exception):
            planes.close()


atexit.register(_close_all)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt (like Ctrl-C) so `with` blocks unwind and stop the planes.

    Only in the main thread, and only where nobody installed a handler of their own.
    """
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(signum) is signal.SIG_DFL:
                previous[signum] = signal.signal(signum, _raise_interrupt)
    try:
        yield
    finally:
        for restored, handler in previous.items():
            signal.signal(restored, handler)


@contextmanager
def local_planes(
    directory: Path,
    *,
    names: Sequence[str] = DEFAULT_NAMES,
    ready_timeout: float = DEFAULT_READY_TIMEOUT,
    audit: bool = False,
    apiserver_flags: Sequence[str] = (),
) -> Iterator[Planes]:
    """Start etcd and one kube-apiserver per name in `directory`, yield once all are ready, stop them all on exit.
    `audit`: each apiserver logs every write it serves to DIR/<name>-audit.log (see AUDIT_POLICY).
    `apiserver_flags`: extra kube-apiserver flags for every plane (e.g. `--watch-cache-sizes=widgets.example.io#0`, so
    watches of that resource are served by etcd and an etcd compaction answers them with 410 Gone).

    Raises PlanesError (with log tails) if a process fails to start, BuildError if a binary cannot be had.
    """
    planes = Planes(
        Path(directory), detached=False, ready_timeout=ready_timeout, audit=audit, apiserver_flags=apiserver_flags
    )
    with _signals_interrupt():
        with _LIVE_LOCK:
            _LIVE.add(planes)
        try:
            planes._start(names)
            yield planes
        finally:
            planes.close()


def start_detached(
    directory: Path, *, names: Sequence[str] = DEFAULT_NAMES, ready_timeout: float = DEFAULT_READY_TIMEOUT
) -> Planes:
    """Start the planes so that they outlive this process; stop them later with `stop_detached(directory)`.

    If start-up fails, whatever was started is stopped before PlanesError propagates.
    """
    planes = Planes(Path(directory), detached=True, ready_timeout=ready_timeout)
    try:
        planes._start(names)
    except BaseException:
        planes.detached = False
        planes.close()
        raise
    return planes


def read_state(directory: Path) -> list[ProcessRecord]:
    """The processes recorded in `directory`'s state file; [] if there is none. Raises StateError if corrupt."""
    path = Path(directory) / STATE_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StateError(f"{path}: cannot read: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from exc
    return parse_state(data, str(path))


def _refuse_if_running(directory: Path) -> None:
    try:
        records = read_state(directory)
    except StateError:
        return  # unreadable leftovers: nothing we could stop anyway; the new start overwrites the file
    alive = [r for r in records if process.is_running(r.pid, r.start_time)]
    if alive:
        pids = ", ".join(f"{r.name}={r.pid}" for r in alive)
        raise PlanesError(
            f"planes are already running in {directory} ({pids}); "
            f"stop them with: python -m devkit down --dir {directory}"
        )


def stop_detached(directory: Path) -> list[str]:
    """Stop every process recorded in `directory`'s state file; returns the names of those that were running.

    Apiservers stop before etcd. Processes already gone, or pids since reused by others, are skipped. Raises
    StateError if the state file is corrupt.
    """
    stopped = _stop_in_order(read_state(directory))
    (Path(directory) / STATE_FILE).unlink(missing_ok=True)
    return stopped


def _stop_in_order(records: Sequence[ProcessRecord]) -> list[str]:
    # Apiservers first (together), then etcd: an apiserver losing its storage first would log a storm of errors.
    stopped: list[str] = []
    for batch in ([r for r in records if r.name != ETCD_NAME], [r for r in records if r.name == ETCD_NAME]):
        pids = process.stop_groups([(r.pid, r.start_time) for r in batch])
        stopped += [r.name for r in batch if r.pid in pids]
    return stopped
