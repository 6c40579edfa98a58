"""The plan as text (a terminal) and as markdown (one pull-request comment).

Both read the same `Plan`; neither decides anything. The markdown keeps what a reviewer must see
(status, counts, cost table, budget verdict, policy table) in the open and folds the long parts
(violations, changes, notes, the resource tree) into `<details>`. When the whole would not fit in
`max_chars`, the folded parts are cut, the resource tree first, each with a note saying so.
Values that come from the config are escaped: a fork's pull request must not be able to forge
the comment's markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from components.cost import Range
    from components.review.report import Plan

STATUS_ICON = {"ok": "✅", "warning": "⚠️", "blocked": "❌", "invalid": "❌"}
CUT_NOTE = "… cut to fit a GitHub comment; run `python -m components.plan --stack {stack}` for the full plan"


def format_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Mapping):
        # Sorted: the wire format does not keep key order, and a plan must print the same twice.
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def usd(value: float) -> str:
    return f"${value:,.2f}"


def signed_usd(value: float) -> str:
    if abs(value) < 0.005:
        return "±$0.00"
    return f"{'+' if value > 0 else '-'}${abs(value):,.2f}"


def _range(r: Range) -> str:
    if abs(r.high - r.low) < 0.005:
        return usd(r.expected)
    return f"{usd(r.expected)} ({usd(r.low)} to {usd(r.high)})"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# --------------------------------------------------------------------------------------------
# text
# --------------------------------------------------------------------------------------------


def render_text(plan: Plan) -> str:
    lines = [f"modelstack plan for stack '{plan.stack}'"]
    if plan.errors:
        lines.append(f"config is invalid ({len(plan.errors)} problem{'s' if len(plan.errors) != 1 else ''}):")
        lines.extend(f"  - {e}" for e in plan.errors)
        return "\n".join(lines) + "\n"
    custom = plan.resource_count
    components = len(plan.rows) - custom
    lines.append(f"{custom} cloud resources in {components} components would be created:")
    lines.append("")
    lines.extend(tree_lines(plan))
    if plan.outputs:
        lines.append("")
        lines.append("outputs:")
        for key, value in plan.outputs.items():
            lines.append(f"  {key}: {format_value(value)}")
    for notice in plan.notices:
        lines.append("")
        lines.append(f"note: {notice}")
    if plan.warnings:
        lines.append("")
        lines.extend(f"warning: {warning}" for warning in plan.warnings)
    lines.extend(_text_cost(plan))
    lines.extend(_text_policies(plan))
    lines.extend(_text_changes(plan))
    lines.append("")
    blocked = f" ({', '.join(plan.blocked_by)})" if plan.blocked_by else ""
    lines.append(f"status: {plan.status}{blocked}")
    return "\n".join(lines) + "\n"


def tree_lines(plan: Plan) -> list[str]:
    lines = []
    for row in plan.rows:
        indent = "  " * row.depth
        flag = " [protected]" if row.protect else ""
        lines.append(f"{indent}+ {row.type}  {row.name}{flag}")
        for key, value in row.properties.items():
            lines.append(f"{indent}      {key}: {format_value(value)}")
    return lines


def _text_cost(plan: Plan) -> list[str]:
    if plan.cost is None:
        return []
    cost = plan.cost
    lines = ["", "cost (USD/month): expected (low to high), ceiling = every worker and instance busy all month"]
    width = max([len(i.label) for i in cost.items] + [5])
    for item in cost.items:
        lines.append(f"  {item.label:<{width}}  {_range(item.monthly):<32}  ceiling {usd(item.ceiling):>11}  {item.basis}")
    lines.append(f"  {'total':<{width}}  {_range(cost.total):<32}  ceiling {usd(cost.ceiling):>11}")
    for item in cost.items:
        for note in item.notes:
            lines.append(f"  note: {item.label}: {note}")
    lines.append("  prices: " + "; ".join(f"{s.name}: {s.source}, as of {s.as_of}" for s in cost.sources))
    if plan.budget is not None:
        lines.append(f"budget: {plan.budget.message()}")
    return lines


def _text_policies(plan: Plan) -> list[str]:
    if plan.policy is None:
        return []
    report = plan.policy
    lines = [
        "",
        f"policies ({report.environment}: violations are {report.enforcement}): "
        f"{_plural(len(report.violations), 'violation')}",
    ]
    for result in report.results:
        lines.append(f"  {result.status.upper():<4}  {result.name}")
        for violation in result.violations:
            lines.append(f"          - {violation.message}")
    return lines


def _text_changes(plan: Plan) -> list[str]:
    comparison = plan.comparison
    if comparison is None:
        return []
    lines = ["", f"changes vs {comparison.ref} ({comparison.short_commit}): {_change_counts(plan)}"]
    for ref in comparison.added:
        lines.append(f"  + {ref.type}  {ref.name}")
    for change in comparison.changed:
        lines.append(f"  ~ {change.resource.type}  {change.resource.name}")
        for key, (before, after) in change.changes.items():
            lines.append(f"      {key}: {_short(before)} -> {_short(after)}")
    for ref in comparison.removed:
        lines.append(f"  - {ref.type}  {ref.name}")
    lines.extend(f"  note: {note}" for note in comparison.notes)
    return lines


def _change_counts(plan: Plan) -> str:
    c = plan.comparison
    assert c is not None
    text = f"+{len(c.added)} added, ~{len(c.changed)} changed, -{len(c.removed)} removed"
    delta = c.cost_delta
    text += f"; expected cost {signed_usd(delta.expected)}/month" if delta else "; cost delta unknown"
    return text


def _short(value: Any, limit: int = 160) -> str:
    text = "(none)" if value is None else format_value(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------
# markdown
# --------------------------------------------------------------------------------------------


_CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def _escape_outside_code(text: str) -> str:
    """HTML-escape text except inside code spans, where markdown shows characters literally."""
    out, last = [], 0
    for match in _CODE_SPAN.finditer(text):
        out.append(html.escape(text[last : match.start()], quote=False))
        out.append(match.group(0))
        last = match.end()
    out.append(html.escape(text[last:], quote=False))
    return "".join(out)


def _cell(value: Any, limit: int = 300) -> str:
    """Text safe inside a table cell: HTML escaped, pipes and newlines neutralised."""
    text = _short(value, limit) if not isinstance(value, str) else (value if len(value) <= limit else value[: limit - 1] + "…")
    return _escape_outside_code(text).replace("|", "\\|").replace("\n", " ")


def _code(value: Any, limit: int = 300) -> str:
    """Inline code that no backtick in the value can break out of."""
    text = _cell(value, limit)
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


@dataclass
class Fold:
    """A `<details>` block whose inner lines may be cut to make the comment fit."""

    summary: str
    lines: list[str]
    fence: bool = False
    open: bool = False

    def render(self, keep: int | None = None, stack: str = "") -> str:
        kept = self.lines if keep is None else self.lines[:keep]
        body = list(kept)
        if keep is not None and keep < len(self.lines):
            body.append(("" if self.fence else "\n") + CUT_NOTE.format(stack=stack) + f" ({len(self.lines) - keep} lines cut)")
        if self.fence:
            longest = max((len(m) for line in body for m in re.findall(r"`{3,}", line)), default=0)
            fence = "`" * max(3, longest + 1)
            body = [f"{fence}text", *body, fence]
        opened = " open" if self.open else ""
        return f"<details{opened}><summary>{self.summary}</summary>\n\n" + "\n".join(body) + "\n\n</details>\n"


def _md_header(plan: Plan) -> list[str]:
    icon = STATUS_ICON[plan.status]
    lines = [f"<!-- modelstack-plan:{html.escape(plan.stack)} -->", f"### {icon} modelstack plan: `{_cell(plan.stack)}`", ""]
    if plan.errors:
        lines.append(f"**Status: invalid config** ({_plural(len(plan.errors), 'problem')}); nothing would deploy.")
        lines.append("")
        lines.extend(f"- {_cell(e, 1000)}" for e in plan.errors)
        lines.append("")
        return lines
    facts = [f"**Status: {plan.status}**" + (f" ({', '.join(plan.blocked_by)})" if plan.blocked_by else "")]
    facts.append(_plural(plan.resource_count, "resource"))
    if plan.cost is not None:
        total = plan.cost.total
        spread = f" ({usd(total.low)} to {usd(total.high)})" if abs(total.high - total.low) >= 0.005 else ""
        facts.append(f"expected **{usd(total.expected)}/month**{spread}")
    if plan.budget is not None and plan.budget.budget_usd is not None and plan.budget.share is not None:
        facts.append(f"budget {usd(plan.budget.budget_usd)} ({plan.budget.share:.0%} used)")
    if plan.policy is not None:
        facts.append(
            f"policies: {plan.policy.mandatory_violations} mandatory, {plan.policy.advisory_violations} advisory violations"
        )
    lines.append(" · ".join(facts))
    if plan.comparison is not None:
        c = plan.comparison
        lines.append("")
        lines.append(f"Compared with `{_cell(c.ref)}` (`{c.short_commit}`): {_change_counts(plan)}")
    lines.append("")
    return lines


def _md_cost(plan: Plan) -> tuple[list[str], Fold | None]:
    if plan.cost is None:
        return [], None
    cost = plan.cost
    lines = [
        "#### Cost (USD per month)",
        "",
        "| Item | Basis | Low | Expected | High | Ceiling |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for item in cost.items:
        m = item.monthly
        lines.append(
            f"| {item.kind} `{_cell(item.key)}` | {_cell(item.basis)} | {m.low:,.2f} | {m.expected:,.2f} | {m.high:,.2f} | {item.ceiling:,.2f} |"
        )
    t = cost.total
    lines.append(f"| **Total** | | **{t.low:,.2f}** | **{t.expected:,.2f}** | **{t.high:,.2f}** | {cost.ceiling:,.2f} |")
    if plan.comparison is not None and plan.comparison.cost_before is not None:
        before = plan.comparison.cost_before
        delta = plan.comparison.cost_delta
        assert delta is not None
        lines.append(
            f"| Change vs `{_cell(plan.comparison.short_commit)}` | was {usd(before.expected)} | {signed_usd(delta.low)} | "
            f"**{signed_usd(delta.expected)}** | {signed_usd(delta.high)} | |"
        )
    lines.append("")
    if plan.budget is not None:
        icon = "❌" if plan.budget.blocked else ("⚠️" if plan.budget.exceeded else "✅")
        lines.append(f"{icon} Budget: {_cell(plan.budget.message(), 2000)}")
        lines.append("")
    notes = [f"- {item.kind} `{_cell(item.key)}`: {_cell(note)}" for item in cost.items for note in item.notes]
    notes.append(
        "- Ceiling: every worker (`workers.max`) and instance (`maxInstances`) busy all month on the priciest allowed GPU."
    )
    notes.extend(f"- Prices: {_cell(s.name)}, {_cell(s.source)}, as of {_cell(s.as_of)}" for s in cost.sources)
    return lines, Fold("How this is estimated: notes and price sources", notes)


def _md_policies(plan: Plan) -> tuple[list[str], Fold | None]:
    if plan.policy is None:
        return [], None
    report = plan.policy
    lines = [
        f"#### Policies ({_cell(report.environment)}: violations are {report.enforcement})",
        "",
        "| Policy | Result |",
        "|---|---|",
    ]
    marks = {"pass": "✅ pass", "n/a": "n/a (no such resources)"}
    for result in report.results:
        if result.status == "fail":
            icon = "❌" if result.enforcement == "mandatory" else "⚠️"
            shown = f"{icon} {_plural(len(result.violations), 'violation')} ({result.enforcement})"
        else:
            shown = marks[result.status] + (f" ({_plural(result.checked, 'resource')})" if result.status == "pass" else "")
        lines.append(f"| `{result.name}` | {shown} |")
    lines.append("")
    if not report.violations:
        return lines, None
    items = [f"- `{_cell(v.policy)}` on `{_cell(v.name)}`: {_cell(v.message, 1000)}" for v in report.violations]
    return lines, Fold(f"Policy violations ({len(items)})", items, open=report.blocked)


def _md_changes(plan: Plan) -> tuple[list[str], Fold | None]:
    c = plan.comparison
    if c is None:
        return [], None
    lines = [f"#### Changes vs `{_cell(c.ref)}`", ""]
    lines.extend(f"- {_cell(note, 1000)}" for note in c.notes)
    rows = []
    for ref in c.added:
        rows.append(f"| added | `{_cell(ref.name)}` | `{_cell(ref.type)}` | |")
    for change in c.changed:
        detail = "<br>".join(f"{_code(k)}: {_code(_short(b))} → {_code(_short(a))}" for k, (b, a) in change.changes.items())
        rows.append(f"| changed | `{_cell(change.resource.name)}` | `{_cell(change.resource.type)}` | {detail} |")
    for ref in c.removed:
        rows.append(f"| removed | `{_cell(ref.name)}` | `{_cell(ref.type)}` | |")
    if not rows:
        lines.append("No resource changes.")
        lines.append("")
        return lines, None
    table = ["| | Resource | Type | Changed inputs |", "|---|---|---|---|", *rows]
    return lines, Fold(f"{len(c.added)} added, {len(c.changed)} changed, {len(c.removed)} removed", table)


def render_markdown(plan: Plan, max_chars: int = 60_000) -> str:
    """A pull-request comment: at most `max_chars` characters."""
    parts: list[str | Fold] = ["\n".join(_md_header(plan))]
    if not plan.errors:
        for section in (_md_cost, _md_policies, _md_changes):
            lines, fold = section(plan)
            if lines:
                parts.append("\n".join(lines) + "\n")
            if fold is not None:
                parts.append(fold)
        if plan.warnings:
            parts.append("\n".join(f"> ⚠️ {_cell(w, 2000)}" for w in plan.warnings) + "\n")
        if plan.notices:
            parts.append("\n".join(f"> {_cell(n, 2000)}" for n in plan.notices) + "\n")
        tree = [_short(line, 400) for line in tree_lines(plan)]
        parts.append(Fold(f"All resources ({plan.resource_count})", tree, fence=True))
    parts.append(
        f"<sub>Offline plan (Pulumi mocks, committed stack file, no cloud calls; secrets shown as [secret]): "
        f"`python -m components.plan --stack {_cell(plan.stack)} --format markdown`</sub>\n"
    )
    return _fit(parts, max_chars, plan.stack)


def _fit(parts: list[str | Fold], max_chars: int, stack: str) -> str:
    keep: dict[int, int | None] = {i: None for i, p in enumerate(parts) if isinstance(p, Fold)}

    def assemble() -> str:
        rendered = (p if isinstance(p, str) else p.render(keep[i], stack) for i, p in enumerate(parts))
        return "\n\n".join(block.strip("\n") for block in rendered) + "\n"

    text = assemble()
    # Cut the folds from the last (the resource tree) backwards until the comment fits.
    for index in sorted(keep, reverse=True):
        fold = parts[index]
        assert isinstance(fold, Fold)
        while len(text) > max_chars and (keep[index] is None or keep[index] > 0):
            over = len(text) - max_chars
            current = len(fold.lines) if keep[index] is None else keep[index]
            # Drop roughly enough lines at once, then settle line by line.
            average = max(1, sum(len(line) + 1 for line in fold.lines) // max(1, len(fold.lines)))
            keep[index] = max(0, current - max(1, over // average))
            text = assemble()
        if len(text) <= max_chars:
            return text
    if len(text) > max_chars:
        note = "\n\n" + CUT_NOTE.format(stack=stack) + "\n"
        text = text[: max(0, max_chars - len(note))] + note
    return text
