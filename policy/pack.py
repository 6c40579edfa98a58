"""The rules wrapped as `pulumi_policy` policies, with enforcement set by the stack's environment."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from policy.context import PolicyContext
from policy.resources import Resource
from policy.rules import RULES, Rule

PACK_NAME = "modelstack"


def enforcement_level(context: PolicyContext) -> EnforcementLevel:
    return EnforcementLevel.MANDATORY if context.mandatory else EnforcementLevel.ADVISORY


def _validation(rule: Rule, context: PolicyContext) -> ResourceValidation:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in rule.types:
            return
        resource = Resource(
            type=args.resource_type,
            name=args.name,
            urn=args.urn,
            inputs=args.props,
            protect=bool(args.opts.protect) if args.opts is not None else False,
        )
        for message in rule.check(resource, context):
            report_violation(message, None)

    return validate


def build_policies(context: PolicyContext, rules: Iterable[Rule] = RULES) -> list[ResourceValidationPolicy]:
    """One `ResourceValidationPolicy` per rule, mandatory in prod and advisory elsewhere.

    `--policy-pack-config` can still override a policy's level (e.g. `{"all": "mandatory"}`).
    """
    level = enforcement_level(context)
    return [
        ResourceValidationPolicy(
            name=rule.name,
            description=rule.description,
            validate=_validation(rule, context),
            enforcement_level=level,
        )
        for rule in rules
    ]
