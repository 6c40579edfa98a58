"""The Worker core and every task, on tiny models built in the test (CPU torch)."""

import base64
import io
import json
import sys

import pytest
import torch
from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

from inference import env, signing
from inference.worker.core import ModelLoadError, Worker
from tests.worker import custom_models, tiny_models


def wait_until(condition, timeout: float = 30.0) -> None:
    """Poll a condition that another thread will make true; fail after a generous deadline."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def make(**variables) -> Worker:
    environ = {env.MODEL_KEY: "tiny", env.DEVICE: "cpu", **{k: str(v) for k, v in variables.items()}}
    return Worker.from_env(environ)


# --- text generation ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generator(llama_dir) -> Worker:
    worker = make(**{env.MODEL_TASK: "text-generation", env.MODEL_PATH: llama_dir})
    worker.load()
    return worker


def test_load_is_idempotent_and_uses_the_fast_loader(generator):
    runner = generator._runner
    generator.load()
    assert generator.ready and generator._runner is runner
    assert generator.loader == "fast" and generator.load_seconds > 0
    assert generator.describe()["status"] == "ready"


def test_generation_equals_transformers_greedy(generator, llama_dir):
    out = generator.predict({"inputs": "the cat sat on", "parameters": {"max_new_tokens": 5}})
    tokenizer = AutoTokenizer.from_pretrained(llama_dir)
    reference = AutoModelForCausalLM.from_pretrained(llama_dir)
    ids = tokenizer("the cat sat on", return_tensors="pt")
    with torch.inference_mode():
        expected = reference.generate(**ids, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    text = tokenizer.decode(expected[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
    assert out["generated_text"] == text
    assert out["usage"]["prompt_tokens"] == 4 and 0 <= out["usage"]["completion_tokens"] <= 5


def test_generation_batches_and_samples_repeatably(generator):
    out = generator.predict({"inputs": ["the cat", "a dog ran"], "parameters": {"max_new_tokens": 3}})
    assert isinstance(out["generated_text"], list) and len(out["generated_text"]) == 2
    sampled = [
        generator.predict({"inputs": "hello", "parameters": {"max_new_tokens": 8, "temperature": 1.5, "seed": 7}})
        for _ in range(2)
    ]
    assert sampled[0] == sampled[1]
    full = generator.predict({"inputs": "hello", "parameters": {"max_new_tokens": 2, "return_full_text": True}})
    assert full["generated_text"].startswith("hello")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "inputs must be a non-empty string"),
        ({"inputs": ""}, "non-empty string"),
        ({"inputs": 42}, "non-empty string"),
        ({"inputs": ["ok", 3]}, r"inputs\[1\]"),
        ({"inputs": ["x"] * 33}, "at most 32"),
        ({"inputs": "hi", "parameters": {"max_new_tokens": 0}}, "max_new_tokens must be >= 1"),
        ({"inputs": "hi", "parameters": {"max_new_tokens": "5"}}, "must be an integer"),
        ({"inputs": "hi", "parameters": {"temperature": True}}, "must be a number"),
        ({"inputs": "hi", "parameters": {"beams": 4}}, "unknown parameter"),
        ({"inputs": "hi", "prompt": "x"}, "unknown field"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "no chat template"),
        ("just a string", "JSON object"),
    ],
)
def test_bad_generation_requests_are_value_errors(generator, payload, message):
    with pytest.raises(ValueError, match=message):
        generator.predict(payload)


# --- embeddings and classification ---------------------------------------------------------


def test_embeddings_are_mean_pooled_and_normalised(bert_dir):
    worker = make(**{env.MODEL_TASK: "feature-extraction", env.MODEL_PATH: bert_dir})
    out = worker.predict({"inputs": ["the cat sat", "a dog"]})  # loads lazily on first predict
    assert worker.ready and out["dimensions"] == 32 and len(out["embeddings"]) == 2
    emb = torch.tensor(out["embeddings"])
    assert torch.allclose(emb.norm(dim=-1), torch.ones(2), atol=1e-5)

    tokenizer = AutoTokenizer.from_pretrained(bert_dir)
    model = AutoModel.from_pretrained(bert_dir)
    enc = tokenizer(["the cat sat", "a dog"], return_tensors="pt", padding=True)
    with torch.inference_mode():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    expected = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    assert torch.allclose(emb, expected, atol=1e-5)

    cls = worker.predict({"inputs": "the cat", "parameters": {"pooling": "cls", "normalize": False}})
    assert len(cls["embeddings"]) == 1 and not torch.isclose(torch.tensor(cls["embeddings"][0]).norm(), torch.tensor(1.0))
    with pytest.raises(ValueError, match="pooling must be one of"):
        worker.predict({"inputs": "x", "parameters": {"pooling": "max"}})


def test_text_classification_labels_and_scores(bert_classifier_dir):
    worker = make(**{env.MODEL_TASK: "text-classification", env.MODEL_PATH: bert_classifier_dir})
    worker.load()
    assert worker.loader == "fast"
    one = worker.predict({"inputs": "good movie"})["labels"]
    assert {item["label"] for item in one} == {"negative", "positive"}
    assert one[0]["score"] >= one[1]["score"] and abs(sum(i["score"] for i in one) - 1) < 1e-5
    batch = worker.predict({"inputs": ["good movie", "bad movie"], "parameters": {"top_k": 1}})["labels"]
    assert len(batch) == 2 and all(len(row) == 1 for row in batch)


def _png(color, size=(40, 30)) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_image_classification(vit_dir):
    worker = make(**{env.MODEL_TASK: "image-classification", env.MODEL_PATH: vit_dir})
    out = worker.predict({"inputs": _png("red"), "parameters": {"top_k": 2}})["labels"]
    assert len(out) == 2 and {i["label"] for i in out} <= {"cat", "dog", "bird"}
    data_url = "data:image/png;base64," + _png("blue")
    batch = worker.predict({"inputs": [data_url, _png("green")]})["labels"]
    assert len(batch) == 2 and len(batch[0]) == 3
    with pytest.raises(ValueError, match="not valid base64"):
        worker.predict({"inputs": "***"})
    with pytest.raises(ValueError, match="not an image"):
        worker.predict({"inputs": base64.b64encode(b"plain text").decode()})


# --- text-to-image -------------------------------------------------------------------------


@pytest.mark.slow
def test_text_to_image_returns_a_png(tmp_path):
    pytest.importorskip("diffusers", reason="diffusers is in requirements-dev.txt; text-to-image is optional in the worker")
    from PIL import Image

    model_dir = tiny_models.stable_diffusion(tmp_path / "sd")
    worker = make(**{env.MODEL_TASK: "text-to-image", env.MODEL_PATH: model_dir})
    request = {"inputs": "a cat", "parameters": {"num_inference_steps": 2, "width": 32, "height": 32, "seed": 3}}
    out = worker.predict(request)
    image = Image.open(io.BytesIO(base64.b64decode(out["image"])))
    assert out["format"] == "png" and image.format == "PNG" and image.size == (32, 32) == (out["width"], out["height"])
    assert worker.predict(request)["image"] == out["image"]  # the seed makes it repeatable
    with pytest.raises(ValueError, match="multiple of 8"):
        worker.predict({"inputs": "a cat", "parameters": {"width": 33}})


def test_text_to_image_without_diffusers_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # import diffusers -> ImportError
    (tmp_path / "model_index.json").write_text("{}")
    worker = make(**{env.MODEL_TASK: "text-to-image", env.MODEL_PATH: tmp_path})
    with pytest.raises(ModelLoadError, match="needs the diffusers package"):
        worker.load()
    assert worker.state == "failed" and not worker.ready


# --- custom classes ------------------------------------------------------------------------


def test_custom_class_without_a_model():
    worker = make(**{env.CUSTOM_CLASS: "tests.worker.custom_models:Echo"})
    worker.load()
    assert worker.predict({"text": "hi"}) == {"echo": "hi", "loaded": True}
    assert worker.loader == "custom"
    with pytest.raises(ValueError, match="text is required"):
        worker.predict({})


def test_custom_class_receives_the_model_dir_and_non_dicts_are_wrapped(llama_dir):
    worker = make(**{env.MODEL_TASK: "custom", env.CUSTOM_CLASS: "tests.worker.custom_models:ReadsModelDir", env.MODEL_PATH: llama_dir})
    assert "config.json" in worker.predict({})["output"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tests.worker.no_such_module:X", "cannot import"),
        ("tests.worker.custom_models:Missing", "has no Missing"),
        ("tests.worker.custom_models:GATE", "is not a class"),
    ],
)
def test_bad_custom_classes_fail_to_load(spec, message):
    worker = make(**{env.CUSTOM_CLASS: spec})
    with pytest.raises(ModelLoadError, match=message):
        worker.load()


# --- failures and the readiness callback --------------------------------------------------------


def test_failed_load_is_final_redacted_and_reported(gateway, tmp_path):
    fake = gateway()
    secret_token = "hf_topsecret_token_value"
    missing = tmp_path / secret_token  # contrived: the error message would contain the token
    worker = make(
        **{
            env.MODEL_TASK: "feature-extraction",
            env.MODEL_PATH: missing,
            env.HF_TOKEN: secret_token,
            env.CALLBACK_URL: fake.url,
            env.CALLBACK_SECRET: "cb-secret",
        }
    )
    with pytest.raises(ModelLoadError) as info:
        worker.load()
    assert secret_token not in str(info.value) and "***" in str(info.value)
    with pytest.raises(ModelLoadError):
        worker.load()  # no second attempt: the error stands
    with pytest.raises(ModelLoadError):
        worker.predict({"inputs": "x"})
    headers, raw = fake.wait_for(1)[0]
    signing.verify("cb-secret", headers, raw)
    body = json.loads(raw)
    assert body["status"] == "failed" and body["model"] == "tiny" and secret_token not in raw.decode()
    assert "FileNotFoundError" in body["error"]
    worker.callback_thread.join(timeout=10)
    assert len(fake.received) == 1


def test_ready_callback_describes_the_load(gateway, llama_dir):
    fake = gateway()
    worker = make(
        **{
            env.MODEL_TASK: "text-generation",
            env.MODEL_PATH: llama_dir,
            env.MODEL_ID: "org/tiny",
            env.MODEL_REVISION: "f" * 40,
            env.CALLBACK_URL: fake.url,
            env.CALLBACK_SECRET: "cb-secret",
            env.STACK: "dev",
            "RUNPOD_ENDPOINT_ID": "ep-1",
            "RUNPOD_POD_ID": "pod-1",
        }
    )
    worker.load()
    headers, raw = fake.wait_for(1)[0]
    signing.verify("cb-secret", headers, raw)
    body = json.loads(raw)
    assert body["status"] == "ready" and body["revision"] == "f" * 40 and body["modelId"] == "org/tiny"
    assert (body["provider"], body["endpointId"], body["workerId"]) == ("runpod", "ep-1", "pod-1")
    assert body["loader"] == "fast" and body["device"] == "cpu" and body["loadSeconds"] > 0 and "error" not in body


def test_predict_waits_for_a_load_in_progress():
    import threading

    custom_models.GATE.clear()
    worker = make(**{env.CUSTOM_CLASS: "tests.worker.custom_models:Gated"})
    loading = threading.Thread(target=worker.load)
    loading.start()
    wait_until(lambda: worker.state == "loading")
    result: list[dict] = []
    predicting = threading.Thread(target=lambda: result.append(worker.predict({})))
    predicting.start()
    predicting.join(timeout=0.2)
    assert predicting.is_alive() and worker.state == "loading" and not result
    custom_models.GATE.set()
    loading.join(timeout=30)
    predicting.join(timeout=30)
    assert result == [{"ok": True}] and worker.ready


def test_chat_messages_use_the_tokenizer_template(tmp_path, llama_dir):
    import shutil

    model_dir = tmp_path / "chat"
    shutil.copytree(llama_dir, model_dir)
    config_path = model_dir / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["chat_template"] = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    config_path.write_text(json.dumps(config))
    worker = make(**{env.MODEL_TASK: "text-generation", env.MODEL_PATH: model_dir})
    params = {"max_new_tokens": 4}
    chat = worker.predict({"messages": [{"role": "user", "content": "hello"}, {"role": "user", "content": "world"}], "parameters": params})
    plain = worker.predict({"inputs": "hello world", "parameters": params})
    assert chat == plain
    with pytest.raises(ValueError, match="either inputs or messages"):
        worker.predict({"inputs": "x", "messages": [{"role": "user", "content": "y"}]})
