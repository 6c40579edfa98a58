"""A vendor's numeric bound, and the one wording every check uses for it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bound:
    """An inclusive range of whole numbers (or numbers) a vendor accepts for one setting."""

    minimum: float
    maximum: float | None
    source: str
    """Where the bound comes from: a URL, an API schema or the vendor client's code."""
    unit: str = ""

    def problem(self, value: float) -> str | None:
        """Why `value` is out of range, in the wording config and provider checks share; else None."""
        if value < self.minimum or (self.maximum is not None and value > self.maximum):
            return f"must be {self.describe()}, not {show_number(value)}"
        return None

    def describe(self) -> str:
        if self.maximum is None:
            return f"at least {show_number(self.minimum)}"
        return f"between {show_number(self.minimum)} and {show_number(self.maximum)}"

    def field_args(self) -> dict[str, float]:
        """Keyword arguments for a pydantic `Field` holding this bound."""
        args = {"ge": self.minimum}
        if self.maximum is not None:
            args["le"] = self.maximum
        return args


def show_number(number: float) -> str:
    """`3.0` -> `3`, `0.5` -> `0.5`: numbers as a user wrote them."""
    return f"{int(number)}" if float(number).is_integer() else f"{number:g}"
