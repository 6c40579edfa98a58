"""Fixtures for the gateway tests: the Firestore emulator, fake backends and running gateways."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from google.cloud import firestore

from inference.gateway.app import Overrides
from tests.gateway.fakes import FakeState, build_app
from tests.gateway.harness import RunningGateway, ServerThread, gateway_settings, start_gateway
from tests.support.firestore_emulator import FirestoreEmulator, firestore_emulator  # noqa: F401


@dataclass
class FakeBackends:
    state: FakeState
    url: str


@pytest.fixture
def fake() -> Iterator[FakeBackends]:
    state = FakeState()
    server = ServerThread(build_app(state)).start()
    try:
        yield FakeBackends(state, server.url)
    finally:
        server.stop()


@pytest.fixture
def project(firestore_emulator: FirestoreEmulator) -> str:  # noqa: F811
    """A fresh emulator project per test: tests never see each other's documents."""
    return firestore_emulator.new_project()


@pytest.fixture
def db(project: str) -> Iterator[firestore.Client]:
    client = firestore.Client(project=project)
    yield client
    client.close()


GatewayFactory = Callable[..., RunningGateway]


@pytest.fixture
def gateways(fake: FakeBackends, project: str) -> Iterator[GatewayFactory]:
    started: list[RunningGateway] = []

    def start(overrides: Overrides | None = None, **changes: Any) -> RunningGateway:
        running = start_gateway(gateway_settings(fake.url, project, **changes), overrides)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def gateway(gateways: GatewayFactory) -> RunningGateway:
    return gateways()
