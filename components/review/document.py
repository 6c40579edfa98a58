"""The plan as a stable JSON document, for CI and other tools.

`schemaVersion` is bumped on any change that removes or renames a field; new fields may appear in
the same version. Amounts are USD per month as numbers, rounded to cents. Secrets appear as
"[secret]". Top-level keys:

    schemaVersion, stack, status (ok | warning | blocked | invalid), exitCode, blockedBy,
    errors, notices, warnings, resources, outputs, cost, budget, policies, against
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from components.cost import Range
    from components.review.report import Plan

SCHEMA_VERSION = 1


def _amounts(r: Range | None) -> dict[str, float] | None:
    if r is None:
        return None
    return {"low": round(r.low, 2), "expected": round(r.expected, 2), "high": round(r.high, 2)}


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def to_document(plan: Plan) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaVersion": SCHEMA_VERSION,
        "stack": plan.stack,
        "status": plan.status,
        "exitCode": plan.exit_code,
        "blockedBy": plan.blocked_by,
        "errors": list(plan.errors),
        "notices": list(plan.notices),
        "warnings": list(plan.warnings),
        "resources": [
            {
                "urn": row.urn,
                "type": row.type,
                "name": row.name,
                "parent": row.parent,
                "custom": row.custom,
                "protect": row.protect,
                "depth": row.depth,
                "properties": row.properties,
            }
            for row in plan.rows
        ],
        "outputs": plan.outputs,
        "cost": None,
        "budget": None,
        "policies": None,
        "against": None,
    }
    if plan.cost is not None:
        doc["cost"] = {
            "currency": "USD",
            "period": "month",
            "hoursPerMonth": 730,
            "total": _amounts(plan.cost.total),
            "ceiling": round(plan.cost.ceiling, 2),
            "items": [
                {
                    "kind": item.kind,
                    "key": item.key,
                    "basis": item.basis,
                    **(_amounts(item.monthly) or {}),
                    "ceiling": round(item.ceiling, 2),
                    "notes": item.notes,
                    "details": _rounded(item.details),
                    "sources": [s.name for s in item.sources],
                }
                for item in plan.cost.items
            ],
            "sources": [{"name": s.name, "source": s.source, "asOf": s.as_of} for s in plan.cost.sources],
        }
    if plan.budget is not None:
        b = plan.budget
        doc["budget"] = {
            "monthlyUsd": b.budget_usd,
            "enforce": b.enforce,
            "expectedUsd": round(b.expected_usd, 2),
            "exceeded": b.exceeded,
            "blocked": b.blocked,
            "dominant": [i.label for i in b.dominant],
            "message": b.message(),
        }
    if plan.policy is not None:
        p = plan.policy
        doc["policies"] = {
            "environment": p.environment,
            "enforcement": p.enforcement,
            "mandatoryViolations": p.mandatory_violations,
            "advisoryViolations": p.advisory_violations,
            "results": [
                {
                    "name": r.name,
                    "description": r.description,
                    "enforcement": r.enforcement,
                    "status": r.status,
                    "checked": r.checked,
                    "violations": [{"urn": v.urn, "name": v.name, "type": v.type, "message": v.message} for v in r.violations],
                }
                for r in p.results
            ],
        }
    if plan.comparison is not None:
        c = plan.comparison
        doc["against"] = {
            "ref": c.ref,
            "commit": c.commit,
            "stackFileFound": c.stack_file_found,
            "programRan": c.program_ran,
            "added": [{"urn": r.urn, "type": r.type, "name": r.name} for r in c.added],
            "changed": [
                {
                    "urn": ch.resource.urn,
                    "type": ch.resource.type,
                    "name": ch.resource.name,
                    "changes": {k: {"before": b, "after": a} for k, (b, a) in ch.changes.items()},
                }
                for ch in c.changed
            ],
            "removed": [{"urn": r.urn, "type": r.type, "name": r.name} for r in c.removed],
            "cost": {
                "before": _amounts(c.cost_before),
                "after": _amounts(c.cost_after),
                "delta": _amounts(c.cost_delta),
            },
            "notes": c.notes,
        }
    return doc


def render_json(plan: Plan) -> str:
    return json.dumps(to_document(plan), indent=2, default=str) + "\n"
