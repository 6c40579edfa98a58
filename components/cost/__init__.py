"""The cost model: a stack's monthly cost as a low / expected / high range (see `model.py`)."""

from components.cost.model import (
    DAYS_PER_MONTH,
    HOURS_PER_MONTH,
    CostEstimate,
    LineItem,
    Range,
    dominant,
    estimate,
    per_unit_usd,
    work_hours,
)

__all__ = [
    "DAYS_PER_MONTH",
    "HOURS_PER_MONTH",
    "CostEstimate",
    "LineItem",
    "Range",
    "dominant",
    "estimate",
    "per_unit_usd",
    "work_hours",
]
