"""crdsync as deployed by its Helm chart, on the real planes with the real cert-manager.

What a cluster would do with `helm install`, done by hand where the planes have no kubelet or controllers:
1. `helm template` renders charts/crdsync for one virtual cluster (release team-d in host namespace vc-team-d), and
   every object is server-side applied to the host apiserver with strict field validation: the real API must accept
   each one (a rejection, or an unknown field, fails the test).
2. As vcluster would, the host namespace holds Secret vc-team-d with the virtual cluster's kubeconfig under `config`.
3. A token for the chart's ServiceAccount is minted with the TokenRequest API, as the kubelet does for a pod.
4. A mini kubelet reads the rendered Deployment: each volume (the mapping ConfigMap, the kubeconfig Secret, the
   emptyDir) is fetched from the host apiserver and written to a temp directory standing for its mount path, and the
   container's args and env are used exactly, with only mount-path prefixes remapped. `crdsync run` starts in-cluster
   style: no host kubeconfig, a service-account directory (token, ca.crt, namespace) injected through
   kube.incluster.SERVICE_ACCOUNT_DIR, KUBERNETES_SERVICE_HOST/PORT pointing at the host apiserver.
5. A tenant Certificate in the virtual cluster, issued by a shared SelfSigned ClusterIssuer, becomes Ready through it.
6. As the ServiceAccount, writes outside the tenant's namespace are refused by the apiserver itself with 403 (RBAC
   is a second wall behind crdsync's own checks), while the same write inside it is allowed.
7. The chart's probe and metrics ports: /readyz answers 200 as a standby, 503 while leading before the initial sync is
   complete and 200 after; /healthz 200; /metrics parses with prometheus-client's parser and has counted reconciles;
   every log line is JSON (the chart's --log-format=json).

Failure modes: the planes or cert-manager cannot start (fixture failure with log tails); crdsync dies (its log tail);
a timeout names what it waited for and shows crdsync's log.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from devkit.devplane.build import BuildError, find_binary
from devkit.devplane.certmanager import CertManager
from devkit.devplane.launcher import Planes
from e2e.harness import ensure_namespace, get_or_none, host_name_for
from e2e.helpers import CM, REPO, RestClient, Wait, certificate, cluster_issuer, cluster_issuer_ref, ready, wait_served

pytestmark = pytest.mark.timeout(1200)

CHART = REPO / "charts" / "crdsync"
RELEASE = "team-d"
HOST_NS = "vc-team-d"
FULLNAME = f"{RELEASE}-crdsync"
ISSUER = "deployed-selfsigned"  # its own name: ClusterIssuers are cluster-wide and other modules create theirs
KUBE_VERSION = "v1.36.3"  # the planes' apiserver (devkit.devplane.build.KUBE_VERSION)


# --- helpers ------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def resource_paths(client: RestClient) -> dict[tuple[str, str], tuple[str, bool]]:
    """(apiVersion, kind) -> (collection path without namespace, namespaced), from the apiserver's discovery."""
    found: dict[tuple[str, str], tuple[str, bool]] = {}
    versions = ["v1", *(v["groupVersion"] for g in client.get("/apis")["groups"] for v in g["versions"])]
    for group_version in versions:
        base = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
        for resource in client.get(base)["resources"]:
            if "/" not in resource["name"]:
                found[(group_version, resource["kind"])] = (f"{base}/{resource['name']}", resource["namespaced"])
    return found


def object_path(paths: dict[tuple[str, str], tuple[str, bool]], obj: dict[str, Any]) -> str:
    collection, namespaced = paths[(obj["apiVersion"], obj["kind"])]
    meta = obj["metadata"]
    if namespaced:
        prefix, plural = collection.rsplit("/", 1)
        return f"{prefix}/namespaces/{meta['namespace']}/{plural}/{meta['name']}"
    return f"{collection}/{meta['name']}"


class TokenClient:
    """Requests to the host apiserver as a bearer token (the chart's ServiceAccount), answering (status, body)."""

    def __init__(self, base_url: str, ca_cert: Path, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._context = ssl.create_default_context(cafile=str(ca_cert))
        self._token = token

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method)
        req.add_header("Authorization", f"Bearer {self._token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30, context=self._context) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, ""


# In-cluster credentials come from kube.incluster.SERVICE_ACCOUNT_DIR (a module constant, read at call time): point
# it at the test's directory, then run the CLI with the Deployment's args unchanged.
_LAUNCHER = """
import sys
from pathlib import Path
from crdsync.kube import incluster
incluster.SERVICE_ACCOUNT_DIR = Path(sys.argv[1])
from crdsync.cli import main
sys.exit(main(sys.argv[2:]))
"""


@dataclass
class Deployed:
    docs: list[dict[str, Any]]
    deployment: dict[str, Any]
    args: list[str]
    env: dict[str, str]
    token: str
    process: subprocess.Popen[bytes]
    log_path: Path
    probe_port: int
    metrics_port: int
    readyz: list[tuple[int, str]]  # /readyz answers in order, repeats dropped

    def log_tail(self, lines: int = 80) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])


# --- the deployment ------------------------------------------------------------------------------------------------


def render(helm: Path, probe_port: int, metrics_port: int) -> list[dict[str, Any]]:
    command = [
        str(helm), "template", RELEASE, str(CHART), "--namespace", HOST_NS, "--kube-version", KUBE_VERSION,
        # Ports of the test's choosing: the pod's ports are the host's here, shared with whatever else runs.
        "--set", f"probes.port={probe_port}", "--set", f"metrics.port={metrics_port}",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return [doc for doc in YAML(typ="safe").load_all(done.stdout) if doc]


def apply_all(client: RestClient, docs: list[dict[str, Any]]) -> None:
    """Server-side apply each rendered object with strict field validation; any rejection fails the test."""
    paths = resource_paths(client)
    rejected: list[str] = []
    for doc in docs:
        path = object_path(paths, doc)
        try:
            client.request(
                "PATCH",
                path,
                doc,
                query={"fieldManager": "helm", "fieldValidation": "Strict", "force": "true"},
                content_type="application/apply-patch+yaml",
            )
        except Exception as exc:  # conftest's ApiStatusError
            rejected.append(f"{doc['kind']} {doc['metadata']['name']}: {exc}")
    assert not rejected, "the host apiserver rejected rendered objects:\n" + "\n".join(rejected)


def materialize_volumes(client: RestClient, pod: dict[str, Any], root: Path) -> dict[str, Path]:
    """What the kubelet does with the pod's volumes, into `root`: mount path -> local directory."""
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts: dict[str, Path] = {}
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        local = root / mount["name"]
        local.mkdir(parents=True)
        if "configMap" in volume:
            source = volume["configMap"]
            data = client.get(f"/api/v1/namespaces/{HOST_NS}/configmaps/{source['name']}")["data"]
            for item in source["items"]:
                (local / item["path"]).write_text(data[item["key"]])
        elif "secret" in volume:
            source = volume["secret"]
            data = client.get(f"/api/v1/namespaces/{HOST_NS}/secrets/{source['secretName']}")["data"]
            for item in source["items"]:
                (local / item["path"]).write_bytes(base64.b64decode(data[item["key"]]))
        else:
            assert "emptyDir" in volume, f"volume {mount['name']}: a kind this test does not mount"
        mounts[mount["mountPath"]] = local
    return mounts


def remap(arg: str, mounts: dict[str, Path]) -> str:
    """`--flag=<mount path>/file` -> `--flag=<local dir>/file`, by the longest mount path; anything else unchanged."""
    flag, sep, value = arg.partition("=")
    for mount_path in sorted(mounts, key=len, reverse=True):
        if sep and value.startswith(f"{mount_path}/"):
            return f"{flag}={mounts[mount_path]}{value[len(mount_path) :]}"
    return arg


@pytest.fixture(scope="module")
def helm(request: pytest.FixtureRequest) -> Path:
    capture = request.config.pluginmanager.getplugin("capturemanager")
    try:
        if capture:
            with capture.global_and_fixture_disabled():
                return find_binary("helm")
        return find_binary("helm")
    except BuildError as exc:
        pytest.fail(f"helm could not be built: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def deployed(
    planes: Planes,
    cert_manager: CertManager,
    host_client: RestClient,
    helm: Path,
    wait_for: Wait,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployed]:
    work = tmp_path_factory.mktemp("deployed")
    virtual_kubeconfig = planes.add_apiserver("deployed")
    ensure_namespace(host_client, HOST_NS)
    # What vcluster writes into its host namespace: the virtual cluster's kubeconfig, Secret vc-<name>, key config.
    host_client.create(
        f"/api/v1/namespaces/{HOST_NS}/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"vc-{RELEASE}", "namespace": HOST_NS},
            "data": {"config": base64.b64encode(virtual_kubeconfig.read_bytes()).decode()},
        },
    )

    probe_port, metrics_port = free_port(), free_port()
    docs = render(helm, probe_port, metrics_port)
    apply_all(host_client, docs)
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    # The apiserver stored the Deployment as rendered (strict validation already refused unknown fields).
    stored = host_client.get(f"/apis/apps/v1/namespaces/{HOST_NS}/deployments/{FULLNAME}")
    assert (
        stored["spec"]["template"]["spec"]["containers"][0]["args"]
        == deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    )

    # The kubelet's part: a bound token for the pod's ServiceAccount, and the service-account directory.
    pod = deployment["spec"]["template"]["spec"]
    service_account = pod["serviceAccountName"]
    token = host_client.create(
        f"/api/v1/namespaces/{HOST_NS}/serviceaccounts/{service_account}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}},
    )["status"]["token"]
    sa_dir = work / "serviceaccount"
    sa_dir.mkdir()
    (sa_dir / "token").write_text(token)
    (sa_dir / "ca.crt").write_bytes(planes.ca_cert.read_bytes())
    (sa_dir / "namespace").write_text(HOST_NS)

    mounts = materialize_volumes(host_client, pod, work / "volumes")
    (container,) = pod["containers"]
    args = [remap(a, mounts) for a in container["args"]]
    env_list = container.get("env") or []
    assert all("value" in e for e in env_list), "env from valueFrom: not something this test resolves"
    env = {e["name"]: e["value"] for e in env_list}

    api = urllib.parse.urlsplit(planes.url("host"))
    process_env = {
        # Only what a container has: no kubeconfig, no planes' admin credentials.
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(REPO),
        "KUBERNETES_SERVICE_HOST": api.hostname or "",
        "KUBERNETES_SERVICE_PORT": str(api.port),
        **env,
    }
    log_path = work / "crdsync.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(sa_dir), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=process_env,
            cwd=work,
            start_new_session=True,
        )
    readyz: list[tuple[int, str]] = []
    # /readyz from the start, each change of answer recorded: under --leader-elect a standby is ready (200), the
    # leader is not until its initial sync is complete (503), then is (200). Stop at a 200 that follows a 503.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        status, body = http_get(f"http://127.0.0.1:{probe_port}/readyz")
        answer = (status, body.strip().splitlines()[0] if body.strip() else "")
        if status and (not readyz or readyz[-1] != answer):
            readyz.append(answer)
        if status == 200 and any(code == 503 for code, _ in readyz):
            break
        time.sleep(0.02)
    result = Deployed(
        docs=docs,
        deployment=deployment,
        args=args,
        env=env,
        token=token,
        process=process,
        log_path=log_path,
        probe_port=probe_port,
        metrics_port=metrics_port,
        readyz=readyz,
    )
    try:
        yield result
    finally:
        process.terminate()
        try:
            code = process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        assert code == 0, f"crdsync exited {code}:\n{result.log_tail()}"


# --- tests --------------------------------------------------------------------------------------------------------


def test_chart_objects_are_accepted_and_crdsync_runs_exactly_the_deployment_command(
    deployed: Deployed, host_client: RestClient
) -> None:
    kinds = sorted(d["kind"] for d in deployed.docs)
    assert kinds == sorted(
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Deployment",
            "PodDisruptionBudget",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
        ]
    )
    for doc in deployed.docs:  # every one is there, as applied
        path = object_path(resource_paths(host_client), doc)
        assert get_or_none(host_client, path) is not None, path
    # In-cluster: nothing names a host kubeconfig or namespace; leader election on, as the chart sets it.
    assert deployed.args[0] == "run"
    assert "--leader-elect" in deployed.args
    assert not any(a.startswith(("--host-kubeconfig", "--host-namespace")) for a in deployed.args)
    assert deployed.process.poll() is None, deployed.log_tail()


def test_tenant_certificate_becomes_ready_through_the_deployed_crdsync(
    deployed: Deployed, planes: Planes, host_client: RestClient, client_for: Callable[[str], RestClient], wait_for: Wait
) -> None:
    virtual = client_for("deployed")

    def waited(condition: Callable[[], bool], timeout: float, what: str) -> None:
        try:
            wait_for(condition, timeout, what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- crdsync log ---\n{deployed.log_tail()}") from None

    wait_served(virtual, CM, ["certificates"], waited, " in virtual", timeout=120)
    if get_or_none(host_client, f"{CM}/clusterissuers/{ISSUER}") is None:
        host_client.create(f"{CM}/clusterissuers", cluster_issuer(ISSUER, shared=True))
    waited(lambda: get_or_none(virtual, f"{CM}/clusterissuers/{ISSUER}") is not None, 60, "shared issuer in virtual")
    ns = "web"
    ensure_namespace(virtual, ns)
    virtual.create(
        f"{CM}/namespaces/{ns}/certificates",
        certificate("site", ns, cluster_issuer_ref(ISSUER), "site.example.test"),
    )
    waited(
        lambda: ready(virtual, f"{CM}/namespaces/{ns}/certificates/site"), 120, "Certificate web/site Ready in virtual"
    )
    secret = get_or_none(virtual, f"/api/v1/namespaces/{ns}/secrets/site-tls")
    assert secret is not None and secret["data"]["tls.crt"], "issued Secret imported into virtual"
    # The host copy lives in the release namespace, written by the chart's ServiceAccount (no other host identity).
    copy = host_client.get(f"{CM}/namespaces/{HOST_NS}/certificates/{host_name_for(RELEASE, HOST_NS, ns, 'site')}")
    assert copy["spec"]["issuerRef"]["name"] == ISSUER
    lease = host_client.get(f"/apis/coordination.k8s.io/v1/namespaces/{HOST_NS}/leases/crdsync-{RELEASE}")
    assert lease["spec"]["holderIdentity"], "the deployed crdsync leads through the chart's Lease grant"


def test_rbac_is_a_second_wall_the_apiserver_refuses_writes_outside_the_tenant_namespace(
    deployed: Deployed, planes: Planes
) -> None:
    as_crdsync = TokenClient(planes.url("host"), planes.ca_cert, deployed.token)

    def secret(namespace: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "wall-probe", "namespace": namespace},
            "stringData": {"x": "y"},
        }

    # The same write the Role allows in the tenant's namespace (the token works, the grant is namespaced) ...
    status, _ = as_crdsync.request("POST", f"/api/v1/namespaces/{HOST_NS}/secrets", secret(HOST_NS))
    assert status == 201
    assert as_crdsync.request("DELETE", f"/api/v1/namespaces/{HOST_NS}/secrets/wall-probe")[0] == 200
    # ... is refused by the apiserver everywhere else, whatever crdsync's own checks would say.
    status, body = as_crdsync.request("POST", "/api/v1/namespaces/default/secrets", secret("default"))
    assert status == 403, body
    assert body["reason"] == "Forbidden"
    assert f"system:serviceaccount:{HOST_NS}:{FULLNAME}" in body["message"]
    print(f"\n403 evidence: {body['message']}")
    refused = {
        "list secrets cluster-wide": ("GET", "/api/v1/secrets", None),
        "create a namespace": ("POST", "/api/v1/namespaces", {"metadata": {"name": "crdsync-wall"}}),
        "delete a shared ClusterIssuer": ("DELETE", f"{CM}/clusterissuers/{ISSUER}", None),
        "create a Certificate in kube-system": (
            "POST",
            f"{CM}/namespaces/kube-system/certificates",
            {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "x"}},
        ),
        "read another tenant's Lease": (
            "GET",
            "/apis/coordination.k8s.io/v1/namespaces/vc-cm/leases/crdsync-cm1",
            None,
        ),
        "delete the CRD it mirrors": (
            "DELETE",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/certificates.cert-manager.io",
            None,
        ),
    }
    for what, (method, path, body_) in refused.items():
        code, answer = as_crdsync.request(method, path, body_)
        assert code == 403, f"{what}: HTTP {code} {answer}"


def test_probes_and_metrics(deployed: Deployed) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    answers = deployed.readyz
    codes = [code for code, _ in answers]
    assert 503 in codes, f"/readyz never answered 503 (initial sync pending): {answers}\n{deployed.log_tail()}"
    assert codes[-1] == 200 and codes.index(503) < len(codes) - 1, f"/readyz not 200 after the initial sync: {answers}"
    assert http_get(f"http://127.0.0.1:{deployed.probe_port}/healthz")[0] == 200
    status, text = http_get(f"http://127.0.0.1:{deployed.metrics_port}/metrics")
    assert status == 200
    families = {family.name: family for family in text_string_to_metric_families(text)}
    reconciles = families.get("controller_runtime_reconcile") or families.get("controller_runtime_reconcile_total")
    assert reconciles is not None, sorted(families)
    assert sum(s.value for s in reconciles.samples if s.name.endswith("_total")) > 0, "reconciles counted"
    print(f"\n/readyz answers in order: {answers}")
    # The chart asks for JSON logs: every line crdsync wrote is one JSON object.
    if "--log-format=json" in deployed.args:
        lines = [line for line in deployed.log_path.read_text().splitlines() if line.strip()]
        assert lines
        for line in lines:
            assert isinstance(json.loads(line), dict), line
