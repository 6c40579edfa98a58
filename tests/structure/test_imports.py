"""The module graph of components/ and inference/: no cycles, and the program reaches the runtime
only through the contract module (inference/contract.py).

Imports under `if TYPE_CHECKING:` count: a cycle there still couples the modules, and it turns into
a real one the day the import is needed at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("components", "inference")
CONTRACT = "inference.contract"
LOCAL_RUNNER = "components.local"
"""`python -m components.local` exists to start the runtime (gateway, workers) on loopback, so it
imports inference/; it is a developer command, never part of the deployed program (checked below)."""


def module_files() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ours that `name` imports: `from pkg import sub` counts as importing `pkg.sub`."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_detector_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_in_components_or_inference() -> None:
    graph = import_graph()
    assert "components.config.loading" in graph and "inference.gateway.settings" in graph  # the walk saw them
    assert cycles(graph) == []


def test_the_program_reaches_the_runtime_only_through_the_contract() -> None:
    graph = import_graph()
    crossings = sorted(
        (module, target)
        for module, targets in graph.items()
        if module.startswith("components") and not module.startswith(LOCAL_RUNNER)
        for target in targets
        if target.startswith("inference") and target != CONTRACT
    )
    assert crossings == []
    assert any(CONTRACT in targets for module, targets in graph.items() if module.startswith("components"))


@pytest.mark.parametrize("runtime", ["inference.gateway.settings", "inference.worker.settings", "inference.modal_app"])
def test_the_runtime_reads_its_names_from_the_contract(runtime: str) -> None:
    assert CONTRACT in import_graph()[runtime]


def test_the_contract_is_standard_library_only() -> None:
    """It ships in every image and Modal container, where only the standard library is certain."""
    graph = import_graph()
    assert graph[CONTRACT] == set()
    tree = ast.parse((REPO / "inference" / "contract.py").read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"__future__", "json", "os", "collections", "dataclasses"}


def closure(graph: dict[str, set[str]], roots: set[str]) -> set[str]:
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        module = pending.pop()
        if module not in seen:
            seen.add(module)
            pending.extend(graph.get(module, ()))
    return seen


def test_the_deployed_program_never_loads_the_local_runner_or_runtime_code() -> None:
    """What `pulumi up` and the offline plan import: from __main__.py and components.plan."""
    graph = import_graph()
    modules = module_files()
    main = REPO / "__main__.py"
    roots = imported_modules("__main__", main, modules) | {"components.plan"}
    loaded = closure(graph, roots)
    assert "components.platform" in loaded
    assert not any(m.startswith(LOCAL_RUNNER) for m in loaded)
    assert {m for m in loaded if m.startswith("inference")} == {CONTRACT}
