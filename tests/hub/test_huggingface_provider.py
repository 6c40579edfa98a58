"""HuggingFaceModel against the fake Hub, calling the provider's methods as the engine would."""

from __future__ import annotations

from typing import Any

import pytest

from components.gpu.sizing import estimate_vram
from components.providers import hf_hub
from components.providers.huggingface import HuggingFaceModelProvider
from tests.fakes.checkpoints import model_repo, parameter_count, pipeline_repo
from tests.fakes.hub_server import FakeHub
from tests.fakes.provider_config import configured
from tests.hub.conftest import TOKEN_NO_ACCESS, TOKEN_OK


def provider(token: str | None = None) -> HuggingFaceModelProvider:
    return configured(HuggingFaceModelProvider(), {"hfToken": token} if token else {})


def checked(p: HuggingFaceModelProvider, source: str, task: str | None = None, olds: dict | None = None) -> dict[str, Any]:
    result = p.check(olds or {}, {"source": source, "task": task})
    assert result.failures == []
    return result.inputs


def up(p: HuggingFaceModelProvider, source: str, task: str | None = None, state: dict | None = None) -> tuple[bool, dict]:
    """check, diff, then create or update; returns (changed, outputs)."""
    news = checked(p, source, task)
    if state is None:
        return True, p.create(news).outs
    diff = p.diff("id", state, news)
    assert diff.replaces == []
    if not diff.changes:
        return False, state
    return True, p.update("id", state, news).outs


@pytest.fixture
def tiny(hub: FakeHub) -> dict[str, Any]:
    hub.add_repo("acme/tiny-lm", pipeline_tag="text-generation", library_name="transformers", license="apache-2.0")
    tree = model_repo(seed=0)
    return {"tree": tree, "sha": hub.commit("acme/tiny-lm", tree)}


def test_create_pins_the_commit_and_describes_the_weights(hub: FakeHub, tiny: dict[str, Any]) -> None:
    outs = provider().create(checked(provider(), "hf://acme/tiny-lm")).outs

    tree = tiny["tree"]
    assert outs["sha"] == tiny["sha"] == outs["latestSha"]
    assert outs["pinnedSource"] == f"hf://acme/tiny-lm@{tiny['sha']}"
    assert outs["pins"] == {"main": tiny["sha"]}
    assert (outs["gated"], outs["hasAccess"], outs["upstreamMoved"]) == (False, True, False)
    assert (outs["license"], outs["pipelineTag"], outs["library"]) == ("apache-2.0", "text-generation", "transformers")
    assert {f["path"]: f["size"] for f in outs["files"]} == {p: len(b) for p, b in tree.items()}
    assert outs["weightFiles"] == [{"path": "model.safetensors", "size": len(tree["model.safetensors"])}]
    # counted independently from the header bytes of the file the test built
    assert outs["parameters"] == parameter_count(tree, ["model.safetensors"]) > 0
    assert outs["parametersByDtype"] == {"BF16": outs["parameters"]}
    assert outs["dtype"] == "BF16"
    assert outs["weightsBytes"] == len(tree["model.safetensors"])
    expected = estimate_vram(len(tree["model.safetensors"]), "text-generation")
    assert outs["vramGb"] == expected.need_gb
    assert outs["vramHeadroom"] == 1.4 and "text-generation" in outs["vramBasis"]
    # safetensors metadata came from ranged reads of the headers, not whole downloads
    assert all(r.range for r in hub.requests if r.body)


def test_the_pin_stays_until_the_config_changes_it(hub: FakeHub, tiny: dict[str, Any]) -> None:
    p = provider()
    _, state = up(p, "hf://acme/tiny-lm")
    first = tiny["sha"]
    moved = hub.commit("acme/tiny-lm", model_repo(seed=1))  # upstream main moves on

    changed, again = up(p, "hf://acme/tiny-lm", state=state)  # `pulumi up` with the same config
    assert not changed and again["sha"] == first

    changed, retasked = up(p, "hf://acme/tiny-lm", task="custom", state=state)  # an update for another reason
    assert changed and retasked["sha"] == first and retasked["vramHeadroom"] == 1.5

    refreshed = p.read("acme/tiny-lm", retasked)  # `pulumi refresh`
    assert refreshed.id == "acme/tiny-lm"
    assert refreshed.outs["sha"] == first
    assert refreshed.outs["latestSha"] == moved and refreshed.outs["upstreamMoved"] is True
    assert refreshed.outs["pinAvailable"] is True
    assert refreshed.inputs == {"source": "hf://acme/tiny-lm@main", "repoId": "acme/tiny-lm", "revision": "main", "task": "custom"}
    # and after the refresh, up still changes nothing
    assert p.diff("acme/tiny-lm", refreshed.outs, checked(p, "hf://acme/tiny-lm", task="custom")).changes is False


def test_a_revision_change_updates_in_place_and_rolls_back_to_the_same_commit(hub: FakeHub, tiny: dict[str, Any]) -> None:
    p = provider()
    _, state = up(p, "hf://acme/tiny-lm")
    first = tiny["sha"]
    second = hub.commit("acme/tiny-lm", model_repo(seed=2, hidden=96))
    hub.tag("acme/tiny-lm", "v2", second)

    news = checked(p, f"hf://acme/tiny-lm@{second.upper()}")
    assert news["revision"] == second  # shas are normalised
    diff = p.diff("acme/tiny-lm", state, news)
    assert diff.changes and diff.replaces == []
    state = p.update("acme/tiny-lm", state, news).outs
    assert state["sha"] == second and state["parameters"] > parameter_count(tiny["tree"], ["model.safetensors"])

    _, state = up(p, "hf://acme/tiny-lm@v2", state=state)
    assert state["sha"] == second

    # Roll the config back to `main`: main now points at `second`, but this stack pinned `main` to
    # `first`, and that is what a rollback must restore.
    _, state = up(p, "hf://acme/tiny-lm", state=state)
    assert state["sha"] == first
    assert state["pins"] == {f"{second}": second, "v2": second, "main": first}


def test_changing_the_repo_replaces(hub: FakeHub, tiny: dict[str, Any]) -> None:
    p = provider()
    state = p.create(checked(p, "hf://acme/tiny-lm")).outs
    diff = p.diff("acme/tiny-lm", state, checked(p, "hf://acme/other-lm"))
    assert diff.changes and diff.replaces == ["repoId"]


def test_gated_repo_without_access_says_how_to_get_it(hub: FakeHub) -> None:
    hub.add_repo("google/gemma-tiny", gated="manual", access={TOKEN_OK}, license="gemma", pipeline_tag="text-generation")
    hub.commit("google/gemma-tiny", model_repo(seed=3))
    page = f"{hub.url}/google/gemma-tiny"

    with pytest.raises(hf_hub.HubError) as no_token:
        provider().create(checked(provider(), "hf://google/gemma-tiny"))
    message = str(no_token.value)
    assert "gated" in message and "no HF token is set" in message
    assert f"accept the licence at {page}" in message and "credentials.hfToken" in message

    with pytest.raises(hf_hub.HubError) as no_access:
        provider(TOKEN_NO_ACCESS).create(checked(provider(), "hf://google/gemma-tiny"))
    message = str(no_access.value)
    assert "has not been granted access" in message and f"accept the licence at {page}" in message
    assert "not in the authorized list" in message  # the Hub's own words are kept
    assert TOKEN_NO_ACCESS not in message

    p = provider(TOKEN_OK)
    outs = p.create(checked(p, "hf://google/gemma-tiny")).outs
    assert (outs["gated"], outs["gatedMode"], outs["hasAccess"], outs["license"]) == (True, "manual", True, "gemma")

    # the token loses access (rotated to one without it): refresh reports it, keeps the pin
    refreshed = provider(TOKEN_NO_ACCESS).read("google/gemma-tiny", outs)
    assert refreshed.outs["hasAccess"] is False and refreshed.outs["sha"] == outs["sha"]


def test_private_repo_and_bad_token_errors_name_the_fix_not_the_token(hub: FakeHub) -> None:
    hub.add_repo("acme/private-lm", private=True, access={TOKEN_OK})
    hub.commit("acme/private-lm", model_repo(seed=4))
    with pytest.raises(hf_hub.HubError, match="repository not found, or it is private and no HF token is set"):
        provider().create(checked(provider(), "acme/private-lm"))
    with pytest.raises(hf_hub.HubError, match="cannot see it"):
        provider(TOKEN_NO_ACCESS).create(checked(provider(), "acme/private-lm"))
    assert provider(TOKEN_OK).create(checked(provider(), "acme/private-lm")).outs["private"] is True

    bad = "hf_notARealTokenAtAll000000"
    with pytest.raises(hf_hub.HubError) as exc:
        provider(bad).create(checked(provider(), "acme/private-lm"))
    assert "rejected the HF token" in str(exc.value) and bad not in str(exc.value)


def test_unknown_revision(hub: FakeHub, tiny: dict[str, Any]) -> None:
    with pytest.raises(hf_hub.HubError, match="revision 'v9' does not exist"):
        provider().create(checked(provider(), "hf://acme/tiny-lm@v9"))


@pytest.mark.parametrize(
    "source",
    [
        "gpt2",  # no org
        "hf://acme",
        "hf://acme/",
        "hf://acme/tiny/extra",
        "http://acme/tiny",
        "hf://acme/tiny@",
        "hf://acme/tiny@main@v2",
        "hf://ac me/tiny",
        "hf://acme/-tiny",
        "hf://acme/tiny--lm",
        "hf://acme/tiny..lm",
        "hf://acme/tiny.git",
        "hf://acme/tiny@../main",
        "hf://acme/tiny@feature/",
        "hf://" + "a" * 97 + "/tiny",
        "",
    ],
)
def test_malformed_ids_fail_check_without_touching_the_network(hub: FakeHub, source: str) -> None:
    result = provider().check({}, {"source": source, "task": None})
    assert [f.property for f in result.failures] == ["source"]
    assert "hf://org/name" in result.failures[0].reason
    assert hub.requests == []


@pytest.mark.parametrize(
    ("source", "repo_id", "revision"),
    [
        ("acme/tiny-lm", "acme/tiny-lm", "main"),
        ("hf://acme/tiny-lm@v1.0", "acme/tiny-lm", "v1.0"),
        ("hf://acme/tiny-lm@refs/pr/1", "acme/tiny-lm", "refs/pr/1"),
        ("hf://Acme/Tiny_LM.v2@" + "AB" * 20, "Acme/Tiny_LM.v2", "ab" * 20),
    ],
)
def test_valid_ids_are_normalised(source: str, repo_id: str, revision: str) -> None:
    inputs = HuggingFaceModelProvider().check({}, {"source": source}).inputs
    assert (inputs["repoId"], inputs["revision"]) == (repo_id, revision)
    assert inputs["source"] == f"hf://{repo_id}@{revision}"


def test_unknown_task_fails_check() -> None:
    result = HuggingFaceModelProvider().check({}, {"source": "acme/x", "task": "dreaming"})
    assert [f.property for f in result.failures] == ["task"]


def test_diffusers_pipeline_sizes_the_components_not_the_duplicates(hub: FakeHub) -> None:
    hub.add_repo("acme/tiny-pipe", library_name="diffusers", pipeline_tag="text-to-image", license="openrail")
    tree = pipeline_repo()
    hub.commit("acme/tiny-pipe", tree)
    outs = provider().create(checked(provider(), "hf://acme/tiny-pipe")).outs

    loaded = ["text_encoder/model.safetensors", "unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors"]
    assert [f["path"] for f in outs["weightFiles"]] == loaded  # no fp16 variant, no root single file
    assert outs["parameters"] == parameter_count(tree, loaded)
    # the text encoder (8192 fp16 parameters) outweighs unet + vae (4608 fp32): dtype is the majority
    assert outs["parametersByDtype"] == {"F32": 4608, "F16": 8192} and outs["dtype"] == "F16"
    assert outs["effectiveTask"] == "text-to-image" and outs["vramHeadroom"] == 1.25
    assert outs["weightsBytes"] == sum(len(tree[p]) for p in loaded)


def test_variant_only_folders_and_legacy_weights() -> None:
    files = [
        hf_hub.HubFile("model_index.json", 10),
        hf_hub.HubFile("unet/diffusion_pytorch_model.fp16.safetensors", 100),
        hf_hub.HubFile("unet/diffusion_pytorch_model.bf16.safetensors", 90),
    ]
    assert [f.path for f in hf_hub.select_weight_files(files, None)] == ["unet/diffusion_pytorch_model.bf16.safetensors"]
    sharded = [
        hf_hub.HubFile("model-00001-of-00002.safetensors", 5),
        hf_hub.HubFile("model-00002-of-00002.safetensors", 5),
        hf_hub.HubFile("consolidated.safetensors", 10),
        hf_hub.HubFile("onnx/model.onnx", 10),
    ]
    assert [f.path for f in hf_hub.select_weight_files(sharded, "transformers")] == [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ]
    legacy = [hf_hub.HubFile("pytorch_model.bin", 400), hf_hub.HubFile("config.json", 1)]
    assert [f.path for f in hf_hub.select_weight_files(legacy, "transformers")] == ["pytorch_model.bin"]


def test_legacy_weights_size_from_bytes_without_parameters(hub: FakeHub) -> None:
    hub.add_repo("acme/old-lm", pipeline_tag="feature-extraction")
    hub.commit("acme/old-lm", {"config.json": b"{}", "pytorch_model.bin": bytes(4096)})
    outs = provider().create(checked(provider(), "acme/old-lm")).outs
    assert outs["parameters"] is None and outs["dtype"] == ""
    assert outs["weightsBytes"] == 4096 and outs["effectiveTask"] == "feature-extraction"


def test_refresh_reports_a_rewritten_history(hub: FakeHub, tiny: dict[str, Any]) -> None:
    p = provider()
    state = p.create(checked(p, "hf://acme/tiny-lm")).outs
    other = hub.commit("acme/tiny-lm", model_repo(seed=5), branch="rewrite")
    hub.force_push("acme/tiny-lm", "main", other, drop=[tiny["sha"]])
    refreshed = p.read("acme/tiny-lm", state).outs
    assert refreshed["latestSha"] == other and refreshed["pinAvailable"] is False
    assert refreshed["sha"] == tiny["sha"]


def test_refresh_keeps_the_pin_when_the_repo_disappears(hub: FakeHub, tiny: dict[str, Any]) -> None:
    p = provider()
    state = p.create(checked(p, "hf://acme/tiny-lm")).outs
    del hub.repos["acme/tiny-lm"]
    refreshed = p.read("acme/tiny-lm", state)
    assert refreshed.id == "acme/tiny-lm" and refreshed.outs["sha"] == tiny["sha"]
    assert "repository not found" in refreshed.outs["upstreamError"]


def test_fp32_checkpoint_counts_bytes_per_parameter(hub: FakeHub) -> None:
    hub.add_repo("acme/fp32-lm", pipeline_tag="text-classification")
    tree = model_repo(seed=6, dtype="F32")
    hub.commit("acme/fp32-lm", tree)
    outs = provider().create(checked(provider(), "acme/fp32-lm")).outs
    assert outs["dtype"] == "F32"
    # 4 bytes per parameter, plus the header
    assert 4 * outs["parameters"] < outs["weightsBytes"] < 4 * outs["parameters"] + 4096


def test_rate_limits_and_server_errors_are_retried_then_reported(hub: FakeHub, tiny: dict[str, Any]) -> None:
    hub.fail_api(429, times=2, retry_after=0)
    assert provider().create(checked(provider(), "hf://acme/tiny-lm")).outs["sha"] == tiny["sha"]
    api_calls = [r for r in hub.requests if r.path.startswith("/api/models/acme/tiny-lm")]
    assert len(api_calls) == 3  # two 429s, then the answer

    hub.fail_api(503, times=hf_hub.ATTEMPTS, retry_after=0)
    with pytest.raises(hf_hub.HubError, match="the Hub answered HTTP 503; Hub said: HTTP 503 injected"):
        provider().create(checked(provider(), "hf://acme/tiny-lm"))


def test_a_repo_without_weights_has_no_vram_estimate(hub: FakeHub) -> None:
    hub.add_repo("acme/code-only", pipeline_tag="text-generation")
    hub.commit("acme/code-only", {"config.json": b"{}", "modeling.py": b"# custom code"})
    outs = provider().create(checked(provider(), "acme/code-only")).outs
    assert outs["weightFiles"] == [] and outs["vramGb"] is None
    assert "VRAM need is unknown" in outs["vramBasis"]
