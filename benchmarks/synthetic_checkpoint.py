"""A random-weight checkpoint of a real architecture (Llama), sized to order, written like transformers does.

Weights are drawn tensor by tensor straight into the file layout, so a 3 GB checkpoint never needs
a 3 GB model object in memory; the config, generation config and (optionally) a sharded
`model.safetensors.index.json` match what `save_pretrained` writes, so both loaders see a normal
snapshot directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

# A TinyLlama-like shape; the layer count is chosen to reach the requested size.
HIDDEN = 2048
INTERMEDIATE = 5632
HEADS = 16
KV_HEADS = 4
VOCAB = 32000


def llama_config(size_bytes: int, dtype: torch.dtype, tiny: bool = False):
    from transformers import LlamaConfig

    if tiny:
        hidden, inter, heads, kv, vocab = 64, 128, 4, 2, 256
    else:
        hidden, inter, heads, kv, vocab = HIDDEN, INTERMEDIATE, HEADS, KV_HEADS, VOCAB
    head_dim = hidden // heads
    per_layer = (2 * hidden * hidden + 2 * hidden * kv * head_dim + 3 * hidden * inter + 2 * hidden) * dtype.itemsize
    fixed = (2 * vocab * hidden + hidden) * dtype.itemsize  # untied embeddings + lm_head, final norm
    layers = max(1, round((size_bytes - fixed) / per_layer))
    return LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        max_position_embeddings=2048,
        tie_word_embeddings=False,
        dtype=dtype,
    )


def write_checkpoint(
    out_dir: Path,
    size_gb: float,
    dtype: torch.dtype = torch.bfloat16,
    shard_gb: float | None = None,
    seed: int = 0,
    tiny: bool = False,
) -> Path:
    """Write config.json + safetensors (sharded when shard_gb is set) to out_dir; return out_dir."""
    from transformers import AutoModelForCausalLM, GenerationConfig

    from inference.worker.loader import parameters_on_meta

    out_dir.mkdir(parents=True, exist_ok=True)
    config = llama_config(int(size_gb * 1e9), dtype, tiny=tiny)
    with parameters_on_meta():
        skeleton = AutoModelForCausalLM.from_config(config, dtype=dtype)
    shapes = {name: tuple(p.shape) for name, p in skeleton.named_parameters()}
    del skeleton

    generator = torch.Generator().manual_seed(seed)
    limit = int(shard_gb * 1e9) if shard_gb else None
    shards: list[dict[str, torch.Tensor]] = [{}]
    sizes = [0]
    for name, shape in shapes.items():
        if name.endswith("norm.weight"):
            tensor = torch.ones(shape, dtype=dtype)
        else:
            tensor = torch.empty(shape, dtype=torch.float32).normal_(0.0, 0.02, generator=generator).to(dtype)
        nbytes = tensor.numel() * tensor.element_size()
        if limit and sizes[-1] and sizes[-1] + nbytes > limit:
            shards.append({})
            sizes.append(0)
        shards[-1][name] = tensor
        sizes[-1] += nbytes

    for stale in out_dir.glob("model*.safetensors*"):
        stale.unlink()
    metadata = {"format": "pt"}
    if len(shards) == 1:
        save_file(shards[0], out_dir / "model.safetensors", metadata=metadata)
    else:
        weight_map = {}
        for k, shard in enumerate(shards, start=1):
            name = f"model-{k:05d}-of-{len(shards):05d}.safetensors"
            save_file(shard, out_dir / name, metadata=metadata)
            weight_map.update(dict.fromkeys(shard, name))
        index = {"metadata": {"total_size": sum(sizes)}, "weight_map": weight_map}
        (out_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    config.save_pretrained(out_dir)
    GenerationConfig(bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id).save_pretrained(out_dir)
    return out_dir
