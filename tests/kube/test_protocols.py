"""The real client and informer satisfy the Protocols the engine, events and leases are typed against (a mypy
check: these assignments fail type checking, not at run time, when the surfaces drift apart)."""

from __future__ import annotations

from crdsync.kube.client import KubeClient
from crdsync.kube.informer import Informer
from crdsync.kube.protocols import ClusterClient, ClusterInformer, EventClient, LeaseClient

from .stub import client_for


def _client(client: KubeClient) -> ClusterClient:
    return client


def _events(client: KubeClient) -> EventClient:
    return client


def _leases(client: KubeClient) -> LeaseClient:
    return client


def _informer(informer: Informer) -> ClusterInformer:
    return informer


def test_the_real_client_and_informer_are_the_protocols_at_run_time_too() -> None:
    client = client_for("http://127.0.0.1:9")
    try:
        for check in (_client, _events, _leases):
            assert check(client) is client
        assert callable(client.with_write_gate) and client.with_write_gate(None) is not client
    finally:
        client.close()
