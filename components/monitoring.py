"""Run-time guards on Google Cloud: alert emails, uptime checks that match JSON fields, billing budgets.

- `AlertChannels`: one Cloud Monitoring email notification channel per `modelstack:alerts.emails`.
- `UptimeMonitor`: for a public Cloud Run service, one uptime check per `monitor.expect` field (Cloud
  Monitoring evaluates only the first content matcher of a check, so each field needs its own),
  and one alert policy that fires when any of them fails. This is what a Cloud Run probe cannot do:
  the probe sees the status code only, so `{"network_loaded": false}` with a 200 passes it.
- `BillingBudget`: a Cloud Billing budget of `budget.monthlyUsd` on the stack's project that emails
  at each threshold of actual spend (the run-time counterpart of the plan-time budget gate).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TypedDict

import pulumi
import pulumi_gcp as gcp

from components.config import Budget, Monitor


class AlertChannelsArgs(TypedDict):
    project: str
    emails: Sequence[str]
    depends_on: Sequence[pulumi.Resource]


class AlertChannels(pulumi.ComponentResource):
    ids: list[pulumi.Output[str]]
    """Channel resource names (projects/<p>/notificationChannels/<id>), for policies and budgets."""

    def __init__(self, name: str, args: AlertChannelsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("modelstack:gcp:AlertChannels", name, None, opts)
        self.ids = []
        for index, email in enumerate(args["emails"]):
            channel = gcp.monitoring.NotificationChannel(
                f"{name}-email-{index}",
                project=args["project"],
                type="email",
                display_name=f"modelstack alerts: {email}",
                labels={"email_address": email},
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args["depends_on"])),
            )
            self.ids.append(channel.name)
        self.register_outputs({"channels": self.ids})


def content_matcher(field: str, expected: bool | int | float | str) -> gcp.monitoring.UptimeCheckConfigContentMatcherArgs:
    """A JSONPath matcher for one `expect` entry.

    JSON literals (true, 3) are compared exactly. For a string the documentation does not say whether
    the value at the path is compared with or without its quotes, so the match is a regex anchored on
    both ends that accepts either spelling and nothing else.
    """
    if isinstance(expected, str):
        content, how = f'^"?{re.escape(expected)}"?$', "REGEX_MATCH"
    else:
        content, how = json.dumps(expected), "EXACT_MATCH"
    return gcp.monitoring.UptimeCheckConfigContentMatcherArgs(
        content=content,
        matcher="MATCHES_JSON_PATH",
        json_path_matcher=gcp.monitoring.UptimeCheckConfigContentMatcherJsonPathMatcherArgs(
            json_path=f"$.{field}", json_matcher=how
        ),
    )


class UptimeMonitorArgs(TypedDict):
    project: str
    service_name: str
    url: pulumi.Input[str]
    """The service's https URL."""
    monitor: Monitor
    channels: Sequence[pulumi.Input[str]]
    depends_on: Sequence[pulumi.Resource]


class UptimeMonitor(pulumi.ComponentResource):
    check_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: UptimeMonitorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("modelstack:gcp:UptimeMonitor", name, None, opts)
        monitor = args["monitor"]
        host = pulumi.Output.from_input(args["url"]).apply(lambda url: url.split("://", 1)[-1].split("/", 1)[0])
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args["depends_on"]))
        fields: list[tuple[str, bool | int | float | str] | None] = list(monitor.expect.items()) or [None]
        self.check_ids = []
        conditions = []
        for index, entry in enumerate(fields):
            what = f"{entry[0]} = {json.dumps(entry[1])}" if entry else "answers 2xx"
            check = gcp.monitoring.UptimeCheckConfig(
                f"{name}-check-{index}",
                project=args["project"],
                display_name=f"{args['service_name']} {monitor.path}: {what}",
                period=f"{monitor.period_seconds}s",
                timeout=f"{monitor.timeout_seconds}s",
                monitored_resource=gcp.monitoring.UptimeCheckConfigMonitoredResourceArgs(
                    type="uptime_url", labels={"project_id": args["project"], "host": host}
                ),
                http_check=gcp.monitoring.UptimeCheckConfigHttpCheckArgs(
                    path=monitor.path, port=443, use_ssl=True, validate_ssl=True, request_method="GET"
                ),
                content_matchers=[content_matcher(*entry)] if entry else None,
                opts=child,
            )
            self.check_ids.append(check.uptime_check_id)
            conditions.append(
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name=f"{args['service_name']} {monitor.path}: {what} fails",
                    condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                        # Google's recipe for an uptime alert: count failing checker locations.
                        filter=pulumi.Output.concat(
                            'metric.type="monitoring.googleapis.com/uptime_check/check_passed" AND '
                            'resource.type="uptime_url" AND metric.label.check_id="', check.uptime_check_id, '"'
                        ),
                        comparison="COMPARISON_GT",
                        threshold_value=1,
                        duration=f"{max(60, monitor.period_seconds)}s",
                        aggregations=[
                            gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                                alignment_period="1200s",
                                per_series_aligner="ALIGN_NEXT_OLDER",
                                cross_series_reducer="REDUCE_COUNT_FALSE",
                                group_by_fields=["resource.label.*"],
                            )
                        ],
                    ),
                )
            )
        self.policy = gcp.monitoring.AlertPolicy(
            f"{name}-alert",
            project=args["project"],
            display_name=f"{args['service_name']} {monitor.path} health",
            combiner="OR",
            conditions=conditions,
            notification_channels=list(args["channels"]),
            opts=child,
        )
        self.register_outputs({"checkIds": self.check_ids, "policy": self.policy.name})


class BillingBudgetArgs(TypedDict):
    stack: str
    project_number: pulumi.Input[str]
    budget: Budget
    channels: Sequence[pulumi.Input[str]]
    depends_on: Sequence[pulumi.Resource]


class BillingBudget(pulumi.ComponentResource):
    def __init__(self, name: str, args: BillingBudgetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("modelstack:gcp:BillingBudget", name, None, opts)
        budget = args["budget"]
        assert budget.gcp_billing_account is not None
        units = int(budget.monthly_usd)
        nanos = round((budget.monthly_usd - units) * 1e9)
        self.budget = gcp.billing.Budget(
            f"{name}-budget",
            billing_account=budget.gcp_billing_account,
            display_name=f"modelstack {args['stack']}"[:60],
            budget_filter=gcp.billing.BudgetBudgetFilterArgs(
                projects=[pulumi.Output.concat("projects/", args["project_number"])],
                calendar_period="MONTH",
            ),
            # Billing budgets are in the billing account's currency; modelstack prices in USD.
            amount=gcp.billing.BudgetAmountArgs(
                specified_amount=gcp.billing.BudgetAmountSpecifiedAmountArgs(
                    currency_code="USD", units=str(units), nanos=nanos or None
                )
            ),
            threshold_rules=[
                gcp.billing.BudgetThresholdRuleArgs(threshold_percent=t, spend_basis="CURRENT_SPEND")
                for t in sorted(budget.alert_thresholds)
            ],
            all_updates_rule=gcp.billing.BudgetAllUpdatesRuleArgs(
                monitoring_notification_channels=list(args["channels"]),
                # Billing admins keep getting the emails too: the channels add people, never remove them.
                disable_default_iam_recipients=False,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args["depends_on"])),
        )
        self.register_outputs({"budget": self.budget.name})
