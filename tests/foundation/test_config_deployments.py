"""The config forms for apps, Runpod templates, named Modal secrets, model caches, monitors and budget
guards: what they accept, and one exact message per mistake, naming the key and the fix."""

from __future__ import annotations

import pytest

from components.config import ConfigError
from components.cost import estimate
from tests.foundation.configs import VALID, check, mutated

GEMMA = "hf://google/gemma-2-2b@c5ebcd40d208330abc697524c919956e692655cf"
APP = {
    "models": ["gemma"],
    "gpu": {"type": "T4"},
    "workers": {"min": 0, "max": 1},
    "modal": {"appFile": "examples/hatcat/modal_app.py"},
    "usage": {"activeHoursPerDay": 2},
}


def with_app(**app) -> dict:
    def change(raw):
        raw["models"]["gemma"] = {"source": GEMMA}
        raw["apps"] = {"chat": {**APP, **app}}

    return mutated(change)


def problems(raw, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as failure:
        check(raw, **kwargs)
    return failure.value.problems


def test_an_app_lists_pinned_models_and_is_priced_like_an_endpoint():
    config = check(with_app())
    app = config.modelstack.apps["chat"]
    assert app.provider == "modal" and app.models == ["gemma"]
    assert app.modal is not None and app.modal.web_endpoints == []  # a user's file: no default web endpoint
    [item] = [i for i in estimate(config).items if i.kind == "app"]
    assert item.key == "chat" and item.monthly.expected > 0


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        (
            {"models": ["gemma", "nope"]},
            "modelstack:apps.chat.models: nope is not in modelstack:models (models: flux, gemma); "
            "declare it there (source: hf://org/name@<sha>)",
        ),
        (
            {"models": ["gemma", "gemma"]},
            "modelstack:apps.chat.models: gemma is listed more than once",
        ),
        (
            {"modal": {}},
            "modelstack:apps.chat.modal.appFile: is required; an app deploys your own Modal app file "
            "(e.g. examples/hatcat/modal_app.py)",
        ),
        (
            {"gpu": {"minVramGb": "auto"}},
            "modelstack:apps.chat.gpu.minVramGb: auto sizes from one pinned model; an app serves several, "
            "so give a number, types or type",
        ),
        (
            {"flashboot": False},
            "modelstack:apps.chat.flashboot: only applies to Runpod endpoints; an app runs its Modal app file, remove it",
        ),
        (
            {"secretEnv": {"HF_TOKEN": "hfToken"}},
            "modelstack:apps.chat.secretEnv.HF_TOKEN: names secret 'hfToken', which is not in modelstack:secrets "
            "(apiKeys); add it or fix the name",
        ),
    ],
)
def test_app_mistakes_name_the_key_and_the_fix(app, expected):
    found = problems(with_app(**app))
    assert any(p == expected or p.startswith(expected) for p in found), found


def test_two_deployments_under_one_modal_name_are_refused():
    raw = with_app(modal={"appFile": "examples/hatcat/modal_app.py", "appName": "shared"})
    raw["models"]["flux"]["endpoint"] = {
        "provider": "modal", "gpu": {"type": "T4"}, "modal": {"appName": "shared"},
    }
    assert (
        "modelstack:apps.chat.modal.appName: apps.chat and models.flux.endpoint both deploy Modal app 'shared' in "
        "environment 'main'; give one of them another appName"
    ) in problems(raw)


def test_named_secrets_check_their_references_and_are_created_once():
    secret = {"wasabi-credentials": {"env": {"BUCKET": "${buckets.nope.name}"}, "secretEnv": {"KEY": "credentials.hfToken"}}}
    raw = with_app(modal={"appFile": "examples/hatcat/modal_app.py", "namedSecrets": secret, "secrets": ["wasabi-credentials"]})
    found = problems(raw)
    assert "modelstack:apps.chat.modal.secrets: wasabi-credentials is also in namedSecrets, which creates it; list it in one place" in found
    raw["apps"]["chat"]["modal"].pop("secrets")
    assert problems(raw) == [
        "modelstack:apps.chat.modal.namedSecrets.wasabi-credentials.env.BUCKET: ${buckets.nope.name}: no bucket 'nope' in "
        "modelstack:buckets"
    ]
    raw["apps"]["chat"]["modal"]["namedSecrets"]["bad name!"] = {"env": {"A": "b"}}
    assert any(
        p.startswith("modelstack:apps.chat.modal.namedSecrets: 'bad name!' must be 1-64 letters") for p in problems(raw)
    )


def test_only_one_volume_can_be_the_model_cache():
    volumes = {"/cache": {}, "/models": {"modelCache": True}}
    found = problems(with_app(modal={"appFile": "examples/hatcat/modal_app.py", "volumes": volumes}))
    assert found == [
        "modelstack:apps.chat.modal.volumes: volumes /cache, /models are all marked modelCache; HF_HOME can point "
        "at one of them, so set modelCache: false on the others"
    ]
    volumes["/cache"] = {"modelCache": False}
    check(with_app(modal={"appFile": "examples/hatcat/modal_app.py", "volumes": volumes}))


def test_a_template_needs_an_image_and_may_not_refer_to_a_template():
    def change(raw):
        raw["templates"] = {
            "inference": {"provider": "runpod", "image": "images/nope", "env": {"OTHER": "${templates.inference.id}"}}
        }

    found = problems(mutated(change))
    assert any(p.startswith("modelstack:templates.inference.image: no Dockerfile at images/nope/Dockerfile") for p in found)
    assert (
        "modelstack:templates.inference.env.OTHER: a template cannot refer to a template (they are created side "
        "by side); give the value in the other template's env"
    ) in found


def test_services_refer_to_templates_by_key():
    def change(raw):
        raw["services"]["gateway"]["env"] = {"RUNPOD_TEMPLATE_ID": "${templates.nope.id}"}

    assert problems(mutated(change)) == [
        "modelstack:services.gateway.env.RUNPOD_TEMPLATE_ID: ${templates.nope.id}: no template 'nope' in modelstack:templates"
    ]


def test_a_monitor_needs_a_public_service_and_someone_to_tell():
    def change(raw):
        raw["services"]["gateway"]["monitor"] = {"path": "/healthz", "expect": {"network_loaded": True}}

    assert problems(mutated(change)) == [
        "modelstack:services.gateway.monitor: uptime checks call the service from the internet without credentials, "
        "so they only work on public: true services; make it public or remove monitor",
        "modelstack:services.gateway.monitor: its alert goes to modelstack:alerts.emails, which lists no address; add "
        "one (modelstack:alerts: {emails: [ops@example.com]})",
    ]

    def bad_field(raw):
        raw["services"]["gateway"].update(public=True, monitor={"expect": {"$.x": 1}, "periodSeconds": 30})
        raw["alerts"] = {"emails": ["not-an-address"]}

    found = problems(mutated(bad_field))
    assert found == [
        "modelstack:services.gateway.monitor.expect: '$.x' must be a field name, dotted for nested objects "
        "(e.g. services.redis)",
        "modelstack:services.gateway.monitor.periodSeconds: must be one of 60, 300, 600 or 900",
        "modelstack:alerts.emails: 'not-an-address' is not an email address",
    ]


def test_session_affinity_and_the_firestore_database_are_config():
    def change(raw):
        raw["services"]["gateway"]["sessionAffinity"] = True
        raw["services"]["gateway"]["firestore"] = True
        raw["firestore"] = {"database": "(default)"}

    config = check(mutated(change))
    assert config.modelstack.services["gateway"].session_affinity is True
    assert config.modelstack.firestore is not None and config.modelstack.firestore.database == "(default)"

    def bad(raw):
        raw["firestore"] = {"database": "Default"}

    assert problems(mutated(bad))[0].startswith("modelstack:firestore.database: database 'Default' must be (default)")


def test_a_billing_budget_needs_a_billing_account_id_and_a_gcp_stack():
    def change(raw):
        raw["budget"] = {"monthlyUsd": 100, "gcpBillingAccount": "01A2B3-C4D5E6-F7A8B9", "alertThresholds": [0.5, 1.0]}

    assert check(mutated(change)).modelstack.budget.alert_thresholds == [0.5, 1.0]  # type: ignore[union-attr]

    def malformed(raw):
        raw["budget"] = {"monthlyUsd": 100, "gcpBillingAccount": "billing-123", "alertThresholds": [0]}

    assert problems(mutated(malformed)) == [
        "modelstack:budget.gcpBillingAccount: 'billing-123' is not a Cloud Billing account id "
        "(XXXXXX-XXXXXX-XXXXXX, uppercase hex); see gcloud billing accounts list"
    ]

    def no_thresholds(raw):
        raw["budget"] = {"monthlyUsd": 100, "alertThresholds": [0, 0.5]}

    assert problems(mutated(no_thresholds)) == [
        "modelstack:budget.alertThresholds: list fractions of monthlyUsd between 0 and 10, e.g. [0.5, 0.9, 1.0]"
    ]

    modal_only = {
        "environment": "dev",
        "credentials": VALID["credentials"],
        "budget": {"monthlyUsd": 50, "gcpBillingAccount": "01A2B3-C4D5E6-F7A8B9"},
        "models": {"gemma": {"source": GEMMA}},
        "apps": {"chat": APP},
    }
    assert problems(modal_only, project=None, region=None) == [
        "modelstack:budget.gcpBillingAccount: this stack creates nothing on Google Cloud, so a billing budget for its "
        "project would watch nothing; remove it (Modal and Runpod caps are set in their dashboards, see the README's "
        "Budget section)"
    ]
