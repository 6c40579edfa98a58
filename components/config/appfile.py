"""What a Modal app file defines, read from its source with `ast`: user code never runs at plan time.

`modal.webEndpoints` names `Class.method` or `function` entries whose web URLs the deploy reads
(components/providers/modal/deploy.py asks the deployed app for each). An entry the file does not
define, or defines without a web decorator, deploys and then fails; this module finds that offline.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

WEB_DECORATORS = frozenset({"asgi_app", "wsgi_app", "web_server", "fastapi_endpoint", "web_endpoint"})
"""Modal's decorators that give a function or method a web URL (modal.asgi_app, ...)."""


@dataclass
class AppFile:
    functions: dict[str, bool] = field(default_factory=dict)
    """Module-level functions (also inside `if` blocks) -> whether they carry a web decorator."""
    classes: dict[str, dict[str, bool]] = field(default_factory=dict)
    """Classes -> their methods -> whether each carries a web decorator."""


def _decorator_name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute):
        return target.attr
    if isinstance(target, ast.Name):
        return target.id
    return ""


def _is_web(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(_decorator_name(d) in WEB_DECORATORS for d in node.decorator_list)


def _module_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements at module level, including those under `if`/`try`/`with` (a warm schedule's
    function is often defined under `if settings.warm_schedule:`), but not inside functions."""
    out: list[ast.stmt] = []
    for node in body:
        out.append(node)
        if isinstance(node, ast.If):
            out.extend(_module_level(node.body + node.orelse))
        elif isinstance(node, ast.Try):
            out.extend(_module_level(node.body + node.orelse + node.finalbody))
            for handler in node.handlers:
                out.extend(_module_level(handler.body))
        elif isinstance(node, ast.With):
            out.extend(_module_level(node.body))
    return out


def read_app_file(path: Path) -> AppFile:
    """Parse `path`; raises SyntaxError (with its line) when it is not valid Python."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = AppFile()
    for node in _module_level(tree.body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.functions[node.name] = _is_web(node)
        elif isinstance(node, ast.ClassDef):
            found.classes[node.name] = {
                item.name: _is_web(item)
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            }
    return found


def web_endpoint_problem(app: AppFile, entry: str, shown_path: str) -> str | None:
    """Why `entry` is not a web endpoint of the app file, or None when it is."""
    if "." in entry:
        cls_name, method = entry.split(".", 1)
        methods = app.classes.get(cls_name)
        if methods is None:
            known = ", ".join(sorted(app.classes)) or "none"
            return f"{entry!r}: {shown_path} defines no class {cls_name} (classes: {known})"
        if method not in methods:
            known = ", ".join(sorted(methods)) or "none"
            return f"{entry!r}: class {cls_name} in {shown_path} has no method {method} (methods: {known})"
        if not methods[method]:
            return (
                f"{entry!r}: {cls_name}.{method} in {shown_path} has no web decorator (modal.asgi_app, "
                "modal.wsgi_app, modal.web_server or modal.fastapi_endpoint), so it has no URL"
            )
        return None
    if entry not in app.functions:
        known = ", ".join(sorted(app.functions)) or "none"
        return f"{entry!r}: {shown_path} defines no function {entry} (functions: {known})"
    if not app.functions[entry]:
        return (
            f"{entry!r}: function {entry} in {shown_path} has no web decorator (modal.asgi_app, modal.wsgi_app, "
            "modal.web_server or modal.fastapi_endpoint), so it has no URL"
        )
    return None
