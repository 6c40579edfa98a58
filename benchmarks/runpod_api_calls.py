"""How many Runpod API calls each provider operation makes, counted on the fake Runpod server.

Run from the repository root:

    python benchmarks/runpod_api_calls.py

It drives one model's resources (secret, registry credential, network volume, template, endpoint) through create, a
no-op `pulumi up` (check + diff with identical inputs), an update (new image, more workers), a
refresh and a delete, the way the engine calls the providers, and prints the calls per step and
resource with the API operations behind them. No faults are injected: these are the floor.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

# Runnable as a plain script: the repository root holds the `components` and `tests` packages.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from components.providers.runpod import (
    EndpointProvider,
    RegistryAuthProvider,
    SecretProvider,
    TemplateProvider,
    VolumeProvider,
)
from tests.fakes.runpod_server import FakeRunpod
from tests.runpod.support import IMAGE_V1, IMAGE_V2, Driver, State, configured

RESOURCES = ("Secret", "RegistryAuth", "NetworkVolume", "Template", "Endpoint")
STEPS = ("create", "no-op diff", "update", "refresh", "delete")


def main() -> None:
    fake = FakeRunpod().start()
    os.environ["RUNPOD_API_BASE_URL"] = fake.url
    counts: dict[tuple[str, str], Counter[str]] = {}
    try:
        drivers = {
            "Secret": Driver(configured(SecretProvider(), fake.api_key)),
            "RegistryAuth": Driver(configured(RegistryAuthProvider(), fake.api_key)),
            "NetworkVolume": Driver(configured(VolumeProvider(), fake.api_key)),
            "Template": Driver(configured(TemplateProvider(), fake.api_key)),
            "Endpoint": Driver(configured(EndpointProvider(), fake.api_key)),
        }
        states: dict[str, State] = {}

        def inputs(resource: str, version: int) -> dict[str, Any]:
            name = "modelstack-bench-flux-b3nc4m"
            if resource == "Secret":
                return {"name": f"{name}-hf-token", "value": "hf_benchmark_value"}
            if resource == "RegistryAuth":
                return {"name": f"{name}-registry", "username": "_json_key", "password": "benchmark-key-json"}
            if resource == "NetworkVolume":
                return {"name": f"{name}-cache", "sizeGb": 50, "dataCenterId": "EU-RO-1"}
            if resource == "Template":
                return {"name": name, "image": IMAGE_V1 if version == 1 else IMAGE_V2,
                        "env": {"HF_TOKEN": states["Secret"].outputs["reference"]},
                        "registryAuthId": states["RegistryAuth"].id}
            template = states["Template"]
            return {"name": name, "templateId": template.id, "templateRevision": template.outputs["revision"],
                    "gpuPools": ["ADA_24", "AMPERE_48"], "workersMax": 2 if version == 1 else 4,
                    "flashboot": "FLASHBOOT", "networkVolumeIds": [states["NetworkVolume"].id]}

        def measure(step: str, resource: str, action: Any) -> None:
            fake.reset_log()
            result = action()
            counts[(step, resource)] = Counter(r.operation for r in fake.requests)
            if isinstance(result, State):
                states[resource] = result

        for resource in RESOURCES:
            measure("create", resource, lambda r=resource: drivers[r].up(inputs(r, 1)))
        for resource in RESOURCES:
            measure("no-op diff", resource, lambda r=resource: drivers[r].up(inputs(r, 1), states[r]))
        for resource in ("Template", "Endpoint"):  # a new image and more workers
            measure("update", resource, lambda r=resource: drivers[r].up(inputs(r, 2), states[r]))
        for resource in RESOURCES:
            measure("refresh", resource, lambda r=resource: drivers[r].refresh(states[r]))
        for resource in reversed(RESOURCES):
            measure("delete", resource, lambda r=resource: drivers[r].destroy(states[r]))
        leftover = fake.object_counts()
    finally:
        fake.stop()

    print_table(counts)
    print(f"\nobjects left on the fake after delete: {leftover}")
    if fake.violations:
        print("\nspec violations:\n" + "\n".join(fake.violations))
        raise SystemExit(1)


def print_table(counts: dict[tuple[str, str], Counter[str]]) -> None:
    header = ["step", *RESOURCES, "total"]
    rows = []
    for step in STEPS:
        cells = [str(sum(counts[(step, r)].values())) if (step, r) in counts else "-" for r in RESOURCES]
        total = sum(sum(c.values()) for (s, _), c in counts.items() if s == step)
        rows.append([step, *cells, str(total)])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    print("\nAPI operations per step:")
    for step in STEPS:
        for resource in RESOURCES:
            ops = counts.get((step, resource))
            if ops:
                print(f"  {step:<10} {resource:<13} " + ", ".join(f"{op} x{n}" for op, n in sorted(ops.items())))


if __name__ == "__main__":
    main()
