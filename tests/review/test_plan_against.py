"""`plan --against <ref>` in a throwaway git repository holding a copy of this program.

Commit 1 is "old code": the program as it was before the cost model, budget gate, policy pack and
this plan's formats existed (those modules removed, the gate's call taken out of the platform).
Commit 2 is the current code with a changed dev stack and a new staging stack. Comparing commit 2
with commit 1 must work although commit 1 cannot produce any of the new output itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.review.against import export_tree, resolve_ref, run_snapshot

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ["components", "policy", "images", "inference", "__main__.py", "Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"]
GATE_CALL = "        budget.enforce(config)\n"
# The platform imports budget next to references; the old program keeps references.
GATE_IMPORT = ("from components import budget, references\n", "from components import references\n")


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout


def copy_program(into: Path) -> None:
    for name in PROGRAM:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
        else:
            shutil.copy2(source, into / name)


def edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data["config"])
    path.write_text(yaml.safe_dump(data))


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("repo")
    copy_program(repo)
    # the gateway's env at commit 1: Hippo-style default model, rolled back in commit 2
    edit_yaml(repo / "Pulumi.dev.yaml", lambda c: c["modelstack:services"]["gateway"].update(env={"DEFAULT_MODEL": "mnist-relu-100"}))
    git(repo, "init", "-q")
    # commit 1: code that predates the review tooling
    for gone in ("components/cost", "components/review", "policy"):
        shutil.rmtree(repo / gone)
    (repo / "components" / "budget.py").unlink()
    platform = repo / "components" / "platform.py"
    text = platform.read_text()
    assert GATE_CALL in text and GATE_IMPORT[0] in text
    platform.write_text(text.replace(GATE_CALL, "").replace(*GATE_IMPORT))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "old program")
    # commit 2: today's code, a dev stack with a warm embedder, a new bucket, a bigger gateway
    shutil.rmtree(repo / "components")
    copy_program(repo)

    def change(config):
        config["modelstack:models"]["embedder"]["endpoint"]["workers"]["min"] = 1
        config["modelstack:budget"]["monthlyUsd"] = 1000
        config["modelstack:buckets"]["uploads"] = {"kind": "gcs", "location": "US", "versioning": True}
        config["modelstack:services"]["gateway"]["maxInstances"] = 3
        config["modelstack:services"]["gateway"]["env"] = {"DEFAULT_MODEL": "mnist-relu-50"}
        config["modelstack:secrets"]["workerCallbackKey"]["version"] = 2  # a rotated secret

    edit_yaml(repo / "Pulumi.dev.yaml", change)
    shutil.copy2(repo / "Pulumi.dev.yaml", repo / "Pulumi.staging.yaml")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "new program")
    return repo


def plan_in(repo: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmp)}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [sys.executable, "-m", "components.plan", *args], cwd=repo, capture_output=True, text=True, timeout=300, env=env
    )


def test_against_an_older_commit_lists_changes_and_the_cost_delta(repo, tmp_path):
    result = plan_in(repo, tmp_path, "--stack", "dev", "--format", "json", "--against", "HEAD~1")
    assert result.returncode == 0, result.stderr
    against = json.loads(result.stdout)["against"]
    assert against["commit"] == git(repo, "rev-parse", "HEAD~1").strip()
    assert (against["stackFileFound"], against["programRan"]) == (True, True)
    added = {r["name"] for r in against["added"]}
    # cloud resources only: the bucket, not its component
    assert added == {"modelstack-bucket-uploads-bucket"}
    changed = {c["name"]: c["changes"] for c in against["changed"]}
    # every input the engine diffs, Cloud Run's env by variable name, a secret by its version
    assert changed["modelstack-service-gateway-service"] == {
        "env.DEFAULT_MODEL": {"before": "mnist-relu-100", "after": "mnist-relu-50"},
        "secretEnv.WORKER_CALLBACK_KEY": {
            "before": "[secret] dev-workercallbackkey@1",
            "after": "[secret] dev-workercallbackkey@2 (value changed)",
        },
        "template.scaling.maxInstanceCount": {"before": 2, "after": 3},
    }
    assert against["removed"] == []
    # one warm Modal T4 worker: 0.59 x 730
    assert against["cost"]["delta"] == {"low": 430.7, "expected": 430.7, "high": 430.7}
    assert against["cost"]["before"]["expected"] == 0.0
    assert list(tmp_path.iterdir()) == []  # the exported tree is cleaned up


def test_against_a_commit_without_the_stack_adds_everything(repo, tmp_path):
    result = plan_in(repo, tmp_path, "--stack", "staging", "--format", "markdown", "--against", "HEAD~1")
    assert result.returncode == 0, result.stderr
    md = result.stdout
    assert "Pulumi.staging.yaml does not exist at" in md
    # 60: the dev stack's resources, the gateway's Modal proxy token (two secrets, their versions
    # and read grants) and the flux worker's disk sizing included
    assert "· 60 resources · expected **$430.70/month** · budget" in md
    assert "+60 added, ~0 changed, -0 removed; expected cost +$430.70/month" in md


def test_markdown_against_shows_the_change_table(repo, tmp_path):
    result = plan_in(repo, tmp_path, "--stack", "dev", "--format", "markdown", "--against", "HEAD~1")
    assert result.returncode == 0, result.stderr
    md = result.stdout
    assert "Compared with `HEAD~1`" in md
    assert "| added | `modelstack-bucket-uploads-bucket` | `gcp:storage/bucket:Bucket` | |" in md
    assert (
        "| changed | `modelstack-service-gateway-service` | `gcp:cloudrunv2/service:Service` | "
        "`env.DEFAULT_MODEL`: `mnist-relu-100` → `mnist-relu-50`<br>`secretEnv.WORKER_CALLBACK_KEY`: "
        "`[secret] dev-workercallbackkey@1` → `[secret] dev-workercallbackkey@2 (value changed)`<br>"
        "`template.scaling.maxInstanceCount`: `2` → `3` |"
    ) in md
    assert "| Change vs `" in md and "**+$430.70**" in md


def test_unknown_ref_is_a_usage_error(repo, tmp_path):
    result = plan_in(repo, tmp_path, "--stack", "dev", "--against", "no-such-branch")
    assert result.returncode == 2
    assert "--against: 'no-such-branch' is not a known commit" in result.stderr


def test_snapshot_runs_the_other_commits_code_not_ours(repo, tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    export_tree(repo, resolve_ref(repo, "HEAD~1"), tree)
    snapshot = run_snapshot(tree, "dev", tree / "Pulumi.dev.yaml")
    assert snapshot["ok"], snapshot.get("error")
    assert Path(snapshot["componentsPath"]) == (tree / "components" / "offline.py").resolve()
    assert not (tree / "components" / "cost").exists()
    types = {r["type"] for r in snapshot["resources"]}
    assert "gcp:cloudrunv2/service:Service" in types


def test_a_config_file_outside_the_repository_is_used_on_both_sides(repo, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    shutil.copy2(repo / "Pulumi.dev.yaml", scratch / "Pulumi.dev.yaml")
    result = plan_in(repo, tmp_path, "--stack", "dev", "--config-file", str(scratch / "Pulumi.dev.yaml"), "--format", "json", "--against", "HEAD~1")
    assert result.returncode == 0, result.stderr
    against = json.loads(result.stdout)["against"]
    # same config at both commits, and the old program registers the same resources for it
    assert (against["added"], against["changed"], against["removed"]) == ([], [], [])
    assert against["cost"]["delta"]["expected"] == 0.0
