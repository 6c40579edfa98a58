"""The fake Hub's tree listing, snapshot downloads and 429s, through the real `huggingface_hub` client.

Nothing here patches the client: `list_repo_files`, `list_repo_tree` and `snapshot_download` page
through the fake's `Link` headers and download what it serves, and the client's own rate-limit
parser reads the fake's 429.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from huggingface_hub import HfApi, snapshot_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError
from huggingface_hub.hf_api import RepoFile, RepoFolder
from huggingface_hub.utils import parse_ratelimit_headers

from tests.fakes.checkpoints import model_repo
from tests.fakes.hub_server import FakeHub

REPO = "acme/pipeline"


@pytest.fixture
def tree(hub: FakeHub) -> dict[str, bytes]:
    """A repo with nested folders, LFS and regular files, more entries than one (shrunk) page."""
    hub.add_repo(REPO)
    files = {
        **model_repo(seed=3),
        "unet/config.json": b'{"sample_size": 8}',
        "unet/diffusion_pytorch_model.safetensors": model_repo(seed=4)["model.safetensors"],
        "text_encoder/config.json": b"{}",
        "text_encoder/nested/deep.txt": b"deep",
        "pytorch_model.bin": b"pickled weights",
    }
    hub.commit(REPO, files)
    hub.tree_page_size = 3  # the Hub pages at 1000 entries; 3 makes this repo span several pages
    return files


def _tree_pages(hub: FakeHub) -> list[str]:
    return [r.path for r in hub.requests if "/tree/" in r.path]


def test_list_repo_files_follows_every_page(hub: FakeHub, tree: dict[str, bytes]) -> None:
    files = HfApi(endpoint=hub.url).list_repo_files(REPO, token=False)
    assert sorted(files) == sorted(tree)
    # 9 files and 3 folders in pages of 3: the client had to follow the Link header 3 times.
    assert len(_tree_pages(hub)) == 4


def test_tree_entries_carry_the_hubs_ids(hub: FakeHub, tree: dict[str, bytes]) -> None:
    api = HfApi(endpoint=hub.url)
    top = list(api.list_repo_tree(REPO, token=False))
    assert {e.path for e in top if isinstance(e, RepoFolder)} == {"unet", "text_encoder"}
    assert all("/" not in e.path for e in top)

    entries = {e.path: e for e in api.list_repo_tree(REPO, recursive=True, token=False)}
    assert {p for p, e in entries.items() if isinstance(e, RepoFolder)} == {"unet", "text_encoder", "text_encoder/nested"}
    config = entries["unet/config.json"]
    assert isinstance(config, RepoFile) and config.lfs is None
    # a regular file's oid is its git blob id
    assert config.blob_id == hashlib.sha1(b"blob 18\0" + tree["unet/config.json"]).hexdigest()
    weights = entries["unet/diffusion_pytorch_model.safetensors"]
    content = tree["unet/diffusion_pytorch_model.safetensors"]
    assert isinstance(weights, RepoFile) and weights.lfs is not None and weights.size == len(content)
    assert weights.lfs.sha256 == hashlib.sha256(content).hexdigest()
    # an LFS file's oid is its pointer's blob id, the same id model_info's siblings give
    siblings = {s.rfilename: s for s in api.model_info(REPO, files_metadata=True, token=False).siblings}
    assert weights.blob_id == siblings["unet/diffusion_pytorch_model.safetensors"].blob_id != weights.lfs.sha256

    below = [e.path for e in api.list_repo_tree(REPO, path_in_repo="text_encoder", recursive=True, token=False)]
    assert sorted(below) == ["text_encoder/config.json", "text_encoder/nested", "text_encoder/nested/deep.txt"]
    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree(REPO, path_in_repo="nope", token=False))


def test_expanded_listing_names_the_last_commit_of_each_path(hub: FakeHub, tree: dict[str, bytes]) -> None:
    first = hub.repos[REPO].refs["main"]
    second = hub.commit(REPO, {"unet/config.json": b'{"sample_size": 16}'}, message="Bigger samples")
    hub.expanded_tree_page_size = 2
    entries = {e.path: e for e in HfApi(endpoint=hub.url).list_repo_tree(REPO, recursive=True, expand=True, token=False)}
    assert entries["unet/config.json"].last_commit.oid == second
    assert entries["unet/config.json"].last_commit.title == "Bigger samples"
    assert entries["unet"].last_commit.oid == second  # a folder changes with what is in it
    assert entries["config.json"].last_commit.oid == first
    assert entries["text_encoder"].last_commit.oid == first
    assert entries["config.json"].security.safe is True
    assert len(_tree_pages(hub)) == 6  # 12 entries in pages of 2


def test_snapshot_download_fetches_every_page_of_files(hub: FakeHub, tree: dict[str, bytes], tmp_path: Path) -> None:
    sha = hub.repos[REPO].refs["main"]
    folder = Path(snapshot_download(REPO, cache_dir=tmp_path / "cache", token=False, endpoint=hub.url, ignore_patterns=["*.bin"]))
    assert folder.name == sha
    got = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert got == {k: v for k, v in tree.items() if not k.endswith(".bin")}
    assert hub.downloads("pytorch_model.bin") == []

    # Into a plain directory too (HatCat's lens pack); a second call downloads nothing again.
    target = tmp_path / "lens"
    snapshot_download(REPO, revision=sha, local_dir=target, token=False, endpoint=hub.url)
    assert (target / "text_encoder" / "nested" / "deep.txt").read_bytes() == b"deep"
    sent = len([r for r in hub.requests if r.body])
    snapshot_download(REPO, revision=sha, local_dir=target, token=False, endpoint=hub.url)
    assert len([r for r in hub.requests if r.body]) == sent


def test_every_answer_carries_rate_limit_headers_and_a_spent_quota_is_a_429(hub: FakeHub, tree: dict[str, bytes]) -> None:
    api = HfApi(endpoint=hub.url)
    from huggingface_hub.utils import get_session

    ok = get_session().get(f"{hub.url}/api/models/{REPO}")
    info = parse_ratelimit_headers(ok.headers)
    assert info is not None and info.resource_type == "api" and info.remaining > 0
    assert (info.limit, info.window_seconds) == (hub.limits.quota, hub.limits.window_s)

    hub.rate_limit(times=1, reset_s=42)
    with pytest.raises(HfHubHTTPError) as refused:
        api.model_info(REPO, token=False)
    assert refused.value.response.status_code == 429
    assert "Retry-After" not in refused.value.response.headers
    # the client's own reading of our header: it names the bucket and the wait
    assert "reached your 'api' rate limit" in str(refused.value)
    assert "Retry after 42 seconds" in str(refused.value)

    hub.limits.quota = hub.limits._used["api"] + 1  # one call left in this window
    api.model_info(REPO, token=False)
    with pytest.raises(HfHubHTTPError, match="reached your 'api' rate limit"):
        api.model_info(REPO, token=False)


def test_the_client_waits_what_the_429_says_before_paging_on(hub: FakeHub, tree: dict[str, bytes], monkeypatch) -> None:
    from huggingface_hub.utils import _http

    slept: list[float] = []
    monkeypatch.setattr(_http.time, "sleep", slept.append)  # the client's backoff sleeps; record instead
    hub.rate_limit(times=2, reset_s=7)
    assert sorted(HfApi(endpoint=hub.url).list_repo_files(REPO, token=False)) == sorted(tree)
    assert slept == [8.0, 8.0]  # huggingface_hub waits t + 1 s per 429 (utils/_http.py)
