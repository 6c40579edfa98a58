"""The budget gate: one decision, made the same way by the program and the plan."""

from __future__ import annotations

import json

import pytest

from components import budget, offline
from components.budget import BudgetExceededError
from components.config import validate_flat
from components.cost import estimate
from components.offline import load_stack_file, run_program

PLATFORM = "modelstack:index:Platform"


def prod_with_budget(budget_value: dict) -> offline.StackFile:
    stack_file = load_stack_file("prod")
    stack_file.config["modelstack:budget"] = json.dumps(budget_value)
    return stack_file


def decision_for(stack_file: offline.StackFile) -> budget.BudgetDecision:
    config = validate_flat(stack_file.config, stack=stack_file.stack, secret_keys=stack_file.secret_keys)
    return budget.evaluate(config, estimate(config))


def test_committed_stacks_are_within_their_budgets():
    dev = decision_for(load_stack_file("dev"))
    prod = decision_for(load_stack_file("prod"))
    assert (dev.budget_usd, dev.blocked, dev.expected_usd) == (150, False, 0)
    assert (prod.budget_usd, prod.blocked) == (2500, False)
    assert prod.expected_usd == pytest.approx(917.46, abs=0.01)


def test_over_budget_blocks_and_names_what_dominates():
    decision = decision_for(prod_with_budget({"monthlyUsd": 500}))
    assert decision.exceeded and decision.blocked
    # flux alone is 89% of the total: it is what the message names
    assert [i.label for i in decision.dominant] == ["endpoint flux"]
    message = decision.message()
    assert message.startswith(
        "modelstack:budget: blocked: expected cost $917.46/month exceeds the budget of $500.00 by $417.46."
    )
    assert "endpoint flux $817.60 (89%): runpod ADA_24 ($1.12/h), 1 always-on worker" in message
    assert "gateway" not in message
    assert message.endswith(
        "To fix: raise modelstack:budget.monthlyUsd, lower models.flux.endpoint.workers.min (or the usage it "
        "is priced for) or set modelstack:budget.enforce: false to only warn."
    )


def test_enforce_false_only_warns():
    decision = decision_for(prod_with_budget({"monthlyUsd": 500, "enforce": False}))
    assert decision.exceeded and not decision.blocked
    assert "warning (budget.enforce is false)" in decision.message()


def test_no_budget_never_blocks():
    stack_file = load_stack_file("prod")
    del stack_file.config["modelstack:budget"]
    decision = decision_for(stack_file)
    assert decision.budget_usd is None and not decision.exceeded and not decision.blocked


@pytest.fixture
def monitors(monkeypatch):
    """Every mock monitor `run_program` creates, so a test can see what registered before a failure."""
    created = []
    original = offline._recording_monitor_class

    def recording_class():
        cls = original()

        class Kept(cls):  # type: ignore[misc, valid-type]
            def __init__(self, mocks):
                super().__init__(mocks)
                created.append(self)

        return Kept

    monkeypatch.setattr(offline, "_recording_monitor_class", recording_class)
    return created


def test_program_fails_before_registering_anything_when_over_budget(monitors):
    with pytest.raises(BudgetExceededError) as info:
        run_program("prod", stack_file=prod_with_budget({"monthlyUsd": 500}))
    assert "endpoint flux $817.60" in str(info.value)
    assert info.value.decision.blocked
    registered = [r.type for r in monitors[-1].registrations.values()]
    assert registered == ["pulumi:pulumi:Stack"]  # the engine's root; nothing of ours


def test_program_deploys_over_budget_when_not_enforced(monitors, monkeypatch):
    warnings = []
    monkeypatch.setattr("pulumi.log.warn", lambda message, *a, **k: warnings.append(message))
    run = run_program("prod", stack_file=prod_with_budget({"monthlyUsd": 500, "enforce": False}))
    assert run.of_type(PLATFORM)
    assert len(warnings) == 1 and "exceeds the budget of $500.00" in warnings[0]
