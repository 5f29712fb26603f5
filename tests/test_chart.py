"""The Helm chart (charts/crdsync) and the image recipe (Containerfile), checked with the real helm.

helm is built from its pinned Go module like the control-plane binaries (devkit.devplane.build, cached; `make test`
builds it first through `python -m devkit build`, otherwise the first test here does, printing progress).
What is proven:
- the chart's default RBAC values are exactly `crdsync rbac --mapping mappings/cert-manager.yaml --cluster host -o
  values` (text and data), so an edit of the mapping or of crdsync.engine.rbac fails here until values.yaml is
  regenerated;
- `helm lint --strict` is clean, with and without the optional objects;
- the rendered Role and ClusterRole grant exactly what `crdsync rbac` derives for the same release (leader election's
  Lease included, limited to the vcluster's Lease), for the shipped mapping and for another mapping given with its
  own generated values; rules generated for another mapping make the install fail;
- the Deployment: replicas, leader election, probes, ports, hardening, and args whose files are the volumes mounted;
- the ConfigMap carries the mapping byte for byte;
- the Containerfile: multi-stage, locked and hash-checked, wheel-based, non-root. No container engine runs here, so
  it is checked as text (stages, sources, order), not built.

Failure modes: helm cannot be built (no `go`) -> the fixture fails with the build's message; never a skip.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from crdsync import cli
from crdsync.engine.rbac import rbac_objects
from crdsync.spec.load import load_files
from devkit.devplane.build import BuildError, find_binary

pytestmark = pytest.mark.timeout(1200)  # a cold helm build takes a few minutes on 2 cores

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "crdsync"
CERT_MANAGER = ROOT / "mappings" / "cert-manager.yaml"
WIDGETS = ROOT / "mappings" / "example-widgets.yaml"
RELEASE, NAMESPACE = "team-a", "vc-team-a"
FULLNAME = f"{RELEASE}-crdsync"
GENERATED_MARK = "# --- generated: do not edit by hand"
# Helm logs this (on stderr) for files/mapping.yaml, the link to mappings/cert-manager.yaml; `helm package` stores
# the file's contents, so a packaged chart has no link.
SYMLINK_NOTICE = re.compile(r"^walk\.go:\d+: found symbolic link in path: .*files/mapping\.yaml resolves to ")


@pytest.fixture(scope="module")
def helm(request: pytest.FixtureRequest) -> Path:
    capture = request.config.pluginmanager.getplugin("capturemanager")
    try:
        # A cold build prints progress for minutes: show it rather than look hung.
        with capture.global_and_fixture_disabled() if capture else _nothing():
            return find_binary("helm")
    except BuildError as exc:
        pytest.fail(f"helm could not be built: {exc}", pytrace=False)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def run_helm(helm: Path, *args: str | Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(helm), *map(str, args)], capture_output=True, text=True, timeout=120, check=False)
    if ok:
        assert done.returncode == 0, f"helm {' '.join(map(str, args))}: exit {done.returncode}\n{done.stderr}"
        noise = [line for line in done.stderr.splitlines() if line.strip() and not SYMLINK_NOTICE.match(line)]
        assert not noise, f"helm said on stderr: {noise}"
    return done


def render(helm: Path, *args: str | Path) -> list[dict[str, Any]]:
    out = run_helm(helm, "template", RELEASE, CHART, "--namespace", NAMESPACE, *args).stdout
    return [doc for doc in YAML(typ="safe").load_all(out) if doc]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} objects rendered"
    return found[0]


def canonical(rules: list[dict[str, Any]]) -> list[tuple[tuple[str, tuple[str, ...]], ...]]:
    """Rules as comparable data: order of rules and of keys does not matter, order inside a list does not either."""
    return sorted(tuple(sorted((k, tuple(sorted(v))) for k, v in rule.items())) for rule in rules)


def expected_rbac(mapping: Path, vcluster: str = RELEASE) -> dict[str, dict[str, Any]]:
    config = load_files([str(mapping)]).config
    assert config is not None
    objects = rbac_objects(config, host_namespace=NAMESPACE, vcluster=vcluster, name=FULLNAME)
    host = [o for o in objects if o["metadata"]["annotations"]["crdsync.io/cluster"] == "host"]
    return {o["kind"]: o for o in host}


def values_output(mapping: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    # A relative path, as the values file's header shows it to whoever regenerates it.
    assert cli.main(["rbac", "--mapping", str(mapping.relative_to(ROOT)), "--cluster", "host", "-o", "values"]) == 0
    return capsys.readouterr().out


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(ROOT)
    yield


# --- generated values --------------------------------------------------------------------------------------------


def test_default_rbac_values_are_crdsync_rbac_output_for_the_default_mapping(
    in_root: None, capsys: pytest.CaptureFixture[str]
) -> None:
    values_text = (CHART / "values.yaml").read_text()
    generated = values_output(CERT_MANAGER, capsys)
    regenerate = (
        "charts/crdsync/values.yaml drifted from `crdsync rbac`: replace everything after its generated-block marker "
        "with the output of `crdsync rbac --mapping mappings/cert-manager.yaml --cluster host -o values`"
    )
    assert GENERATED_MARK in values_text, regenerate
    assert values_text.split(GENERATED_MARK, 1)[1].split("\n", 1)[1] == generated, regenerate
    # Data too, and the default mapping the chart deploys is that file.
    values = YAML(typ="safe").load(values_text)
    assert values["rbac"] == YAML(typ="safe").load(generated)["rbac"]
    assert values["rbac"]["mappingSha256"] == hashlib.sha256(CERT_MANAGER.read_bytes()).hexdigest()
    assert (CHART / "files" / "mapping.yaml").resolve() == CERT_MANAGER.resolve()


def test_values_output_refuses_the_virtual_side_and_several_mappings(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["rbac", "--mapping", str(CERT_MANAGER), "-o", "values"]
    assert cli.main([*base, "--cluster", "virtual"]) == 1
    assert "host side only" in capsys.readouterr().err
    assert cli.main([*base, "--mapping", str(WIDGETS)]) == 1
    assert "exactly one --mapping" in capsys.readouterr().err


# --- helm lint and the rendered objects ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["--set", "metrics.serviceMonitor.enabled=true", "--set", "replicaCount=1"],
        ["--set", "leaderElection.enabled=false", "--set", "rbac.create=false", "--set", "serviceAccount.name=x"],
    ],
    ids=["defaults", "servicemonitor-single-replica", "no-rbac"],
)
def test_helm_lint_strict_is_clean(helm: Path, extra: list[str]) -> None:
    out = run_helm(helm, "lint", "--strict", CHART, *extra).stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in out
    assert not re.search(r"\[(WARNING|ERROR)\]", out), out


def test_rendered_rbac_is_exactly_crdsync_rbac_for_the_release(helm: Path) -> None:
    docs = render(helm)
    want = expected_rbac(CERT_MANAGER)
    role, cluster_role = one(docs, "Role"), one(docs, "ClusterRole")
    assert canonical(role["rules"]) == canonical(want["Role"]["rules"])
    assert canonical(cluster_role["rules"]) == canonical(want["ClusterRole"]["rules"])
    assert (role["metadata"]["name"], role["metadata"]["namespace"]) == (FULLNAME, NAMESPACE)
    assert cluster_role["metadata"]["name"] == want["ClusterRole"]["metadata"]["name"] == f"{FULLNAME}:{NAMESPACE}"
    # The Lease grant is limited to this vcluster's Lease, the name `crdsync run --leader-elect` uses.
    assert {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["crdsync-team-a"],
            "verbs": ["get", "update"]} in role["rules"]  # fmt: skip
    subject = {"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}
    for kind, role_kind in (("RoleBinding", "Role"), ("ClusterRoleBinding", "ClusterRole")):
        binding = one(docs, kind)
        assert binding["subjects"] == [subject]
        assert binding["roleRef"]["kind"] == role_kind
    assert one(docs, "ServiceAccount")["metadata"]["name"] == FULLNAME
    # Nothing in the chart writes outside the release namespace: only the read-only ClusterRole is cluster-wide.
    writes = {"create", "update", "patch", "delete", "deletecollection"}
    assert not any(writes & set(rule["verbs"]) for rule in cluster_role["rules"])
    assert all(d["metadata"].get("namespace", NAMESPACE) == NAMESPACE for d in docs)


def test_another_mapping_deploys_only_with_its_own_generated_rbac(
    helm: Path, tmp_path: Path, in_root: None, capsys: pytest.CaptureFixture[str]
) -> None:
    refused = run_helm(helm, "template", RELEASE, CHART, "--set-file", f"mappingFile={WIDGETS}", ok=False)
    assert refused.returncode != 0
    assert "rbac rules were generated for another mapping" in refused.stderr
    values = tmp_path / "rbac-values.yaml"
    values.write_text(values_output(WIDGETS, capsys))
    docs = render(helm, "--set-file", f"mappingFile={WIDGETS}", "-f", values)
    want = expected_rbac(WIDGETS)
    assert canonical(one(docs, "Role")["rules"]) == canonical(want["Role"]["rules"])
    assert canonical(one(docs, "ClusterRole")["rules"]) == canonical(want["ClusterRole"]["rules"])
    assert one(docs, "ConfigMap")["data"]["mapping.yaml"] == WIDGETS.read_text()
    # The inline form carries the same text.
    inline = tmp_path / "inline.yaml"
    YAML().dump({"mapping": WIDGETS.read_text()}, inline)
    docs = render(helm, "-f", inline, "-f", values)
    assert one(docs, "ConfigMap")["data"]["mapping.yaml"] == WIDGETS.read_text()


def test_configmap_is_the_default_mapping_byte_for_byte(helm: Path) -> None:
    config_map = one(render(helm), "ConfigMap")
    assert config_map["data"]["mapping.yaml"].encode() == CERT_MANAGER.read_bytes()


def test_deployment_runs_crdsync_in_cluster_hardened_and_probed(helm: Path) -> None:
    docs = render(helm)
    deployment = one(docs, "Deployment")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    assert spec["replicas"] == 2
    assert args[0] == "run"
    assert "--leader-elect" in args
    assert "--vcluster=team-a" in args
    assert "--metrics-bind-address=:8080" in args
    assert "--health-probe-bind-address=:8081" in args
    assert "--log-format=json" in args
    assert not any(a.startswith(("--host-kubeconfig", "--host-namespace")) for a in args), "in-cluster: no host flags"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 8080, "probes": 8081}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "probes"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "probes"}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]

    hardening = container["securityContext"]
    assert hardening["runAsNonRoot"] is True
    assert hardening["readOnlyRootFilesystem"] is True
    assert hardening["allowPrivilegeEscalation"] is False
    assert hardening["capabilities"] == {"drop": ["ALL"]}
    assert hardening["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["serviceAccountName"] == FULLNAME

    # The files the args name are the volumes mounted: the mapping ConfigMap and vcluster's kubeconfig Secret.
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    flag = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in args if "=" in a}
    mapping_cm = volumes["mapping"]["configMap"]
    assert flag["--mapping"] == f"{mounts['mapping']}/{mapping_cm['items'][0]['path']}"
    assert mapping_cm["name"] == one(docs, "ConfigMap")["metadata"]["name"]
    secret = volumes["virtual-kubeconfig"]["secret"]
    assert secret["secretName"] == "vc-team-a"
    assert secret["items"] == [{"key": "config", "path": "config"}]
    assert flag["--virtual-kubeconfig"] == f"{mounts['virtual-kubeconfig']}/config"
    assert "tmp" in mounts and "emptyDir" in volumes["tmp"]

    service = one(docs, "Service")
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}]
    assert service["spec"]["selector"] == spec["selector"]["matchLabels"]
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"] == {"minAvailable": 1, "selector": spec["selector"]}
    assert not [d for d in docs if d["kind"] == "ServiceMonitor"]


def test_vcluster_names_the_secret_lease_and_host_copies(helm: Path) -> None:
    docs = render(helm, "--set", "vcluster.name=tenant-7")
    args = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--vcluster=tenant-7" in args
    secret = next(v for v in one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"] if "secret" in v)
    assert secret["secret"]["secretName"] == "vc-tenant-7"
    assert any(r.get("resourceNames") == ["crdsync-tenant-7"] for r in one(docs, "Role")["rules"])
    docs = render(helm, "--set", "virtualKubeconfig.secretName=kc", "--set", "virtualKubeconfig.key=kubeconfig")
    secret = next(v for v in one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"] if "secret" in v)
    assert secret["secret"] == {"secretName": "kc", "items": [{"key": "kubeconfig", "path": "config"}]}


def test_servicemonitor_and_single_replica(helm: Path) -> None:
    docs = render(helm, "--set", "metrics.serviceMonitor.enabled=true", "--set", "replicaCount=1")
    monitor = one(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    service_labels = one(docs, "Service")["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service_labels.items()
    assert not [d for d in docs if d["kind"] == "PodDisruptionBudget"], "minAvailable 1 of 1 would block drains"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--set", "vcluster.name=Team_A"], "/vcluster/name"),
        (["--set", "colour=blue"], "colour"),
        (["--set", "rbac.mappingSha256=abc"], "/rbac/mappingSha256"),
        (["--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.service.enabled=false"], "needs metrics"),
    ],
)
def test_invalid_values_are_refused(helm: Path, extra: list[str], message: str) -> None:
    done = run_helm(helm, "template", RELEASE, CHART, *extra, ok=False)
    assert done.returncode != 0
    assert message in done.stderr


# --- Containerfile --------------------------------------------------------------------------------------------------


def containerfile_stages() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(base image, stage name, [(INSTRUCTION, arguments)]) per FROM, continuation lines joined, comments dropped."""
    text = (ROOT / "Containerfile").read_text()
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    stages: list[tuple[str, str, list[tuple[str, str]]]] = []
    for line in joined.splitlines():
        if not line.strip():
            continue
        instruction, _, rest = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            image, _, name = rest.partition(" AS ")
            stages.append((image.strip(), name.strip(), []))
        elif stages:
            stages[-1][2].append((instruction.upper(), " ".join(rest.split())))
    return stages


def test_containerfile_builds_from_the_wheel_and_lock_and_runs_non_root() -> None:
    stages = containerfile_stages()
    assert [name for _, name, _ in stages] == ["build", "runtime"]
    text = (ROOT / "Containerfile").read_text()
    assert "ARG PYTHON_IMAGE=docker.io/library/python:3.11-slim" in text
    assert {image for image, _, _ in stages} == {"${PYTHON_IMAGE}"}
    build, runtime = stages[0][2], stages[1][2]
    runs = [args for op, args in build if op == "RUN"]
    # Every locked distribution hash-checked; crdsync's wheel built with the locked setuptools; the venv resolved from
    # those wheels only (--no-index) and consistent.
    assert any("--require-hashes" in r and "-r requirements.lock" in r for r in runs)
    assert any("pip wheel" in r and "--no-build-isolation" in r and "-w /dist ." in r for r in runs)
    install = next(r for r in runs if "/dist/crdsync-*.whl" in r)
    assert "--no-index --find-links /wheelhouse" in install and "pip check" in install
    # Every COPY source exists in the repository, and the lock is copied before it is used.
    copies = [args.split() for op, args in build if op == "COPY"]
    for sources in (c[:-1] for c in copies):
        for source in sources:
            assert (ROOT / source).exists(), source
    ops = [(op, args) for op, args in build]
    assert ops.index(("COPY", "requirements.lock ./")) < next(
        i for i, (o, a) in enumerate(ops) if "requirements" in a and o == "RUN"
    )
    # Runtime: only the venv from the build stage, no package installs, a numeric non-root user, crdsync first.
    assert ("COPY", "--from=build /opt/crdsync /opt/crdsync") in runtime
    assert not [args for op, args in runtime if op == "RUN"]
    users = [args for op, args in runtime if op == "USER"]
    assert users == ["65532:65532"]
    assert [args for op, args in runtime if op == "ENTRYPOINT"] == ['["crdsync"]']
    assert any(op == "ENV" and "PATH=/opt/crdsync/bin:$PATH" in args for op, args in runtime)
    # The lock was generated for the image's Python.
    assert "with Python 3.11" in (ROOT / "requirements.lock").read_text()
