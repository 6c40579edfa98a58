"""The plan's result as data: the resource rows, cost, budget verdict, policy results and the
comparison with another commit. `components/plan.py` builds it; `document` and `render` present it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from components.budget import BudgetDecision
from components.cost import CostEstimate
from components.offline import ProgramRun
from components.review.against import Comparison
from components.review.policies import PolicyReport

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_BLOCKED = 3


@dataclass
class PlanRow:
    depth: int
    type: str
    name: str
    protect: bool
    custom: bool
    properties: dict[str, Any]
    urn: str = ""
    parent: str = ""


@dataclass
class Plan:
    stack: str
    rows: list[PlanRow] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """What the program warned about (`pulumi.log.warn`): valid, but likely not what was meant."""
    errors: list[str] = field(default_factory=list)
    run: ProgramRun | None = None
    cost: CostEstimate | None = None
    budget: BudgetDecision | None = None
    policy: PolicyReport | None = None
    comparison: Comparison | None = None

    @property
    def ok(self) -> bool:
        """The config is valid and the program ran."""
        return not self.errors

    @property
    def blocked_by(self) -> list[str]:
        """Why `pulumi preview` would fail for this plan (empty when it would not)."""
        reasons = []
        if self.budget is not None and self.budget.blocked:
            reasons.append("budget")
        if self.policy is not None and self.policy.blocked:
            reasons.append("policy")
        return reasons

    @property
    def status(self) -> str:
        """invalid, blocked, warning (program warnings, advisories, budget overrun not enforced) or ok."""
        if self.errors:
            return "invalid"
        if self.blocked_by:
            return "blocked"
        warned = (
            bool(self.warnings)
            or (self.budget is not None and self.budget.exceeded)
            or (self.policy is not None and self.policy.advisory_violations > 0)
        )
        return "warning" if warned else "ok"

    @property
    def exit_code(self) -> int:
        return {"invalid": EXIT_INVALID, "blocked": EXIT_BLOCKED}.get(self.status, EXIT_OK)

    @property
    def resource_count(self) -> int:
        return sum(1 for r in self.rows if r.custom)
