"""feature-extraction: sentence embeddings from an encoder, pooled over the attention mask.

Request:  {"inputs": "text" | ["t1", ...], "parameters": {"pooling": "mean"|"cls", "normalize": bool}}
Response: {"embeddings": [[...], ...], "dimensions": d}   (always one row per input)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from inference.worker.loader import LoadReport, load_model
from inference.worker.tasks.base import LoadContext, Param, check_keys, max_length, parameters, texts

PARAMETERS = {
    "pooling": Param(str, choices=("mean", "cls")),
    "normalize": Param(bool),
}


class FeatureExtraction:
    def load(self, model_dir: Path, context: LoadContext) -> LoadReport:
        from transformers import AutoModel, AutoTokenizer

        self.device = context.device
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model, report = load_model(AutoModel, model_dir, context.device, context.dtype, context.threads, context.direct_io)  # type: ignore[arg-type]
        self.max_length = max_length(self.tokenizer, self.model.config)
        return report

    def predict(self, payload: dict[str, Any]) -> dict[str, Any]:
        check_keys(payload, ("inputs", "parameters"))
        items, _ = texts(payload)
        params = parameters(payload, PARAMETERS)
        encoded = self.tokenizer(
            items, return_tensors="pt", padding=True, truncation=True, max_length=self.max_length
        ).to(self.device)
        with torch.inference_mode():
            hidden = self.model(**encoded).last_hidden_state.float()
        if params.get("pooling", "mean") == "cls":
            pooled = hidden[:, 0]
        else:
            mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        if params.get("normalize", True):
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return {"embeddings": pooled.cpu().tolist(), "dimensions": int(pooled.shape[-1])}
