"""Tiny but real model checkpoints, built in the test: safetensors files with real headers.

`model_repo` / `pipeline_repo` return `{path: bytes}` trees shaped like a transformers model and a
diffusers pipeline on the Hub. `write_checkpoint` streams a large safetensors file to disk (for the
benchmark) without holding it in memory.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import save

DTYPE_BYTES = {"F32": 4, "BF16": 2, "F16": 2, "I8": 1}


def safetensors_bytes(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None) -> bytes:
    return save(dict(tensors), metadata=dict(metadata) if metadata else {"format": "pt"})


def _tensors(seed: int, shapes: Mapping[str, tuple[int, ...]], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {name: torch.randn(*shape, generator=gen).to(dtype) for name, shape in shapes.items()}


def model_repo(seed: int = 0, dtype: torch.dtype = torch.bfloat16, hidden: int = 64, layers: int = 2) -> dict[str, bytes]:
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
        "model.safetensors": safetensors_bytes(_tensors(seed, shapes, dtype)),
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
    unet = _tensors(seed, {"conv_in.weight": (32, 4, 3, 3), "conv_out.weight": (4, 32, 3, 3)}, torch.float32)
    text = _tensors(seed + 1, {"embeddings.weight": (256, 32)}, torch.float16)
    vae = _tensors(seed + 2, {"decoder.conv.weight": (16, 16, 3, 3)}, torch.float32)
    single = {**{f"unet.{k}": v for k, v in unet.items()}, **{f"vae.{k}": v for k, v in vae.items()}}
    return {
        "model_index.json": json.dumps({"_class_name": "TinyPipeline", "unet": ["diffusers", "UNet"]}).encode(),
        "unet/config.json": b"{}",
        "unet/diffusion_pytorch_model.safetensors": safetensors_bytes(unet),
        "unet/diffusion_pytorch_model.fp16.safetensors": safetensors_bytes({k: v.half() for k, v in unet.items()}),
        "text_encoder/model.safetensors": safetensors_bytes(text),
        "vae/diffusion_pytorch_model.safetensors": safetensors_bytes(vae),
        "tiny-pipeline.safetensors": safetensors_bytes(single),
    }


def write_checkpoint(path: Path, total_bytes: int, dtype: str = "BF16", tensor_bytes: int = 64 * 2**20) -> int:
    """Stream a safetensors file of about `total_bytes` of random weights to `path`; returns its size.

    The header is real (names, dtype, shapes, offsets), so safetensors can open the file.
    """
    item = DTYPE_BYTES[dtype]
    per_tensor = max(item, tensor_bytes - tensor_bytes % item)
    header: dict[str, dict[str, object]] = {"__metadata__": {"format": "pt"}}  # type: ignore[dict-item]
    offset, index = 0, 0
    while offset < total_bytes:
        nbytes = min(per_tensor, total_bytes - offset)
        nbytes -= nbytes % item
        if nbytes == 0:
            break
        header[f"layers.{index}.weight"] = {"dtype": dtype, "shape": [nbytes // item], "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
        index += 1
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)  # the format pads the header to 8 bytes
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(encoded)))
        fh.write(encoded)
        remaining = offset
        while remaining:
            chunk = min(remaining, 8 * 2**20)
            fh.write(os.urandom(chunk))
            remaining -= chunk
    return path.stat().st_size
