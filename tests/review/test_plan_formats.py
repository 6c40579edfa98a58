"""`python -m components.plan`: cost, budget and policy results in text, markdown and JSON."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.plan import EXIT_BLOCKED, build_plan
from components.review.render import _cell, render_markdown

REPO_ROOT = Path(__file__).resolve().parents[2]


def plan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "components.plan", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=180
    )


def stack_variant(tmp_path: Path, stack: str, change) -> Path:
    """A copy of a committed stack file with `change` applied to its config mapping."""
    data = yaml.safe_load((REPO_ROOT / f"Pulumi.{stack}.yaml").read_text())
    change(data["config"])
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def balanced(markdown: str) -> bool:
    return markdown.count("<details") == markdown.count("</details>") and markdown.count("```") % 2 == 0


@pytest.fixture(scope="module")
def prod_plan():
    return build_plan("prod")


def test_prod_markdown_is_a_comment_ready_report(prod_plan):
    md = render_markdown(prod_plan)
    lines = md.splitlines()
    assert lines[:2] == ["<!-- modelstack-plan:prod -->", "### ✅ modelstack plan: `prod`"]
    assert (
        "**Status: ok** · 42 resources · expected **$917.46/month** ($917.46 to $1,881.06) · budget $2,500.00 (37% used) "
        "· policies: 0 mandatory, 0 advisory violations"
    ) in lines
    assert (
        "| endpoint `flux` | runpod ADA_24 ($1.12/h), 1 always-on worker, 3000 req/day x 2.5 s, idle tail 300 s "
        "| 817.60 | 817.60 | 1,781.20 | 4,453.00 |"
    ) in lines
    assert "| **Total** | | **917.46** | **917.46** | **1,881.06** | 6,450.28 |" in lines
    assert "| `secrets-by-reference` | ✅ pass (3 resources) |" in lines  # gateway, Runpod template, endpoint
    assert "| `models-pinned-to-a-commit` | ✅ pass (2 resources) |" in lines  # the pin and the endpoint
    assert "| `gpu-endpoints-bounded` | ✅ pass (1 resource) |" in lines
    assert "- Prices: runpod GPUs, https://docs.runpod.io/serverless/pricing (flex worker rates), as of 2026-11-23" in lines
    assert "<details><summary>All resources (42)</summary>" in lines
    assert balanced(md)
    # code spans are shown literally, so they are not HTML-escaped
    assert "`pulumi config set --secret --path <key> <value>`" in md


def test_long_markdown_is_cut_to_fit_with_a_note(prod_plan):
    full = render_markdown(prod_plan)
    short = render_markdown(prod_plan, max_chars=4000)
    assert len(full) > 4000 >= len(short)
    assert "cut to fit a GitHub comment; run `python -m components.plan --stack prod` for the full plan" in short
    assert balanced(short)
    # what a reviewer must see survives; the resource tree went first
    assert "| **Total** |" in short and "#### Policies" in short


def test_markdown_cells_cannot_inject_markup():
    assert _cell("<img src=x onerror=alert(1)> a|b\nc") == "&lt;img src=x onerror=alert(1)&gt; a\\|b c"
    assert _cell("run `a <b>` now <i>") == "run `a <b>` now &lt;i&gt;"


@pytest.mark.subprocess
def test_json_document_is_stable_and_complete():
    result = plan("--stack", "dev", "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["schemaVersion"] == 1
    assert (doc["stack"], doc["status"], doc["exitCode"], doc["blockedBy"]) == ("dev", "warning", 0, [])
    assert list(doc) == [
        "schemaVersion", "stack", "status", "exitCode", "blockedBy", "errors", "notices", "warnings",
        "resources", "outputs", "cost", "budget", "policies", "against",
    ]
    assert doc["cost"]["total"] == {"low": 0.0, "expected": 0.0, "high": 0.0}
    assert {(i["kind"], i["key"]) for i in doc["cost"]["items"]} == {
        ("endpoint", "flux"), ("endpoint", "embedder"), ("service", "gateway"), ("bucket", "artifacts"), ("bucket", "results"), ("bucket", "models"),
    }
    assert doc["budget"] == {
        "monthlyUsd": 150.0, "enforce": True, "expectedUsd": 0.0, "exceeded": False, "blocked": False, "dominant": [],
        "message": "expected $0.00/month is within the budget of $150.00 (0%)",
    }
    assert doc["policies"]["enforcement"] == "advisory"
    assert doc["policies"]["advisoryViolations"] == 7  # see test_committed_dev_stack_has_only_advisories
    service = next(r for r in doc["resources"] if r["type"] == "gcp:cloudrunv2/service:Service")
    assert service["urn"].endswith("::modelstack-service-gateway-service")
    assert doc["against"] is None


@pytest.mark.subprocess
def test_over_budget_plan_fails_but_still_shows_everything(tmp_path):
    def over(config):
        config["modelstack:models"]["flux"]["endpoint"]["workers"]["min"] = 1

    result = plan("--stack", "dev", "--config-file", str(stack_variant(tmp_path, "dev", over)), "--format", "markdown")
    assert result.returncode == EXIT_BLOCKED
    assert "### ❌ modelstack plan: `dev`" in result.stdout
    assert "**Status: blocked** (budget)" in result.stdout
    assert "+ gcp:cloudrunv2/service:Service  modelstack-service-gateway-service" in result.stdout
    assert "error: modelstack:budget: blocked: expected cost $423.40/month exceeds the budget of $150.00" in result.stderr
    assert "endpoint flux $423.40 (100%): runpod AMPERE_16? ($0.58/h), 1 always-on worker" in result.stderr


@pytest.mark.subprocess
def test_over_budget_plan_only_warns_when_not_enforced(tmp_path):
    def over(config):
        config["modelstack:models"]["flux"]["endpoint"]["workers"]["min"] = 1
        config["modelstack:budget"]["enforce"] = False

    result = plan("--stack", "dev", "--config-file", str(stack_variant(tmp_path, "dev", over)))
    assert result.returncode == 0, result.stderr
    assert "budget: modelstack:budget: warning (budget.enforce is false): expected cost $423.40/month" in result.stdout
    assert result.stdout.rstrip().endswith("status: warning")


@pytest.mark.subprocess
def test_mandatory_policy_violation_blocks_prod(tmp_path):
    def unversioned(config):
        config["modelstack:buckets"]["results"]["versioning"] = False

    result = plan("--stack", "prod", "--config-file", str(stack_variant(tmp_path, "prod", unversioned)), "--format", "json")
    assert result.returncode == EXIT_BLOCKED
    doc = json.loads(result.stdout)
    assert (doc["status"], doc["blockedBy"]) == ("blocked", ["policy"])
    failing = [r for r in doc["policies"]["results"] if r["status"] == "fail"]
    assert [r["name"] for r in failing] == ["data-buckets-protected-and-versioned"]
    assert re.search(r"acme-ml-prod-prod-results keeps no previous object versions", failing[0]["violations"][0]["message"])
    assert "1 mandatory policy violation(s)" in result.stderr


@pytest.mark.subprocess
def test_text_plan_ends_with_cost_policies_and_status():
    result = plan("--stack", "prod")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "  total             $917.46 ($917.46 to $1,881.06)    ceiling   $6,450.28" in out
    assert "budget: expected $917.46/month is within the budget of $2,500.00 (37%)" in out
    assert "policies (prod: violations are mandatory): 0 violations" in out
    assert out.rstrip().endswith("status: ok")


def test_invalid_config_in_markdown_and_json(tmp_path):
    def broken(config):
        config["modelstack:models"]["flux"]["usage"] = {"requestsPerDay": 10}

    path = stack_variant(tmp_path, "dev", broken)
    invalid = build_plan("dev", REPO_ROOT, path)
    assert (invalid.status, invalid.exit_code) == ("invalid", 1)
    md = render_markdown(invalid)
    assert "### ❌ modelstack plan: `dev`" in md
    assert "**Status: invalid config** (1 problem); nothing would deploy." in md
    assert "- modelstack:models.flux.usage.secondsPerRequest: is required with requestsPerDay; add it" in md
    from components.review.document import to_document

    doc = to_document(invalid)
    assert (doc["status"], doc["cost"], doc["policies"], doc["resources"]) == ("invalid", None, None, [])
