"""The fake Hub is right only if the real `huggingface_hub` client works against it."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError
from safetensors import deserialize

from tests.fakes.checkpoints import model_repo, write_checkpoint
from tests.fakes.hub_server import FakeHub
from tests.hub.conftest import TOKEN_NO_ACCESS, TOKEN_OK


@pytest.fixture
def repo(hub: FakeHub) -> dict:
    hub.add_repo("acme/tiny-lm", pipeline_tag="text-generation", library_name="transformers", license="mit")
    tree = model_repo()
    return {"tree": tree, "sha": hub.commit("acme/tiny-lm", tree)}


def test_model_info_with_siblings_and_revisions(hub: FakeHub, repo: dict) -> None:
    api = HfApi(endpoint=hub.url)
    info = api.model_info("acme/tiny-lm", files_metadata=True, token=False)
    assert info.sha == repo["sha"] and info.pipeline_tag == "text-generation" and info.library_name == "transformers"
    assert info.card_data["license"] == "mit" and info.gated is False
    by_name = {s.rfilename: s for s in info.siblings}
    weights = by_name["model.safetensors"]
    assert weights.size == len(repo["tree"]["model.safetensors"]) and weights.lfs is not None and weights.lfs.sha256
    assert by_name["config.json"].lfs is None and len(by_name["config.json"].blob_id) == 40

    second = hub.commit("acme/tiny-lm", {"config.json": b"{}"})
    hub.tag("acme/tiny-lm", "v1", repo["sha"])
    assert api.model_info("acme/tiny-lm", token=False).sha == second
    assert api.model_info("acme/tiny-lm", revision="v1", token=False).sha == repo["sha"]
    assert api.model_info("acme/tiny-lm", revision=repo["sha"], token=False).sha == repo["sha"]
    with pytest.raises(RevisionNotFoundError):
        api.model_info("acme/tiny-lm", revision="nope", token=False)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("acme/missing", token=False)


def test_download_uses_etags_and_keeps_the_token_off_the_cdn(hub: FakeHub, repo: dict, tmp_path: Path) -> None:
    hub.add_repo("google/gated-lm", gated="auto", access={TOKEN_OK})
    sha = hub.commit("google/gated-lm", model_repo(seed=1))
    path = hf_hub_download("google/gated-lm", "model.safetensors", revision=sha, cache_dir=tmp_path, endpoint=hub.url, token=TOKEN_OK)
    tensors = dict(deserialize(Path(path).read_bytes()))  # safetensors' own parser accepts it
    assert tensors["model.norm.weight"]["dtype"] == "BF16" and tensors["model.norm.weight"]["shape"] == [64]
    cdn = hub.downloads("model.safetensors")
    assert len(cdn) == 1 and cdn[0].path.startswith("/__cdn__/") and cdn[0].authorized is False

    # A second download is answered from the cache after a HEAD whose ETag matches.
    again = hf_hub_download("google/gated-lm", "model.safetensors", revision=sha, cache_dir=tmp_path, endpoint=hub.url, token=TOKEN_OK)
    assert again == path and len(hub.downloads("model.safetensors")) == 1

    with pytest.raises(GatedRepoError) as anonymous:
        hf_hub_download("google/gated-lm", "config.json", cache_dir=tmp_path / "x", endpoint=hub.url, token=False)
    assert anonymous.value.response.status_code == 401
    with pytest.raises(GatedRepoError) as refused:
        HfApi(endpoint=hub.url).auth_check("google/gated-lm", token=TOKEN_NO_ACCESS)
    assert refused.value.response.status_code == 403
    HfApi(endpoint=hub.url).auth_check("google/gated-lm", token=TOKEN_OK)


def test_safetensors_metadata_through_ranged_reads(hub: FakeHub, repo: dict) -> None:
    meta = HfApi(endpoint=hub.url).get_safetensors_metadata("acme/tiny-lm", token=False)
    assert meta.sharded is False and list(meta.parameter_count) == ["BF16"]
    assert all(r.range == "bytes=0-100000" for r in hub.requests if r.body)


def test_a_streamed_large_checkpoint_has_a_real_header(hub: FakeHub, tmp_path: Path) -> None:
    big = tmp_path / "big.safetensors"
    size = write_checkpoint(big, 3 * 2**20, tensor_bytes=2**20)
    hub.add_repo("acme/big")
    hub.commit("acme/big", {"model.safetensors": big})
    meta = HfApi(endpoint=hub.url).parse_safetensors_file_metadata("acme/big", "model.safetensors", token=False)
    header_len = int.from_bytes(big.read_bytes()[:8], "little")
    assert meta.parameter_count == {"BF16": (size - 8 - header_len) // 2}
    assert len(deserialize(big.read_bytes())) == 3  # three 1 MiB tensors, by safetensors' own parser


def test_whoami_and_invalid_tokens(hub: FakeHub) -> None:
    api = HfApi(endpoint=hub.url)
    assert api.whoami(token=TOKEN_OK)["name"] == "alice"
    with pytest.raises(Exception, match="Invalid user token"):  # how the client reports our 401
        api.whoami(token="hf_wrong")
