"""The budget gate: a stack whose expected monthly cost exceeds `modelstack:budget` does not deploy.

One decision, shared by the program and the offline plan so they can never disagree:
`evaluate(config, estimate)` compares the cost model's expected total with
`budget.monthlyUsd`. Over budget with `enforce: true` (the default) blocks: the program raises
`BudgetExceededError` before registering a single resource, so `pulumi preview` and `pulumi up` fail;
the plan exits non-zero. With `enforce: false` both only warn. A stack without `budget:` is never
blocked. The message names the items that dominate the cost and the three ways out.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from components.config import StackConfig
from components.cost import CostEstimate, LineItem, dominant, estimate


@dataclass(frozen=True)
class BudgetDecision:
    budget_usd: float | None
    enforce: bool
    expected_usd: float
    dominant: list[LineItem] = field(default_factory=list)

    @property
    def exceeded(self) -> bool:
        return self.budget_usd is not None and self.expected_usd > self.budget_usd

    @property
    def blocked(self) -> bool:
        return self.exceeded and self.enforce

    @property
    def share(self) -> float | None:
        """Expected cost as a fraction of the budget."""
        return self.expected_usd / self.budget_usd if self.budget_usd else None

    def message(self) -> str:
        if self.budget_usd is None:
            return f"no modelstack:budget set; expected ${self.expected_usd:,.2f}/month"
        if not self.exceeded:
            return (
                f"expected ${self.expected_usd:,.2f}/month is within the budget of "
                f"${self.budget_usd:,.2f} ({self.share:.0%})"
            )
        over = self.expected_usd - self.budget_usd
        drivers = "; ".join(
            f"{item.label} ${item.monthly.expected:,.2f} ({item.monthly.expected / self.expected_usd:.0%}): {item.basis}"
            for item in self.dominant
        )
        fixes = ["raise modelstack:budget.monthlyUsd"]
        endpoint_keys = [i.key for i in self.dominant if i.kind == "endpoint"]
        service_keys = [i.key for i in self.dominant if i.kind == "service"]
        app_keys = [i.key for i in self.dominant if i.kind == "app"]
        if endpoint_keys:
            fixes.append(
                "lower " + " or ".join(f"models.{k}.endpoint.workers.min" for k in endpoint_keys)
                + " (or the usage it is priced for)"
            )
        if app_keys:
            fixes.append(
                "lower " + " or ".join(f"apps.{k}.workers.min" for k in app_keys) + " (or the usage it is priced for)"
            )
        if service_keys:
            fixes.append("lower " + " or ".join(f"services.{k}.minInstances" for k in service_keys))
        if self.enforce:
            fixes.append("set modelstack:budget.enforce: false to only warn")
        verdict = "blocked" if self.enforce else "warning (budget.enforce is false)"
        return (
            f"modelstack:budget: {verdict}: expected cost ${self.expected_usd:,.2f}/month exceeds the budget "
            f"of ${self.budget_usd:,.2f} by ${over:,.2f}. Dominated by: {drivers or 'nothing priced'}. "
            f"To fix: {_either(fixes)}."
        )


def _either(options: list[str]) -> str:
    return options[0] if len(options) == 1 else f"{', '.join(options[:-1])} or {options[-1]}"


class BudgetExceededError(Exception):
    """The stack's expected monthly cost exceeds its enforced budget."""

    def __init__(self, decision: BudgetDecision):
        self.decision = decision
        super().__init__(decision.message())


def evaluate(config: StackConfig, cost: CostEstimate) -> BudgetDecision:
    budget = config.modelstack.budget
    expected = cost.total.expected
    return BudgetDecision(
        budget_usd=budget.monthly_usd if budget else None,
        enforce=budget.enforce if budget else False,
        expected_usd=expected,
        dominant=dominant(cost.items),
    )


_DEFERRED: ContextVar[bool] = ContextVar("modelstack_budget_deferred", default=False)


@contextmanager
def deferred() -> Iterator[None]:
    """Run the program without its gate: the caller (the offline plan) makes the same decision
    itself and reports it once, and still wants every resource of an over-budget stack listed."""
    token = _DEFERRED.set(True)
    try:
        yield
    finally:
        _DEFERRED.reset(token)


def enforce(config: StackConfig, cost: CostEstimate | None = None) -> BudgetDecision:
    """The program's gate: raise `BudgetExceededError` when blocked, warn when only exceeded."""
    decision = evaluate(config, cost or estimate(config))
    if _DEFERRED.get():
        return decision
    if decision.blocked:
        raise BudgetExceededError(decision)
    if decision.exceeded:
        import pulumi

        pulumi.log.warn(decision.message())
    return decision
