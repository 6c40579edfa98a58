"""Suite-wide fixtures. Area-specific fixtures live in each test folder's conftest.py."""

from __future__ import annotations

import pytest

from components.offline import ProgramRun, run_program


@pytest.fixture(scope="session")
def dev_run() -> ProgramRun:
    """The real program with the committed Pulumi.dev.yaml, under mocks."""
    return run_program("dev")


@pytest.fixture(scope="session")
def prod_run() -> ProgramRun:
    """The real program with the committed Pulumi.prod.yaml, under mocks."""
    return run_program("prod")
