"""text-classification and image-classification: labels with scores, best first.

Request:  {"inputs": "text" | ["t1", ...], "parameters": {"top_k": n}}           (text)
          {"inputs": "<base64 PNG/JPEG>" | [...], "parameters": {"top_k": n}}   (image; data: URLs too)
Response: {"labels": [{"label": "...", "score": 0.97}, ...]}   one list per input when inputs is a list
Scores are softmax probabilities, or sigmoids for multi-label (and single-logit) models.
"""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path
from typing import Any

import torch

from inference.worker.loader import LoadReport, load_model
from inference.worker.tasks.base import (
    MAX_BATCH,
    LoadContext,
    Param,
    check_keys,
    max_length,
    parameters,
    texts,
)

PARAMETERS = {"top_k": Param(int, 1, 100_000)}
MAX_IMAGE_BYTES = 20 * 1024 * 1024


def _labels(logits: torch.Tensor, config: Any, top_k: int | None) -> list[list[dict[str, Any]]]:
    logits = logits.float()
    multi = getattr(config, "problem_type", None) == "multi_label_classification" or logits.shape[-1] == 1
    scores = torch.sigmoid(logits) if multi else torch.softmax(logits, dim=-1)
    names = getattr(config, "id2label", None) or {}
    k = min(top_k or scores.shape[-1], scores.shape[-1])
    values, indices = scores.topk(k, dim=-1)
    return [
        [{"label": str(names.get(int(i), f"LABEL_{int(i)}")), "score": float(v)} for v, i in zip(row_v, row_i, strict=True)]
        for row_v, row_i in zip(values.cpu(), indices.cpu(), strict=True)
    ]


class TextClassification:
    def load(self, model_dir: Path, context: LoadContext) -> LoadReport:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.device = context.device
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model, report = load_model(
            AutoModelForSequenceClassification, model_dir, context.device, context.dtype, context.threads, context.direct_io  # type: ignore[arg-type]
        )
        self.max_length = max_length(self.tokenizer, self.model.config)
        return report

    def predict(self, payload: dict[str, Any]) -> dict[str, Any]:
        check_keys(payload, ("inputs", "parameters"))
        items, single = texts(payload)
        params = parameters(payload, PARAMETERS)
        encoded = self.tokenizer(
            items, return_tensors="pt", padding=True, truncation=True, max_length=self.max_length
        ).to(self.device)
        with torch.inference_mode():
            logits = self.model(**encoded).logits
        labels = _labels(logits, self.model.config, params.get("top_k"))
        return {"labels": labels[0] if single else labels}


def decode_image(value: Any, where: str) -> Any:
    from PIL import Image, UnidentifiedImageError

    if not isinstance(value, str) or not value:
        raise ValueError(f"{where} must be a base64-encoded image")
    if value.startswith("data:"):
        value = value.partition(",")[2]
    if len(value) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        raise ValueError(f"{where} is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
    try:
        raw = base64.b64decode(value, validate=True)
        image = Image.open(io.BytesIO(raw))
        image.load()
    except (binascii.Error, ValueError):
        raise ValueError(f"{where} is not valid base64") from None
    except (UnidentifiedImageError, OSError):
        raise ValueError(f"{where} is not an image PIL can read (PNG, JPEG, WebP, ...)") from None
    return image.convert("RGB")


class ImageClassification:
    def load(self, model_dir: Path, context: LoadContext) -> LoadReport:
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        self.device = context.device
        self.processor = AutoImageProcessor.from_pretrained(model_dir)
        self.model, report = load_model(
            AutoModelForImageClassification, model_dir, context.device, context.dtype, context.threads, context.direct_io  # type: ignore[arg-type]
        )
        return report

    def predict(self, payload: dict[str, Any]) -> dict[str, Any]:
        check_keys(payload, ("inputs", "parameters"))
        value = payload.get("inputs")
        single = not isinstance(value, list)
        items = [value] if single else value
        if not items or len(items) > MAX_BATCH:
            raise ValueError(f"inputs must hold 1 to {MAX_BATCH} images")
        params = parameters(payload, PARAMETERS)
        images = [decode_image(v, "inputs" if single else f"inputs[{i}]") for i, v in enumerate(items)]
        pixels = self.processor(images=images, return_tensors="pt")["pixel_values"]
        pixels = pixels.to(self.device, dtype=next(self.model.parameters()).dtype)
        with torch.inference_mode():
            logits = self.model(pixel_values=pixels).logits
        labels = _labels(logits, self.model.config, params.get("top_k"))
        return {"labels": labels[0] if single else labels}
