"""Tiny random-weight models of real architectures, one per task, saved as a Hub snapshot would be.

A local run cannot download the stack's models (no network, and they are large), so each worker
loads one of these instead, through the same code path (`save_pretrained` files, loaded by the
worker's own task runner). The weights are random but seeded by the model key, so a run is
reproducible; the answers mean nothing, but they are the model's own answers.

| task | architecture |
| --- | --- |
| feature-extraction | BERT encoder (BertModel) |
| text-classification | BERT with a two-label head |
| text-generation | Llama (tied embeddings) |
| image-classification | ViT with a three-label head |
| text-to-image | Stable Diffusion (UNet, VAE, CLIP text encoder, DDIM), when diffusers is installed |
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

WORDS = ["<unk>", "<pad>", "<s>", "</s>", "[CLS]", "[SEP]", "a", "the", "cat", "dog", "sat", "on", "mat",
         "hello", "world", "red", "blue", "sky", "good", "bad", "photo", "of"]
TASKS = ("feature-extraction", "text-classification", "text-generation", "image-classification", "text-to-image")


class TinyModelError(ValueError):
    """No local stand-in exists for the task; the message says which tasks have one."""


def build(task: str, out: Path, key: str) -> Path:
    """Write a tiny model for `task` to `out` (reused if already there) and return `out`."""
    seed = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
    builders = {
        "feature-extraction": lambda: _bert(out, seed, head=False),
        "text-classification": lambda: _bert(out, seed, head=True),
        "text-generation": lambda: _llama(out, seed),
        "image-classification": lambda: _vit(out, seed),
        "text-to-image": lambda: _stable_diffusion(out, seed),
    }
    if task not in builders:
        raise TinyModelError(
            f"task {task!r} has no tiny stand-in model; a local run serves {', '.join(TASKS)} "
            "(a custom class needs its own code and weights)"
        )
    if (out / ".complete").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    builders[task]()
    (out / ".complete").write_text(task)
    return out


def _tokenizer(out: Path, cls_sep: bool) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    extra: dict[str, str] = {}
    if cls_sep:
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
        )
        extra = {"cls_token": "[CLS]", "sep_token": "[SEP]"}
    PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>",
        model_max_length=64, **extra,
    ).save_pretrained(out)


def _bert(out: Path, seed: int, head: bool) -> None:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(WORDS), hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=64, pad_token_id=1,
        id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1},
    )
    (BertForSequenceClassification(config) if head else BertModel(config)).save_pretrained(out)
    _tokenizer(out, cls_sep=True)


def _llama(out: Path, seed: int) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(WORDS), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, tie_word_embeddings=True,
        bos_token_id=2, eos_token_id=3, pad_token_id=1,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    _tokenizer(out, cls_sep=False)


def _vit(out: Path, seed: int) -> None:
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(seed)
    config = ViTConfig(
        image_size=32, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, id2label={0: "cat", 1: "dog", 2: "bird"}, label2id={"cat": 0, "dog": 1, "bird": 2},
    )
    ViTForImageClassification(config).save_pretrained(out)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(out)


def _stable_diffusion(out: Path, seed: int) -> None:
    import torch

    try:
        from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    except ImportError:
        raise TinyModelError("task text-to-image needs the diffusers package (requirements-dev.txt)") from None
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in "abcdefghijklmnopqrstuvwxyz":
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    source = out / "tokenizer-source"
    source.mkdir(parents=True, exist_ok=True)
    (source / "vocab.json").write_text(json.dumps(vocab))
    (source / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(vocab_file=str(source / "vocab.json"), merges_file=str(source / "merges.txt"), model_max_length=16)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16, attention_head_dim=2, norm_num_groups=4,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 16), in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=4, sample_size=32,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"), up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
    )
    text = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        max_position_embeddings=16, bos_token_id=0, eos_token_id=1, pad_token_id=1,
    ))
    StableDiffusionPipeline(
        unet=unet, vae=vae, text_encoder=text, tokenizer=tokenizer, scheduler=DDIMScheduler(clip_sample=False, steps_offset=1),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    ).save_pretrained(out)
