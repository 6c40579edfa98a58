"""Safetensors header parsing and shard discovery, against files written by the safetensors library."""

import json
import struct

import pytest
import torch
from safetensors.torch import save_file

from inference.worker.checkpoint import CheckpointError, checkpoint_files, parse_header, read_checkpoint


def test_header_gives_exact_byte_ranges(tmp_path):
    tensors = {
        "a": torch.arange(6, dtype=torch.float32).reshape(2, 3),
        "b": torch.tensor([1, 2, 3], dtype=torch.int64),
        "c": torch.ones(4, dtype=torch.bfloat16),
    }
    path = tmp_path / "model.safetensors"
    save_file(tensors, path, metadata={"format": "pt"})
    parsed = parse_header(path)
    raw = path.read_bytes()
    assert parsed.size == len(raw)
    assert parsed.metadata == {"format": "pt"}
    for name, tensor in tensors.items():
        entry = parsed.tensors[name]
        assert entry.dtype == tensor.dtype and entry.shape == tuple(tensor.shape)
        data = torch.frombuffer(bytearray(raw[entry.start : entry.end]), dtype=entry.dtype).reshape(entry.shape)
        assert torch.equal(data, tensor)


def _write(path, header: bytes, declared: int | None = None, data: bytes = b""):
    path.write_bytes(struct.pack("<Q", len(header) if declared is None else declared) + header + data)


@pytest.mark.parametrize(
    ("header", "declared", "data", "message"),
    [
        (b"", 10**12, b"", "not plausible"),
        (b"{not json", None, b"", "not JSON"),
        (json.dumps({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}).encode(), None, b"\0" * 4, "inconsistent"),
        (json.dumps({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode(), None, b"\0" * 4, "inconsistent"),
        (json.dumps({"x": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}).encode(), None, b"\0" * 8, "unsupported dtype"),
    ],
)
def test_malformed_files_are_rejected(tmp_path, header, declared, data, message):
    path = tmp_path / "model.safetensors"
    _write(path, header, declared, data)
    with pytest.raises(CheckpointError, match=message):
        parse_header(path)


def test_too_short_file_is_rejected(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"\x01\x02")
    with pytest.raises(CheckpointError, match="too short"):
        parse_header(path)


def test_sharded_index_lists_its_shards(tmp_path):
    save_file({"a": torch.zeros(2)}, tmp_path / "model-00001-of-00002.safetensors")
    save_file({"b": torch.ones(2)}, tmp_path / "model-00002-of-00002.safetensors")
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    files = read_checkpoint(tmp_path)
    assert [f.path.name for f in files] == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    assert set(files[0].tensors) == {"a"} and set(files[1].tensors) == {"b"}


@pytest.mark.parametrize(
    ("weight_map", "message"),
    [
        ({"a": "../outside.safetensors"}, "outside the model directory"),
        ({"a": "/etc/passwd"}, "outside the model directory"),
        ({"a": "model-missing.safetensors"}, "not in the snapshot"),
        ({}, "empty weight_map"),
    ],
)
def test_bad_indexes_are_rejected(tmp_path, weight_map, message):
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    with pytest.raises(CheckpointError, match=message):
        checkpoint_files(tmp_path)


def test_duplicate_tensor_across_shards_is_rejected(tmp_path):
    save_file({"a": torch.zeros(2)}, tmp_path / "s1.safetensors")
    save_file({"a": torch.ones(2)}, tmp_path / "s2.safetensors")
    index = {"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match="more than one shard"):
        read_checkpoint(tmp_path)


def test_directory_without_safetensors(tmp_path):
    (tmp_path / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(CheckpointError, match=r"no model\.safetensors"):
        checkpoint_files(tmp_path)
