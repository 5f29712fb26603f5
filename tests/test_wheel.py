"""A built wheel is a working crdsync on its own: schema and shipped mappings inside, dependencies from the lock.

Builds crdsync's wheel from a copy of the source (the package, the top-level schemas/ and mappings/, pyproject.toml,
README.md; symlinks copied as symlinks, so the build follows crdsync/resources' links exactly as in the checkout)
with this venv's setuptools and no build isolation, installs it into a fresh venv whose dependencies come from
requirements.lock (hashes checked; pip's cache makes that quick), and runs that venv's `crdsync validate` and
`crdsync plan` from a directory outside the repository, with nothing from the checkout on the path: only what the
wheel carries can make them work. The developer kit (devkit: local planes, demo, benchmarks, their Go modules) is in
the copied source too, and must not be in the wheel.

Needs: network or a warm pip cache for the lock's packages (the `make` targets install the same lock first).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = {"schemas": "*.json", "mappings": "*.yaml"}

CERTIFICATE = textwrap.dedent(
    """\
    apiVersion: cert-manager.io/v1
    kind: Certificate
    metadata: {name: app-tls, namespace: app}
    spec:
      secretName: app-tls
      dnsNames: [app.example.test]
      issuerRef: {name: shared-selfsigned, kind: ClusterIssuer, group: cert-manager.io}
    """
)


def _env() -> dict[str, str]:
    # Nothing may put the checkout (or anything else) on the fresh venv's path.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=_env(), capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def _copy_source(to: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".*cache*")
    for package in ("crdsync", "devkit"):
        shutil.copytree(ROOT / package, to / package, symlinks=True, ignore=ignore)
    for directory in SHIPPED:
        shutil.copytree(ROOT / directory, to / directory)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, to / name)


@pytest.mark.timeout(300)
def test_the_wheel_validates_and_plans_from_outside_the_checkout(tmp_path: Path) -> None:
    source, dist, venv, work = (tmp_path / d for d in ("src", "dist", "venv", "work"))
    _copy_source(source)
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-build-isolation",
        "--no-deps",
        "-w",
        dist,
        source,
        cwd=tmp_path,
    )
    (wheel,) = dist.glob("crdsync-*.whl")

    # The schema and every mapping are in the wheel as real files with the top-level files' bytes (no drift, no links).
    with zipfile.ZipFile(wheel) as archive:
        for directory, pattern in SHIPPED.items():
            originals = sorted((ROOT / directory).glob(pattern))
            assert originals
            for original in originals:
                info = archive.getinfo(f"crdsync/resources/{directory}/{original.name}")
                assert info.external_attr >> 28 != 0o12, f"{info.filename} is a symlink in the wheel"
                assert archive.read(info) == original.read_bytes(), f"{info.filename} differs from {original}"
        # The product only: no developer kit, no Go module of the local planes.
        names = archive.namelist()
        assert any(name.startswith("crdsync/commands/") for name in names)
        shipped_dev = [n for n in names if n.startswith("devkit/") or n.endswith((".go", "go.mod", "go.sum"))]
        assert shipped_dev == []

    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", "--require-hashes", "-r", ROOT / "requirements.lock", cwd=tmp_path)
    _run(python, "-m", "pip", "install", "-q", "--no-deps", wheel, cwd=tmp_path)
    _run(python, "-m", "pip", "check", cwd=tmp_path)

    # Run where the checkout cannot help: a directory outside it, holding copies of the mappings the wheel ships.
    work.mkdir()
    where = _run(
        python,
        "-c",
        "import crdsync, crdsync.resources as r, crdsync.spec.schema as s;"
        "print(crdsync.__file__); print(s.schema_file()); print(*r.mapping_paths(), sep='\\n')",
        cwd=work,
    ).stdout.splitlines()
    site_packages = venv.resolve() / "lib"
    assert all(Path(line).resolve().is_relative_to(site_packages) for line in where), where
    (work / "mappings").mkdir()
    for shipped in where[2:]:
        shutil.copy(shipped, work / "mappings")
    (work / "cert.yaml").write_text(CERTIFICATE)
    crdsync = venv / "bin" / "crdsync"

    usage = _run(crdsync, "--help", cwd=work).stdout
    # argparse lists one command per line, four spaces in; wrapped help continues further in.
    listed = {m.group(1) for m in re.finditer(r"^    (\S+)", usage.split("COMMAND\n", 1)[1], re.MULTILINE)}
    assert listed == {"validate", "plan", "run", "gc", "convert", "rbac"}, usage

    validated = _run(crdsync, "validate", "mappings/cert-manager.yaml", "mappings/example-widgets.yaml", cwd=work)
    assert "valid: 2 file(s)" in validated.stdout, validated.stdout

    planned = _run(
        crdsync,
        "plan",
        "--mapping",
        "mappings/cert-manager.yaml",
        "--host-namespace",
        "vc-team-a",
        "--vcluster",
        "team-a",
        "-f",
        "cert.yaml",
        cwd=work,
    )
    # The README's promise: the host Certificate is renamed into vc-team-a, secretName translated the same way, the
    # ClusterIssuer name kept, and the Secret imported back as app/app-tls.
    assert "host <- virtual Certificate app/app-tls (Certificate vc-team-a/app-tls-x-app-x-team-a-" in planned.stdout
    assert "secretName: app-tls-x-app-x-team-a-" in planned.stdout
    assert "name: shared-selfsigned" in planned.stdout
    assert "virtual <- host Secret vc-team-a/app-tls-x-app-x-team-a-" in planned.stdout
    assert "1 translated, 1 followers, 0 unmatched, 0 errors" in planned.stderr


def test_package_resources_are_the_top_level_files() -> None:
    # In a checkout the package's resources are links to schemas/ and mappings/: one copy of each file, no drift.
    from crdsync import resources
    from crdsync.spec.schema import SCHEMA_FILENAME, schema_file

    assert schema_file() == (ROOT / "schemas" / SCHEMA_FILENAME).resolve()
    assert resources.schema_path(SCHEMA_FILENAME).resolve() == (ROOT / "schemas" / SCHEMA_FILENAME).resolve()
    shipped = [path.resolve() for path in resources.mapping_paths()]
    assert shipped == sorted(path.resolve() for path in (ROOT / "mappings").glob("*.yaml"))
    assert resources.mapping_path("cert-manager.yaml").resolve() == (ROOT / "mappings" / "cert-manager.yaml").resolve()
