"""The GitHub workflows: valid against GitHub's schema (vendored by check-jsonschema), wired the way
the README says, and using only documented secrets."""

from __future__ import annotations

import importlib.resources
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from components.review.touched import stacks_touched

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
ACTIONS = REPO_ROOT / ".github" / "actions"
EXPECTED = {"preview.yml", "preview-comment.yml", "deploy.yml", "review-stack.yml", "rollback.yml"}


class GitHubLoader(yaml.SafeLoader):
    """YAML as GitHub reads it: only true/false are booleans, so `on:` stays the key "on"."""


GitHubLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
GitHubLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf"))


def load(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=GitHubLoader)


def schema(name: str) -> jsonschema.protocols.Validator:
    text = (importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / name).read_text()
    document = json.loads(text)
    return jsonschema.validators.validator_for(document)(document)


def problems(validator, document) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml"))


def test_the_workflows_exist():
    assert {p.name for p in workflow_files()} == EXPECTED


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.name)
def test_workflow_matches_githubs_schema(path):
    assert problems(schema("github-workflows.json"), load(path)) == []


def test_setup_action_matches_githubs_schema():
    assert problems(schema("github-actions.json"), load(ACTIONS / "setup" / "action.yml")) == []


def test_schema_rejects_a_broken_workflow():
    broken = load(WORKFLOWS / "deploy.yml")
    del broken["jobs"]["dev"]["runs-on"]
    broken["jobs"]["prod"]["concurrency"]["cancel-in-progress"] = "maybe"
    assert len(problems(schema("github-workflows.json"), broken)) >= 2


def documentation() -> tuple[Path, str]:
    """README.md once the lead has pasted the section in; until then the section's own file."""
    readme = REPO_ROOT / "README.md"
    if readme.exists() and "Reviewing changes" in readme.read_text():
        return readme, readme.read_text()
    doc = REPO_ROOT / "docs" / "reviewing-and-rollback.md"
    return doc, doc.read_text()


def referenced_secrets() -> set[str]:
    found: set[str] = set()
    for path in [*workflow_files(), *ACTIONS.rglob("*.yml")]:
        found |= set(re.findall(r"secrets\.([A-Za-z_][A-Za-z0-9_]*)", path.read_text()))
    return found


def test_every_secret_a_workflow_uses_is_documented():
    path, text = documentation()
    secrets = referenced_secrets()
    assert "PULUMI_ACCESS_TOKEN" in secrets and "GCP_WORKLOAD_IDENTITY_PROVIDER" in secrets
    undocumented = sorted(s for s in secrets if f"`{s}`" not in text)
    assert undocumented == [], f"document these secrets in {path.name}"


def test_documentation_names_every_workflow():
    _, text = documentation()
    for name in EXPECTED:
        assert f".github/workflows/{name}" in text


def test_preview_is_fork_safe_and_plans_against_the_base():
    preview = load(WORKFLOWS / "preview.yml")
    assert list(preview["on"]) == ["pull_request"]  # never pull_request_target: fork code gets no token
    assert preview["permissions"] == {"contents": "read"}
    plan = preview["jobs"]["plan"]
    plan_text = json.dumps(plan)
    assert "secrets." not in plan_text  # the offline plan needs none
    assert "--against \\\"$BASE\\\"" in plan_text and "--format markdown" in plan_text
    assert plan["steps"][0]["with"]["fetch-depth"] == 0
    assert "upload-artifact" in plan_text
    cloud = preview["jobs"]["cloud-preview"]
    assert "head.repo.full_name == github.repository" in cloud["if"]
    action = next(s for s in cloud["steps"] if s.get("uses", "").startswith("pulumi/actions"))
    assert action["with"]["command"] == "preview"
    assert action["with"]["diff"] is True and action["with"]["comment-on-pr"] is True
    assert action["with"]["policyPacks"] == "policy"
    comment = load(WORKFLOWS / "preview-comment.yml")
    assert comment["on"]["workflow_run"]["workflows"] == ["Preview"]
    assert "<!-- modelstack-plan -->" in json.dumps(comment)


def test_deploys_go_dev_then_prod_behind_an_environment_one_at_a_time():
    deploy = load(WORKFLOWS / "deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    dev, prod = deploy["jobs"]["dev"], deploy["jobs"]["prod"]
    assert prod["needs"] == "dev" and prod["environment"] == "prod"
    assert dev["concurrency"] == {"group": "pulumi-dev", "cancel-in-progress": False}
    assert prod["concurrency"] == {"group": "pulumi-prod", "cancel-in-progress": False}
    for job in (dev, prod):
        up = next(s for s in _pulumi_steps(job) if s["with"]["command"] == "up")
        assert up["with"]["policyPacks"] == "policy"
    # a rollback of a stack shares that stack's group
    rollback = load(WORKFLOWS / "rollback.yml")
    assert rollback["concurrency"] == {"group": "pulumi-${{ inputs.stack }}", "cancel-in-progress": False}


def test_review_stacks_follow_the_pull_request():
    review = load(WORKFLOWS / "review-stack.yml")
    assert review["on"]["pull_request"]["types"] == ["opened", "reopened", "synchronize", "closed"]
    assert "pr-{0}" in review["env"]["STACK_NAME"] or "pr-{1}" in review["env"]["STACK_NAME"]
    setup = json.dumps(review["jobs"]["up"])
    assert "pulumi config cp --stack \\\"$DEV_STACK_NAME\\\" --dest \\\"$STACK_NAME\\\"" in setup
    destroy = next(s for s in review["jobs"]["destroy"]["steps"] if s.get("with", {}).get("command") == "destroy")
    assert destroy["with"]["remove"] is True
    assert review["concurrency"]["cancel-in-progress"] is False


def test_rollback_previews_then_applies_the_previewed_commit_after_approval():
    rollback = load(WORKFLOWS / "rollback.yml")
    assert set(rollback["on"]["workflow_dispatch"]["inputs"]) == {"stack", "ref", "reason"}
    preview, apply = rollback["jobs"]["preview"], rollback["jobs"]["apply"]
    assert next(s for s in preview["steps"] if s.get("uses", "").startswith("pulumi/actions"))["with"]["command"] == "preview"
    assert apply["needs"] == "preview" and apply["environment"] == "${{ inputs.stack }}"
    checkout = [s for s in apply["steps"] if s.get("uses") == "actions/checkout@v4" and s.get("with", {}).get("path") == "target"]
    assert checkout[0]["with"]["ref"] == "${{ needs.preview.outputs.sha }}"
    assert any(s.get("name") == "Record the rollback" for s in apply["steps"])
    # user input reaches scripts only through env, never pasted into the script
    for job in rollback["jobs"].values():
        for step in job["steps"]:
            assert "inputs." not in step.get("run", "")


def _pulumi_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in job.get("steps", []) if s.get("uses", "").startswith("pulumi/actions")]


@pytest.mark.parametrize("name", ["deploy.yml", "rollback.yml", "preview.yml"])
def test_every_up_and_preview_starts_from_a_refresh_and_the_drift_is_in_the_summary(name):
    """A hand deploy, an app stopped in a dashboard or an edited endpoint is read back before the
    program is compared with state; an `up` without it would leave that drift in place for good."""
    checked = 0
    for job_name, job in load(WORKFLOWS / name)["jobs"].items():
        steps = _pulumi_steps(job)
        for index, step in enumerate(steps):
            command = step["with"]["command"]
            if command == "preview":
                assert step["with"].get("refresh") is True, f"{name} {job_name}: preview without refresh: true"
                checked += 1
            elif command == "up":
                before = steps[:index]
                refresh = [s for s in before if s["with"]["command"] == "refresh"]
                assert refresh or step["with"].get("refresh") is True, f"{name} {job_name}: up without a refresh"
                for r in refresh:
                    assert r["with"]["stack-name"] == step["with"]["stack-name"]
                    assert r["with"].get("work-dir", ".") == step["with"].get("work-dir", ".")
                    assert r["with"]["comment-on-summary"] is True and r["with"]["diff"] is True
                checked += 1
    assert checked, f"{name} has no pulumi preview or up"


def test_stacks_touched_by_a_change():
    stacks = ["dev", "prod"]
    assert stacks_touched(["Pulumi.dev.yaml"], stacks) == ["dev"]
    assert stacks_touched(["Pulumi.prod.yaml", "README.md"], stacks) == ["prod"]
    assert stacks_touched(["components/cost/model.py"], stacks) == ["dev", "prod"]
    assert stacks_touched(["Pulumi.yaml"], stacks) == ["dev", "prod"]  # project defaults touch all
    assert stacks_touched(["docs/x.md", "README.md"], stacks) == []
    assert stacks_touched(["Pulumi.gone.yaml"], stacks) == []  # deleted stack file: nothing to plan
