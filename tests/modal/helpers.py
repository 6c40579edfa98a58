"""Configuring Modal providers as the engine does: through `configure()`, never through inputs."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from tests.fakes.modal_server import FakeModal

CREDENTIALS_KEY = "modelstack:credentials"


def credentials(fake: FakeModal) -> dict[str, str]:
    return {"modalTokenId": fake.token_id, "modalTokenSecret": fake.token_secret}


def stack_config(fake: FakeModal) -> dict[str, Any]:
    return {CREDENTIALS_KEY: json.dumps(credentials(fake))}


def configured(provider: Any, fake: FakeModal | None, **overrides: str) -> Any:
    """`provider` after configure(), as the provider server does it, with the fake's token."""
    creds = credentials(fake) if fake is not None else {}
    creds.update(overrides)
    provider.configure(SimpleNamespace(config={CREDENTIALS_KEY: json.dumps(creds)}))
    return provider
