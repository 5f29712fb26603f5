"""`python -m devkit build`: build (or find in the cache) every Go binary `make test` needs, and print their paths.

What `make test` runs before pytest, so a cold build (minutes) shows progress outside the test timeouts: etcd,
kube-apiserver, helm, toxiproxy (the chaos tests), the cert-manager and external-secrets controllers. Benchmark-only
tools (cr-copier) are built when a benchmark asks for them. A warm cache makes this a matter of seconds.
"""

from __future__ import annotations

import argparse

from devkit.commands.planes import guarded
from devkit.devplane.build import find_binary
from devkit.devplane.certmanager import ensure_cert_manager_binary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def _build() -> int:
    for name in ("etcd", "kube-apiserver", "helm", "toxiproxy"):
        print(f"{name}={find_binary(name)}")
    print(f"cert-manager-controller={ensure_cert_manager_binary()}")
    print(f"external-secrets-controller={find_binary('external-secrets-controller')}")
    return 0


def run(args: argparse.Namespace) -> int:
    return guarded("build", None, _build)
