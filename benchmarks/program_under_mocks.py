"""How long the whole program takes to run under Pulumi mocks, and per resource.

    python benchmarks/program_under_mocks.py [--repeat 3]

Times `__main__.py` for the committed prod stack and for generated stacks with 1, 10 and 100
models (each with a GPU endpoint, alternating Runpod and Modal, behind one gateway service). This is
the cost of every `pulumi preview`'s program phase and of the offline plan, so it should stay well
under the engine's own overhead. Prints wall seconds (best of --repeat) and ms per registered
resource. Numbers are for the machine it runs on; compare runs on the same machine only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from components.offline import StackFile, load_stack_file, run_program


def generated_stack(models: int) -> StackFile:
    """A dev-like stack with `models` models, each served on a GPU endpoint."""
    base = load_stack_file("dev")
    config = dict(base.config)
    model_map = {}
    for i in range(models):
        provider = "runpod" if i % 2 == 0 else "modal"
        model_map[f"model{i:03d}"] = {
            "source": f"hf://acme/model-{i:03d}",
            "task": "text-generation",
            "endpoint": {
                "provider": provider,
                "gpu": {"types": ["ADA_24"]} if provider == "runpod" else {"type": "L4"},
                "workers": {"min": 0, "max": 2},
            },
        }
    config["modelstack:models"] = json.dumps(model_map)
    return StackFile(stack="bench", config=config, secret_keys=set(base.secret_keys), placeholders=[])


def time_run(stack: str, stack_file: StackFile | None, repeat: int) -> tuple[float, int]:
    times = []
    count = 0
    for _ in range(repeat):
        start = time.perf_counter()
        run = run_program(stack, stack_file=stack_file)
        times.append(time.perf_counter() - start)
        count = len(run.resources)
    return min(times), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    run_program("dev")  # warm imports (pulumi_gcp alone takes seconds) so they do not skew row 1
    rows = [("prod stack", *time_run("prod", None, args.repeat))]
    for n in (1, 10, 100):
        rows.append((f"{n} models", *time_run("bench", generated_stack(n), args.repeat)))

    print(f"{'stack':<12} {'resources':>9} {'seconds':>9} {'ms/resource':>12}")
    for name, seconds, count in rows:
        print(f"{name:<12} {count:>9} {seconds:>9.3f} {1000 * seconds / max(count, 1):>12.2f}")
    per = [1000 * s / c for _, s, c in rows if c]
    print(f"median ms/resource: {statistics.median(per):.2f}")


if __name__ == "__main__":
    main()
