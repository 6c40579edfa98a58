"""Run the policy pack's rules over the resources a program run registered, as the CLI would.

The offline plan has what the Pulumi CLI gives a policy pack: each resource's type, name, URN,
inputs and `protect`. Secrets the program marked stay marked (as `policy.resources.Secret`) so the
secrets rule can tell a secret value from a plaintext one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components.offline import ProgramRun, Registration
from policy.context import PolicyContext
from policy.resources import Resource, Secret
from policy.rules import RULES, Rule


@dataclass(frozen=True)
class Violation:
    policy: str
    urn: str
    name: str
    type: str
    message: str


@dataclass
class PolicyResult:
    name: str
    description: str
    enforcement: str
    checked: int
    """How many resources of the rule's types the stack has."""
    violations: list[Violation] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.violations:
            return "fail"
        return "pass" if self.checked else "n/a"


@dataclass
class PolicyReport:
    environment: str
    enforcement: str
    results: list[PolicyResult]

    @property
    def violations(self) -> list[Violation]:
        return [v for result in self.results for v in result.violations]

    @property
    def mandatory_violations(self) -> int:
        return sum(len(r.violations) for r in self.results if r.enforcement == "mandatory")

    @property
    def advisory_violations(self) -> int:
        return sum(len(r.violations) for r in self.results if r.enforcement == "advisory")

    @property
    def blocked(self) -> bool:
        return self.mandatory_violations > 0


def _marked(value: Any) -> Any:
    """Registration inputs with the SDK's secret markers turned into `Secret`."""
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(value):
        return Secret(_marked(rpc.unwrap_rpc_secret(value)))
    if isinstance(value, Mapping):
        return {k: _marked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_marked(v) for v in value]
    return value


def as_resource(registration: Registration) -> Resource:
    return Resource(
        type=registration.type,
        name=registration.name,
        urn=registration.urn,
        inputs=_marked(registration.inputs),
        protect=registration.protect,
    )


def evaluate(resources: Iterable[Resource], context: PolicyContext, rules: Iterable[Rule] = RULES) -> PolicyReport:
    resources = list(resources)
    results = []
    for rule in rules:
        applicable = [res for res in resources if res.type in rule.types]
        result = PolicyResult(rule.name, rule.description, context.enforcement, len(applicable))
        for resource in applicable:
            for message in rule.check(resource, context):
                result.violations.append(Violation(rule.name, resource.urn, resource.name, resource.type, message))
        results.append(result)
    return PolicyReport(context.environment, context.enforcement, results)


def evaluate_run(run: ProgramRun, context: PolicyContext) -> PolicyReport:
    """The rules over every custom resource of a program run (components are not deployed)."""
    return evaluate((as_resource(r) for r in run.resources if r.custom), context)
