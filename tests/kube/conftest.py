"""Fixtures of the kube tests that talk HTTP: a scripted local apiserver and a client of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crdsync.kube.client import KubeClient

from .stub import StubServer, client_for


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture
def client(stub: StubServer) -> KubeClient:
    return client_for(stub.url, token="t0ken", max_retries=2, request_timeout=5)
