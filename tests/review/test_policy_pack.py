"""The Pulumi policy pack: the rules through pulumi_policy's API, its context, and the pack process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResourceOptions,
    ResourceValidationArgs,
)

from components.offline import load_stack_file, run_program
from components.review.policies import evaluate_run
from policy.context import context_from_config, context_from_environ, environment_from_stack_name
from policy.pack import build_policies
from policy.resources import GCS_BUCKET, RUN_IAM_MEMBER

REPO_ROOT = Path(__file__).resolve().parents[2]


def args(typ: str, props: dict, protect: bool = False) -> ResourceValidationArgs:
    opts = PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    return ResourceValidationArgs(typ, props, f"urn:pulumi:prod::modelstack::{typ}::r", "r", opts, None)


def run_policy(policies, name: str, validation_args: ResourceValidationArgs) -> list[str]:
    policy = next(p for p in policies if p.name == name)
    reported: list[str] = []
    policy.validate(validation_args, lambda message, urn=None: reported.append(message))
    return reported


def test_pack_policies_are_mandatory_in_prod_and_advisory_in_dev():
    prod = build_policies(context_from_config({"modelstack:environment": "prod"}, "prod"))
    dev = build_policies(context_from_config({"modelstack:environment": "dev"}, "dev"))
    assert {p.enforcement_level for p in prod} == {EnforcementLevel.MANDATORY}
    assert {p.enforcement_level for p in dev} == {EnforcementLevel.ADVISORY}
    assert [p.name for p in prod] == [p.name for p in dev]


def test_pack_runs_the_same_rules_through_the_policy_sdk():
    policies = build_policies(context_from_config({"modelstack:environment": "prod"}, "prod"))
    bucket = {"name": "b", "publicAccessPrevention": "enforced", "versioning": {"enabled": True}}
    assert run_policy(policies, "data-buckets-protected-and-versioned", args(GCS_BUCKET, bucket, protect=True)) == []
    found = run_policy(policies, "data-buckets-protected-and-versioned", args(GCS_BUCKET, bucket, protect=False))
    assert len(found) == 1 and "bucket b is not protected" in found[0]
    # a rule ignores types it does not read
    assert run_policy(policies, "cloud-run-private-unless-declared", args(GCS_BUCKET, bucket)) == []


def test_declared_public_names_follow_the_platforms_naming():
    config = {
        "gcp:project": "acme-ml-prod",
        "modelstack:environment": "prod",
        "modelstack:buckets": json.dumps({"assets": {"kind": "gcs", "public": True}, "data": {"kind": "gcs"}}),
        "modelstack:services": json.dumps({"gateway": {"image": "images/gateway", "public": True}}),
    }
    context = context_from_config(config, "prod")
    assert context.public_buckets == frozenset({"acme-ml-prod-prod-assets"})
    assert context.public_services == frozenset({"gateway-prod"})
    policies = build_policies(context)
    grant = {"name": "gateway-prod", "member": "allUsers", "role": "roles/run.invoker"}
    assert run_policy(policies, "cloud-run-private-unless-declared", args(RUN_IAM_MEMBER, grant)) == []


def test_environment_comes_from_config_then_stack_name_and_defaults_to_prod():
    assert context_from_config({"modelstack:environment": "dev"}, "prod").environment == "dev"
    assert environment_from_stack_name("acme/prod") == "prod"
    assert environment_from_stack_name("prod-eu") == "prod"
    assert environment_from_stack_name("pr-12") == "dev"
    assert environment_from_stack_name("productivity") == "dev"
    unknown = context_from_environ({})
    assert (unknown.environment, unknown.environment_source) == ("prod", "default")
    from_cli = context_from_environ({"PULUMI_STACK": "pr-7", "PULUMI_CONFIG": json.dumps({"modelstack:environment": "dev"})})
    assert (from_cli.environment, from_cli.stack) == ("dev", "pr-7")


def test_committed_prod_stack_passes_every_applicable_rule():
    stack_file = load_stack_file("prod")
    report = evaluate_run(run_program("prod", stack_file=stack_file), context_from_config(stack_file.config, "prod"))
    assert report.enforcement == "mandatory"
    assert report.violations == []
    statuses = {r.name: r.status for r in report.results}
    assert statuses["cloud-run-private-unless-declared"] == "pass"  # gateway is declared public
    assert statuses["secrets-by-reference"] == "pass"
    assert statuses["images-pinned-by-digest"] == "pass"


def test_committed_dev_stack_has_only_advisories():
    stack_file = load_stack_file("dev")
    report = evaluate_run(run_program("dev", stack_file=stack_file), context_from_config(stack_file.config, "dev"))
    assert not report.blocked
    # three unprotected data buckets (two GCS, the R2 mirror), two unversioned (results, models),
    # and two models that follow a branch instead of a commit
    assert report.advisory_violations == 7


@pytest.mark.subprocess
def test_pack_process_starts_and_serves(tmp_path):
    """What the Pulumi CLI does: run policy/ with Python, read the gRPC port from its first line."""
    env = {**os.environ, "PULUMI_STACK": "prod", "PULUMI_CONFIG": json.dumps({"modelstack:environment": "prod"})}
    env.pop("PYTHONPATH", None)
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "policy")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = process.stdout.readline().strip()
        assert first_line.isdigit(), process.stderr.read() if process.poll() is not None else first_line
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(timeout=10)
