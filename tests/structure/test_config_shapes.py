"""A value of the wrong type anywhere in the config gets the shape it should have, never the name
of one of our classes (a user never sees `SecretSpec` or `ModalVolumeSettings`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components import config
from components.config import ConfigError, StrictModel, validate

REPO = Path(__file__).resolve().parents[2]
ENDPOINT = "models.m.endpoint"

# Every config section, reached by a path; `{}` stands in for a mapping key's value.
SECTION_PATHS = [
    "budget", "credentials", "credentials.s3.r2", "secrets.s", "buckets.b", "firestore", "redis",
    "models.m", ENDPOINT, f"{ENDPOINT}.gpu", f"{ENDPOINT}.workers", f"{ENDPOINT}.scaling",
    f"{ENDPOINT}.modal", f"{ENDPOINT}.modal.volumes./data", f"{ENDPOINT}.runpod", "models.m.usage",
    "models.m.mirror", "services.api", "services.api.probes", "services.api.probes.startup",
    "services.api.volumes./cache", "models", "services",
]
BASES = {
    "models.m": {"source": "hf://org/name"},
    ENDPOINT: {"provider": "modal", "gpu": {"type": "T4"}},
    "services.api": {"image": "images/gateway"},
}


def config_with_wrong_type_at(path: str) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    node = raw
    parts = path.split(".")
    walked = []
    for part in parts[:-1]:
        walked.append(part)
        node = node.setdefault(part, dict(BASES.get(".".join(walked), {})))
    node[parts[-1]] = "oops"
    return raw


def problems_for(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate(raw, project="my-project", region="us-central1", stack="dev",
                 secret_keys={"modelstack:secrets", "modelstack:credentials"}, root=REPO)
    return info.value.problems


def our_class_names() -> set[str]:
    names: set[str] = set()
    pending = list(StrictModel.__subclasses__())
    while pending:
        cls = pending.pop()
        names.add(cls.__name__)
        pending.extend(cls.__subclasses__())
    return names


def test_every_section_class_is_known() -> None:
    names = our_class_names()
    assert {"SecretSpec", "ModalVolumeSettings", "Endpoint", "Probe", "ModelstackConfig"} <= names


@pytest.mark.parametrize("path", SECTION_PATHS)
def test_a_wrong_type_shows_the_expected_shape_not_a_class(path: str) -> None:
    problems = problems_for(config_with_wrong_type_at(path))
    mine = [p for p in problems if p.startswith(f"modelstack:{path}: ")]
    assert len(mine) == 1, problems
    assert mine[0].split(": ", 1)[1].startswith("expected {")
    leaked = [name for name in our_class_names() for p in problems if name in p]
    assert leaked == [], problems


def test_the_secret_shape_reads_as_the_user_writes_it() -> None:
    assert problems_for({"secrets": {"apiKeys": "oops"}}) == ["modelstack:secrets.apiKeys: expected {value: <secret>, version: <n>}"]
    assert problems_for({"credentials": {"s3": {"r2": "oops"}}}) == [
        "modelstack:credentials.s3.r2: expected {accessKeyId: <secret>, secretAccessKey: <secret>}"
    ]
    assert problems_for({"buckets": {"data": "oops"}}) == ["modelstack:buckets.data: expected {kind: gcs | s3, ...}"]


def test_the_package_reexports_what_callers_import() -> None:
    for name in config.__all__:
        assert hasattr(config, name), name
