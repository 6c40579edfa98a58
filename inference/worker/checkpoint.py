"""Safetensors checkpoints read without the safetensors library: file discovery and header parsing.

A safetensors file is an 8-byte little-endian header length N, N bytes of JSON mapping each tensor
name to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the end of the header),
then the raw tensor bytes. Parsing the header ourselves gives the loader exact byte ranges, so it
can read whole files with parallel positional reads instead of mapping them tensor by tensor.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import torch

SAFE_WEIGHTS_NAME = "model.safetensors"
SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"

# Header dtype codes -> torch dtypes. Codes torch cannot represent are rejected by `parse_header`,
# and the loader then falls back to transformers.
DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
}
# A header larger than this is not a checkpoint we wrote or would trust (the format caps it at 100 MB).
MAX_HEADER_BYTES = 100 * 1024 * 1024


class CheckpointError(ValueError):
    """The directory holds no usable safetensors checkpoint, or a file is malformed."""


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]
    start: int
    """Absolute byte offset in the file (header included)."""
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class CheckpointFile:
    path: Path
    size: int
    data_offset: int
    tensors: dict[str, TensorEntry] = field(repr=False)
    metadata: dict[str, str] = field(default_factory=dict, repr=False)


def parse_header(path: Path) -> CheckpointFile:
    size = path.stat().st_size
    with path.open("rb") as handle:
        raw_len = handle.read(8)
        if len(raw_len) != 8:
            raise CheckpointError(f"{path.name}: too short to be a safetensors file")
        (header_len,) = struct.unpack("<Q", raw_len)
        if header_len > MAX_HEADER_BYTES or 8 + header_len > size:
            raise CheckpointError(f"{path.name}: header length {header_len} is not plausible")
        try:
            header = json.loads(handle.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{path.name}: header is not JSON ({exc.msg if hasattr(exc, 'msg') else exc})") from None
    data_offset = 8 + header_len
    metadata = header.pop("__metadata__", None) or {}
    tensors: dict[str, TensorEntry] = {}
    for name, info in header.items():
        code = info.get("dtype")
        if code not in DTYPES:
            raise CheckpointError(f"{path.name}: tensor {name!r} has unsupported dtype {code!r}")
        begin, end = info["data_offsets"]
        shape = tuple(int(d) for d in info["shape"])
        dtype = DTYPES[code]
        numel = 1
        for dim in shape:
            numel *= dim
        if end - begin != numel * dtype.itemsize or begin < 0 or data_offset + end > size:
            raise CheckpointError(f"{path.name}: tensor {name!r} has inconsistent offsets")
        tensors[name] = TensorEntry(name, dtype, shape, data_offset + begin, data_offset + end)
    return CheckpointFile(path=path, size=size, data_offset=data_offset, tensors=tensors, metadata=metadata)


def checkpoint_files(model_dir: Path, prefix: str = "model") -> list[Path]:
    """The safetensors files of a transformers checkpoint: the sharded index's shards, or the single file."""
    index = model_dir / f"{prefix}.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text()).get("weight_map") or {}
        if not weight_map:
            raise CheckpointError(f"{index.name} has an empty weight_map")
        names = sorted(set(weight_map.values()))
        for name in names:
            # Shard names come from a file we did not write: keep them inside the snapshot.
            if os.path.isabs(name) or ".." in Path(name).parts:
                raise CheckpointError(f"{index.name} names a shard outside the model directory: {name!r}")
        paths = [model_dir / name for name in names]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise CheckpointError(f"{index.name} lists shards that are not in the snapshot: {', '.join(missing)}")
        return paths
    single = model_dir / f"{prefix}.safetensors"
    if single.is_file():
        return [single]
    raise CheckpointError(f"no {prefix}.safetensors or {prefix}.safetensors.index.json in the model directory")


def read_checkpoint(model_dir: Path) -> list[CheckpointFile]:
    files = [parse_header(p) for p in checkpoint_files(model_dir)]
    seen: set[str] = set()
    for f in files:
        dup = seen & f.tensors.keys()
        if dup:
            raise CheckpointError(f"tensor {sorted(dup)[0]!r} appears in more than one shard")
        seen |= f.tensors.keys()
    return files
