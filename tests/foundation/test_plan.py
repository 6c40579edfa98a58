"""`python -m components.plan`: the newcomer's first command, run as a user would run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def plan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "components.plan", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_dev_plan_prints_the_resource_tree():
    result = plan("--stack", "dev")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("modelstack plan for stack 'dev'\n")
    assert "+ gcp:cloudrunv2/service:Service  modelstack-service-gateway-service" in out
    assert "template.scaling: {maxInstanceCount: 2, minInstanceCount: 0}" in out
    assert "secretDataWo: [secret]" in out
    assert "note: not in the stack file, shown as [secret]" in out
    # children are indented under their component
    lines = out.splitlines()
    component = lines.index("    + modelstack:gcp:Bucket  modelstack-bucket-artifacts")
    assert lines[component + 1].startswith("      + gcp:storage/bucket:Bucket  modelstack-bucket-artifacts-bucket")


def test_prod_plan_marks_protected_resources():
    result = plan("--stack", "prod")
    assert result.returncode == 0, result.stderr
    assert "+ gcp:storage/bucket:Bucket  modelstack-bucket-artifacts-bucket [protected]" in result.stdout
    assert "deletionProtection: True" in result.stdout


def test_invalid_config_exits_non_zero_with_every_problem(tmp_path):
    bad = tmp_path / "Pulumi.broken.yaml"
    bad.write_text(
        "config:\n"
        "  gcp:project: acme-ml-dev\n"
        "  gcp:region: us-central1\n"
        "  modelstack:buckets:\n"
        "    logs: {kind: gcs, expireDays: 0}\n"
        "  modelstack:servces: {}\n"
    )
    result = plan("--stack", "broken", "--config-file", str(bad))
    assert result.returncode == 1
    assert result.stdout.splitlines()[1:] == [
        "config is invalid (2 problems):",
        "  - modelstack:servces: unknown key; remove it or fix its spelling (allowed: environment, budget, "
        "credentials, buckets, secrets, firestore, redis, models, apps, templates, services, alerts)",
        "  - modelstack:buckets.logs.expireDays: must be between 1 and 36500, not 0",
    ]


def test_secure_values_show_as_secret_and_are_never_decrypted(tmp_path):
    stack = tmp_path / "Pulumi.sec.yaml"
    stack.write_text(
        "config:\n"
        "  gcp:project: acme-ml-dev\n"
        "  gcp:region: us-central1\n"
        "  modelstack:secrets:\n"
        "    token:\n"
        "      version: 3\n"
        "      value:\n"
        "        secure: v1:AAAAciphertextAAAA\n"
        "  modelstack:services:\n"
        "    api: {image: images/gateway, secretEnv: {GATEWAY_API_KEYS: token}}\n"
    )
    result = plan("--stack", "sec", "--config-file", str(stack))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ciphertext" not in result.stdout
    assert "secretDataWo: [secret]" in result.stdout
    assert "secretDataWoVersion: 3" in result.stdout


def test_unknown_stack_is_a_clear_error():
    result = plan("--stack", "nope")
    assert result.returncode == 1
    assert "no stack file Pulumi.nope.yaml; create it or pick another --stack" in result.stdout
