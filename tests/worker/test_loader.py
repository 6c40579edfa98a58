"""The fast loader against transformers' from_pretrained on tiny real architectures: same outputs."""

import pytest
import torch
from transformers import AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification

from inference.worker import loader, reader
from tests.worker import tiny_models

CPU = torch.device("cpu")
IDS = torch.tensor([[2, 6, 8, 10, 11, 12, 3], [2, 7, 9, 10, 4, 5, 3]])


def _reference(auto_class, model_dir, dtype="auto"):
    return loader.transformers_load(auto_class, model_dir, CPU, dtype)


def _assert_no_meta(model):
    assert not [n for n, p in model.named_parameters() if p.device.type == "meta"]
    assert not [n for n, b in model.named_buffers() if b.device.type == "meta"]


@pytest.mark.parametrize("direct", ["auto", "on", "off"])
def test_causal_lm_outputs_equal_transformers(llama_dir, direct):
    model, report = loader.fast_load(AutoModelForCausalLM, llama_dir, CPU, direct=direct, threads=2)
    expected = _reference(AutoModelForCausalLM, llama_dir)
    assert report.method == "fast" and report.files == 1 and report.bytes > 0
    _assert_no_meta(model)
    assert model.dtype == expected.dtype == torch.bfloat16
    # Tied like transformers ties them: one tensor for the embedding and the LM head.
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    with torch.inference_mode():
        assert torch.equal(model(IDS).logits, expected(IDS).logits)
        ours = model.generate(IDS, max_new_tokens=6, do_sample=False)
        theirs = expected.generate(IDS, max_new_tokens=6, do_sample=False)
    assert torch.equal(ours, theirs)
    assert model.generation_config.eos_token_id == expected.generation_config.eos_token_id


def test_sharded_checkpoint_outputs_equal_transformers(llama_sharded_dir):
    assert (llama_sharded_dir / "model.safetensors.index.json").is_file()
    model, report = loader.fast_load(AutoModelForCausalLM, llama_sharded_dir, CPU, threads=3)
    expected = _reference(AutoModelForCausalLM, llama_sharded_dir)
    assert report.method == "fast" and report.files > 1
    assert model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr()  # untied here
    with torch.inference_mode():
        assert torch.equal(model(IDS).logits, expected(IDS).logits)


def test_dtype_conversion_matches_transformers(tmp_path):
    model_dir = tiny_models.llama(tmp_path / "fp32", dtype=torch.float32)
    model, report = loader.fast_load(AutoModelForCausalLM, model_dir, CPU, dtype="bfloat16")
    expected = _reference(AutoModelForCausalLM, model_dir, dtype="bfloat16")
    assert report.method == "fast"
    assert model.dtype == torch.bfloat16
    with torch.inference_mode():
        assert torch.equal(model(IDS).logits, expected(IDS).logits)


def test_head_checkpoint_into_base_model_strips_the_prefix(bert_classifier_dir):
    # A BertForSequenceClassification snapshot stores "bert.*" keys; AutoModel wants them bare.
    model, report = loader.fast_load(AutoModel, bert_classifier_dir, CPU)
    expected = _reference(AutoModel, bert_classifier_dir)
    assert report.method == "fast"
    mask = torch.ones_like(IDS)
    with torch.inference_mode():
        assert torch.equal(model(input_ids=IDS, attention_mask=mask).last_hidden_state, expected(input_ids=IDS, attention_mask=mask).last_hidden_state)


def test_missing_weights_fall_back_to_transformers(bert_dir):
    # A bare BertModel snapshot has no classifier: transformers initialises it, so it loads it.
    with pytest.raises(loader.FallbackError, match="not in the checkpoint"):
        loader.fast_load(AutoModelForSequenceClassification, bert_dir, CPU)
    model, report = loader.load_model(AutoModelForSequenceClassification, bert_dir, CPU)
    assert report.method == "transformers" and "not in the checkpoint" in report.fallback_reason
    _assert_no_meta(model)


def test_checkpoint_without_safetensors_falls_back(tmp_path, llama_dir):
    model_dir = tmp_path / "no-weights"
    model_dir.mkdir()
    for name in ("config.json", "generation_config.json"):
        (model_dir / name).write_bytes((llama_dir / name).read_bytes())
    with pytest.raises(loader.FallbackError, match=r"no model\.safetensors"):
        loader.fast_load(AutoModelForCausalLM, model_dir, CPU)


def test_shape_mismatch_falls_back(tmp_path, llama_dir):
    import json

    model_dir = tmp_path / "mismatch"
    model_dir.mkdir()
    for name in ("model.safetensors", "generation_config.json"):
        (model_dir / name).write_bytes((llama_dir / name).read_bytes())
    config = json.loads((llama_dir / "config.json").read_text())
    config["intermediate_size"] = 48
    (model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(loader.FallbackError, match="shape"):
        loader.fast_load(AutoModelForCausalLM, model_dir, CPU)


def test_parameters_on_meta_keeps_buffers_real():
    from transformers import LlamaConfig

    config = LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    with loader.parameters_on_meta():
        model = AutoModelForCausalLM.from_config(config)
    assert all(p.device.type == "meta" for p in model.parameters())
    inv_freq = dict(model.named_buffers())["model.rotary_emb.inv_freq"]
    assert inv_freq.device.type == "cpu" and torch.isfinite(inv_freq).all() and inv_freq[0] == 1.0
    # The patch is undone: modules built afterwards get real parameters.
    assert torch.nn.Linear(2, 2).weight.device.type == "cpu"


def test_staged_path_loads_the_same_bytes(llama_sharded_dir):
    # The GPU path (pinned staging + copies) run on the CPU with synchronous copies.
    from inference.worker.checkpoint import checkpoint_files

    paths = checkpoint_files(llama_sharded_dir)
    staged, _ = reader.read_files(paths, CPU, threads=2, chunk_bytes=reader.ALIGN, staged=True)
    direct, _ = reader.read_files(paths, CPU, threads=2, direct="off")
    assert all(torch.equal(a, b) for a, b in zip(staged, direct, strict=True))


def test_unaligned_tensors_are_copied_not_viewed(tmp_path):
    # Hand-written file: a 3-byte int8 tensor first puts the float tensor at an odd offset,
    # which the safetensors library never writes but the format allows.
    import json
    import struct

    from inference.worker.checkpoint import parse_header

    values = torch.tensor([1.5, -2.25, 3.0], dtype=torch.bfloat16)
    header = {
        "small": {"dtype": "I8", "shape": [3], "data_offsets": [0, 3]},
        "w": {"dtype": "BF16", "shape": [3], "data_offsets": [3, 9]},
    }
    raw_header = json.dumps(header).encode()
    raw_header += b" " * (-len(raw_header) % 8)
    data = bytes([7, 8, 9]) + values.view(torch.uint8).numpy().tobytes()
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw_header)) + raw_header + data)
    parsed = parse_header(path)
    (buffer,), _ = reader.read_files([path], CPU, threads=1, direct="off")
    w = loader._tensor_view(buffer, parsed.tensors["w"])
    assert torch.equal(w, values) and w.data_ptr() % 2 == 0
    assert loader._tensor_view(buffer, parsed.tensors["small"]).tolist() == [7, 8, 9]


def test_quantized_checkpoints_go_to_transformers(tmp_path, llama_dir):
    import json
    import shutil

    model_dir = tmp_path / "quantized"
    shutil.copytree(llama_dir, model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "fp8", "activation_scheme": "dynamic"}
    (model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(loader.FallbackError, match="quantized"):
        loader.fast_load(AutoModelForCausalLM, model_dir, CPU)
