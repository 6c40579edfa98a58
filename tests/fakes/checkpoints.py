"""Tiny but real model checkpoints, built in the test: safetensors files with real headers.

`model_repo` / `pipeline_repo` return `{path: bytes}` trees shaped like a transformers model and a
diffusers pipeline on the Hub. `write_checkpoint` streams a large safetensors file to disk (for the
benchmark) without holding it in memory.
"""

from __future__ import annotations

import json
import math
import os
import random
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path

# Bytes per element of the dtypes the tests use, as named in safetensors headers.
DTYPE_BYTES = {"F32": 4, "BF16": 2, "F16": 2, "I8": 1}
Spec = tuple[str, Sequence[int]]


def _header(tensors: Mapping[str, Spec], metadata: Mapping[str, str] | None) -> tuple[bytes, int]:
    header: dict[str, object] = {"__metadata__": dict(metadata or {"format": "pt"})}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        nbytes = math.prod(shape) * DTYPE_BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the format pads the header to 8 bytes
    return struct.pack("<Q", len(encoded)) + encoded, offset


def safetensors_bytes(tensors: Mapping[str, Spec], seed: int = 0, metadata: Mapping[str, str] | None = None) -> bytes:
    """A safetensors file: real header (names, dtypes, shapes, offsets), seeded random weights."""
    head, nbytes = _header(tensors, metadata)
    return head + random.Random(seed).randbytes(nbytes)


def model_repo(seed: int = 0, dtype: str = "BF16", hidden: int = 64, layers: int = 2) -> dict[str, bytes]:
    """A tiny causal LM: config, tokenizer files and one `model.safetensors`."""
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (128, hidden)}
    for i in range(layers):
        shapes[f"model.layers.{i}.mlp.up_proj.weight"] = (hidden * 2, hidden)
        shapes[f"model.layers.{i}.mlp.down_proj.weight"] = (hidden, hidden * 2)
    shapes["model.norm.weight"] = (hidden,)
    config = {"architectures": ["TinyForCausalLM"], "hidden_size": hidden, "num_hidden_layers": layers, "seed": seed}
    return {
        "config.json": json.dumps(config).encode(),
        "tokenizer.json": json.dumps({"version": "1.0", "model": {"type": "BPE"}}).encode(),
        "README.md": b"---\nlicense: apache-2.0\n---\n# tiny\n",
        "model.safetensors": safetensors_bytes({k: (dtype, v) for k, v in shapes.items()}, seed),
    }


def parameter_count(tree: Mapping[str, bytes], paths: list[str]) -> int:
    """Parameters in the given safetensors files of a tree, counted from their headers."""
    total = 0
    for path in paths:
        data = tree[path]
        (size,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + size])
        for name, info in header.items():
            if name != "__metadata__":
                count = 1
                for dim in info["shape"]:
                    count *= dim
                total += count
    return total


def pipeline_repo(seed: int = 0) -> dict[str, bytes]:
    """A tiny diffusers pipeline: component folders (one with an fp16 variant) and a root single file."""
    unet = {"conv_in.weight": (32, 4, 3, 3), "conv_out.weight": (4, 32, 3, 3)}
    vae = {"decoder.conv.weight": (16, 16, 3, 3)}
    single = {**{f"unet.{k}": ("F32", v) for k, v in unet.items()}, **{f"vae.{k}": ("F32", v) for k, v in vae.items()}}
    return {
        "model_index.json": json.dumps({"_class_name": "TinyPipeline", "unet": ["diffusers", "UNet"]}).encode(),
        "unet/config.json": b"{}",
        "unet/diffusion_pytorch_model.safetensors": safetensors_bytes({k: ("F32", v) for k, v in unet.items()}, seed),
        "unet/diffusion_pytorch_model.fp16.safetensors": safetensors_bytes({k: ("F16", v) for k, v in unet.items()}, seed),
        "text_encoder/model.safetensors": safetensors_bytes({"embeddings.weight": ("F16", (256, 32))}, seed + 1),
        "vae/diffusion_pytorch_model.safetensors": safetensors_bytes({k: ("F32", v) for k, v in vae.items()}, seed + 2),
        "tiny-pipeline.safetensors": safetensors_bytes(single, seed + 3),
    }


def write_checkpoint(path: Path, total_bytes: int, dtype: str = "BF16", tensor_bytes: int = 64 * 2**20) -> int:
    """Stream a safetensors file of about `total_bytes` of random weights to `path`; returns its size.

    The header is real (names, dtype, shapes, offsets), so safetensors can open the file.
    """
    item = DTYPE_BYTES[dtype]
    per_tensor = max(item, tensor_bytes - tensor_bytes % item)
    tensors: dict[str, Spec] = {}
    offset = 0
    while total_bytes - offset >= item:
        nbytes = min(per_tensor, total_bytes - offset)
        nbytes -= nbytes % item
        tensors[f"layers.{len(tensors)}.weight"] = (dtype, (nbytes // item,))
        offset += nbytes
    head, remaining = _header(tensors, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.write(head)
        while remaining:
            chunk = min(remaining, 8 * 2**20)
            fh.write(os.urandom(chunk))
            remaining -= chunk
    return path.stat().st_size
