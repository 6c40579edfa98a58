"""Turning pydantic validation errors into one line per problem: the key path and the fix."""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr, ValidationError

from components.config.stack import ModelstackConfig
from components.limits.bounds import Bound, show_number


class ConfigError(Exception):
    """The stack config is invalid. `problems` holds one 'key.path: message' line each."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"invalid stack config ({len(self.problems)} problem"
            f"{'s' if len(self.problems) != 1 else ''}):\n{lines}"
        )


def _format_loc(top_key: str, loc: tuple[Any, ...]) -> str:
    """`loc` is pydantic's full location, starting with the top-level key."""
    path = top_key
    for index, part in enumerate(loc[1:], start=1):
        if index == 2 and loc[0] == "buckets" and part in ("gcs", "s3"):
            continue  # the discriminated-union tag pydantic inserts; not a user key
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The config model class that owns the last key of `loc`, for 'allowed keys' hints."""
    current: Any = ModelstackConfig
    for part in loc[:-1]:
        current = _unwrap(current, part)
        if current is None:
            return None
    current = _unwrap_optional(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap_optional(tp: Any) -> Any:
    if get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _unwrap_optional(args[0])
    return tp


def _unwrap(tp: Any, part: Any) -> Any:
    tp = _unwrap_optional(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, field in tp.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        return None
    origin = get_origin(tp)
    if origin in (dict, Mapping):
        return get_args(tp)[1]
    if origin is list:
        return get_args(tp)[0]
    if origin in (Union, types.UnionType):  # a discriminated union: pick the member by its tag
        for member in get_args(tp):
            kind = getattr(member, "model_fields", {}).get("kind")
            if kind is not None and part in get_args(kind.annotation):
                return member
    return None


def _message(error: Mapping[str, Any], loc: tuple[Any, ...]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        owner = _model_at(loc)
        allowed = ", ".join(f.alias or n for n, f in owner.model_fields.items()) if owner else ""
        return "unknown key; remove it or fix its spelling" + (
            f" (allowed: {allowed})" if allowed else ""
        )
    if kind == "missing":
        if len(loc) == 3 and loc[0] == "secrets" and loc[2] == "value":
            return (
                "is required; set it with: pulumi config set --secret --path "
                f"secrets.{loc[1]}.value <value>"
            )
        return "is required; add it"
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        return "kind: must be 'gcs' or 's3'"
    if kind in ("literal_error", "enum"):
        expected = error.get("ctx", {}).get("expected", "")
        return f"must be one of {expected}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        shape = _shape_at(loc)
        if shape:
            return f"expected {shape}"
    if kind in _BOUND_ERRORS:
        return _bound_message(error, loc)
    msg = str(error["msg"])
    if msg.startswith("Value error, "):
        return msg[len("Value error, ") :]
    # pydantic's own sentences start with a capital ("Input should be..."); ours continue a path.
    return msg[0].lower() + msg[1:] if msg[:2].istitle() else msg


def problems_from(exc: ValidationError, namespace_key: str) -> list[str]:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        top = f"{namespace_key}{loc[0]}" if loc else namespace_key.rstrip(":")
        message = _message(error, loc)
        # Validators that report on a sub-key ("max: must be ...") name it themselves.
        path = _format_loc(top, loc)
        if ": " in message and message.split(": ", 1)[0].replace(".", "").isalnum():
            sub, message = message.split(": ", 1)
            path = f"{path}.{sub}"
        problems.append(f"{path}: {message}")
    return problems



_BOUND_ERRORS = ("greater_than_equal", "less_than_equal", "greater_than", "less_than")


def _bound_message(error: Mapping[str, Any], loc: tuple[Any, ...]) -> str:
    """A number out of range, worded as the providers' checks word it (`components/limits`):
    both ends of the field's range, and the value given (numbers are never secrets)."""
    ctx = error.get("ctx", {})
    if "gt" in ctx or "lt" in ctx:
        limit = ctx.get("gt", ctx.get("lt"))
        return f"must be {'greater' if 'gt' in ctx else 'less'} than {show_number(limit)}, not {error.get('input')}"
    minimum, maximum = ctx.get("ge"), ctx.get("le")
    owner = _model_at(loc)
    field = next((f for n, f in owner.model_fields.items() if loc[-1] in (n, f.alias)), None) if owner else None
    for meta in field.metadata if field is not None else ():
        minimum = getattr(meta, "ge", minimum)
        maximum = getattr(meta, "le", maximum)
    value = error.get("input")
    bound = Bound(minimum if minimum is not None else float("-inf"), maximum, "")
    if minimum is None:
        return f"must be at most {maximum}, not {value}"
    return bound.problem(float(value)) or f"must be {bound.describe()}, not {value}"


# How many keys an "expected {...}" hint shows before it ends with "...".
_SHAPE_KEYS = 4


def _shape_at(loc: tuple[Any, ...]) -> str | None:
    """The shape a section expects, as a user writes it (`{value: <secret>, version: <n>}`), for a
    value of the wrong type: the error names no internal class."""
    current: Any = ModelstackConfig
    for part in loc:
        current = _unwrap(current, part)
        if current is None:
            return None
    return _shape(_unwrap_optional(current))


def _shape(tp: Any) -> str | None:
    if get_origin(tp) in (Union, types.UnionType):  # the bucket kinds: a tagged union
        tags = [get_args(m.model_fields["kind"].annotation)[0] for m in get_args(tp) if "kind" in getattr(m, "model_fields", {})]
        return "{kind: " + " | ".join(tags) + ", ...}" if tags else None
    if get_origin(tp) in (dict, Mapping):
        return "{<name>: ...}"
    if not (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return None
    fields = sorted(tp.model_fields.items(), key=lambda item: not item[1].is_required())
    parts = [f"{f.alias or n}: {_placeholder(f.annotation)}" for n, f in fields[:_SHAPE_KEYS]]
    if len(fields) > _SHAPE_KEYS:
        parts.append("...")
    return "{" + ", ".join(parts) + "}"


def _placeholder(tp: Any) -> str:
    tp = _unwrap_optional(tp)
    origin = get_origin(tp)
    if tp is SecretStr:
        return "<secret>"
    if tp is bool:
        return "<true|false>"
    if tp is int:
        return "<n>"
    if tp is float:
        return "<number>"
    if tp is str:
        return "<text>"
    if origin is Literal:
        return " | ".join(str(a) for a in get_args(tp))
    if origin is list:
        return "[...]"
    if origin in (dict, Mapping) or (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return "{...}"
    return "<value>"
