"""`python -m devkit demo`: a tenant uses the host's real cert-manager from inside its virtual cluster, on local planes.

Steps, each announced on stderr: build (first run only) and start a host and a virtual API server, build and start
cert-manager against the host, start `crdsync run` with mappings/cert-manager.yaml, create a shared SelfSigned
ClusterIssuer on the host and a Certificate for app.example.test in the virtual cluster, wait for the tenant's
Secret, print a report, and stop everything unless `--keep`.

Failure modes: any step that does not finish in time exits 1 naming the step, with the tail of the relevant log.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from crdsync.gvk import GroupVersionKind
from crdsync.kube.client import KubeClient
from crdsync.resources import mapping_path
from crdsync.spec.model import Naming
from crdsync.translate.names import Tenant, host_name

MAPPING = mapping_path("cert-manager.yaml")  # the shipped one, from a checkout or an installed wheel alike
HOST_NAMESPACE = "vc-demo"
VCLUSTER = "demo"
TENANT_NAMESPACE = "app"
CERT_NAME = "app-tls"
DNS_NAME = "app.example.test"
ISSUER = "demo-selfsigned"
CERTIFICATE = GroupVersionKind("cert-manager.io", "v1", "Certificate")
CLUSTER_ISSUER = GroupVersionKind("cert-manager.io", "v1", "ClusterIssuer")
SECRET = GroupVersionKind("", "v1", "Secret")
NAMESPACE = GroupVersionKind("", "v1", "Namespace")


class DemoFailed(Exception):
    pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, help="working directory for planes and logs (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep everything running until Ctrl-C")
    parser.add_argument("--timeout", type=float, default=180, help="seconds to wait for each step (default 180)")


def say(message: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def wait(what: str, check: Callable[[], Any], timeout: float, log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    tail = ""
    if log is not None and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    raise DemoFailed(f"timed out after {timeout:.0f}s waiting for {what}{tail}")


def run(args: argparse.Namespace) -> int:
    directory: Path = args.dir or Path(tempfile.mkdtemp(prefix="crdsync-demo-"))
    directory.mkdir(parents=True, exist_ok=True)
    from devkit.devplane.build import BuildError
    from devkit.devplane.certmanager import CertManagerError
    from devkit.devplane.launcher import PlanesError

    try:
        report = _demo(directory, args)
    except (DemoFailed, BuildError, CertManagerError, PlanesError) as exc:
        print(f"python -m devkit demo: {exc}", file=sys.stderr)
        print(f"python -m devkit demo: logs are in {directory}", file=sys.stderr)
        return 1
    print(report)
    if args.dir is None:
        shutil.rmtree(directory, ignore_errors=True)
    return 0


def _demo(directory: Path, args: argparse.Namespace) -> str:
    from devkit.devplane.certmanager import ensure_cert_manager_binary, install_crds, run_cert_manager
    from devkit.devplane.launcher import local_planes

    timeout: float = args.timeout
    with ExitStack() as stack:
        say("starting local host and virtual control planes (the first run builds them: several minutes)")
        planes = stack.enter_context(local_planes(directory))
        host_kubeconfig, virtual_kubeconfig = planes.kubeconfig("host"), planes.kubeconfig("virtual")
        say(f"planes ready: {host_kubeconfig} {virtual_kubeconfig}")

        say("building cert-manager if needed and installing its CRDs on the host")
        ensure_cert_manager_binary()
        install_crds(host_kubeconfig)
        stack.enter_context(run_cert_manager(host_kubeconfig, directory / "cert-manager.log"))
        say("cert-manager controller running against the host")

        host = KubeClient.from_kubeconfig(str(host_kubeconfig))
        virtual = KubeClient.from_kubeconfig(str(virtual_kubeconfig))
        _ensure_namespace(host, HOST_NAMESPACE)

        crdsync_log = directory / "crdsync.log"
        command = [
            sys.executable,
            "-m",
            "crdsync",
            "-v",
            "run",
            "--mapping",
            str(MAPPING),
            "--host-kubeconfig",
            str(host_kubeconfig),
            "--virtual-kubeconfig",
            str(virtual_kubeconfig),
            "--host-namespace",
            HOST_NAMESPACE,
            "--vcluster",
            VCLUSTER,
        ]
        say("starting: crdsync run --mapping mappings/cert-manager.yaml --host-namespace vc-demo --vcluster demo")
        with crdsync_log.open("ab") as log_file:
            process = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )
        stack.callback(_stop_process, process)

        say(f"host admin: shared SelfSigned ClusterIssuer {ISSUER} (label crdsync.io/shared=true)")
        cluster_issuers = _resource(host, CLUSTER_ISSUER, timeout)
        host.apply(
            cluster_issuers,
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "ClusterIssuer",
                "metadata": {"name": ISSUER, "labels": {"crdsync.io/shared": "true"}},
                "spec": {"selfSigned": {}},
            },
        )
        virtual_issuers = _resource(virtual, CLUSTER_ISSUER, timeout, crdsync_log)
        wait(
            f"ClusterIssuer {ISSUER} visible in the virtual cluster",
            lambda: virtual.get(virtual_issuers, None, ISSUER),
            timeout,
            crdsync_log,
        )

        say(f"tenant: Certificate {TENANT_NAMESPACE}/{CERT_NAME} for {DNS_NAME} in the virtual cluster")
        _ensure_namespace(virtual, TENANT_NAMESPACE)
        certificates = _resource(virtual, CERTIFICATE, timeout, crdsync_log)
        virtual.apply(
            certificates,
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "Certificate",
                "metadata": {"name": CERT_NAME, "namespace": TENANT_NAMESPACE},
                "spec": {
                    "secretName": CERT_NAME,
                    "dnsNames": [DNS_NAME],
                    "commonName": DNS_NAME,
                    "issuerRef": {"name": ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io"},
                },
            },
        )
        secrets = _resource(virtual, SECRET, timeout)
        secret = wait(
            f"Secret {TENANT_NAMESPACE}/{CERT_NAME} in the virtual cluster",
            lambda: _issued(virtual.get(secrets, TENANT_NAMESPACE, CERT_NAME)),
            timeout,
            crdsync_log,
        )
        certificate = wait(
            "Certificate Ready=True in the virtual cluster",
            lambda: _ready(virtual.get(certificates, TENANT_NAMESPACE, CERT_NAME)),
            timeout,
            crdsync_log,
        )
        report = _report(certificate, secret)
        if args.keep:
            print(report, flush=True)
            say(f"--keep: running until Ctrl-C. Try: kubectl --kubeconfig {virtual_kubeconfig} get certificates -A")
            _wait_for_interrupt()
            report = ""
        say("cleaning up")
    return report


def _resource(client: KubeClient, gvk: GroupVersionKind, timeout: float, log: Path | None = None) -> Any:
    def served() -> Any:
        client.invalidate_discovery()
        return client.resource_for(gvk)

    return wait(f"{gvk.kind} served by {client.host}", served, timeout, log)


def _ensure_namespace(client: KubeClient, name: str) -> None:
    res = client.resource_for(NAMESPACE)
    assert res is not None
    client.apply(res, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def _issued(secret: dict[str, Any] | None) -> dict[str, Any] | None:
    if secret and (secret.get("data") or {}).get("tls.crt"):
        return secret
    return None


def _ready(certificate: dict[str, Any] | None) -> dict[str, Any] | None:
    conditions = ((certificate or {}).get("status") or {}).get("conditions") or []
    if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
        return certificate
    return None


def _report(certificate: dict[str, Any], secret: dict[str, Any]) -> str:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    ready = next(c for c in certificate["status"]["conditions"] if c["type"] == "Ready")
    copy_name = host_name(Tenant(VCLUSTER, HOST_NAMESPACE), TENANT_NAMESPACE, CERT_NAME, Naming())
    return "\n".join(
        [
            "python -m devkit demo: the tenant's Certificate was issued by the host's cert-manager",
            f"  virtual Certificate : {TENANT_NAMESPACE}/{CERT_NAME}",
            f"  host copy           : {HOST_NAMESPACE}/{copy_name}",
            f"  Ready               : {ready['status']} ({ready.get('reason', '')}: {ready.get('message', '')})",
            f"  Secret (virtual)    : {TENANT_NAMESPACE}/{CERT_NAME} with tls.crt, tls.key",
            f"  subject             : {cert.subject.rfc4514_string()}",
            f"  DNS SANs            : {', '.join(sans)}",
            f"  valid until         : {cert.not_valid_after_utc.isoformat()}",
        ]
    )


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_interrupt() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
