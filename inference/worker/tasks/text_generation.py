"""text-generation: a causal LM answering a prompt (or a chat, where the tokenizer has a template).

Request:  {"inputs": "prompt" | ["p1", ...], "parameters": {...}}  or  {"messages": [{"role", "content"}...]}
Response: {"generated_text": "..." | ["...", ...], "usage": {"prompt_tokens": n, "completion_tokens": m}}
Greedy unless `temperature` > 0 or `do_sample` is true; `seed` makes sampling repeatable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from inference.worker.loader import LoadReport, load_model
from inference.worker.tasks.base import LoadContext, Param, check_keys, parameters, texts

PARAMETERS = {
    "max_new_tokens": Param(int, 1, 4096),
    "temperature": Param(float, 0.0, 10.0),
    "top_p": Param(float, 0.0, 1.0),
    "top_k": Param(int, 0, 10_000),
    "repetition_penalty": Param(float, 0.01, 10.0),
    "do_sample": Param(bool),
    "seed": Param(int, 0, 2**63 - 1),
    "return_full_text": Param(bool),
}
DEFAULT_MAX_NEW_TOKENS = 64


class TextGeneration:
    def load(self, model_dir: Path, context: LoadContext) -> LoadReport:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = context.device
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        if self.tokenizer.pad_token is None and self.tokenizer.eos_token is not None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        # Decoder-only models continue from the last position: pad on the left in batches.
        self.tokenizer.padding_side = "left"
        self.model, report = load_model(
            AutoModelForCausalLM, model_dir, context.device, context.dtype, context.threads, context.direct_io  # type: ignore[arg-type]
        )
        return report

    def _prompts(self, payload: dict[str, Any]) -> tuple[list[str], bool]:
        if "messages" in payload:
            if "inputs" in payload:
                raise ValueError("send either inputs or messages, not both")
            messages = payload["messages"]
            if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in messages
            ):
                raise ValueError("messages must be a non-empty list of {role, content} objects")
            if not getattr(self.tokenizer, "chat_template", None):
                raise ValueError("this model has no chat template; send the prompt as inputs")
            prompt = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            return [prompt], True
        return texts(payload)

    def _encode(self, prompts: list[str], chat: bool) -> Any:
        # A rendered chat template already holds its special tokens (BOS); plain prompts get them.
        return self.tokenizer(
            prompts, return_tensors="pt", padding=True, add_special_tokens=not chat, return_token_type_ids=False
        ).to(self.device)

    def predict(self, payload: dict[str, Any]) -> dict[str, Any]:
        check_keys(payload, ("inputs", "messages", "parameters"))
        prompts, single = self._prompts(payload)
        params = parameters(payload, PARAMETERS)
        temperature = params.get("temperature", 0.0)
        sample = params.get("do_sample", temperature > 0)
        generate: dict[str, Any] = {
            "max_new_tokens": params.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS),
            "do_sample": sample,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if sample:
            generate["temperature"] = temperature if temperature > 0 else 1.0
            for name in ("top_p", "top_k"):
                if name in params:
                    generate[name] = params[name]
        if "repetition_penalty" in params:
            generate["repetition_penalty"] = params["repetition_penalty"]
        if "seed" in params:
            torch.manual_seed(params["seed"])  # calls are serialised by the Worker, so this is per request

        encoded = self._encode(prompts, chat="messages" in payload)
        with torch.inference_mode():
            output = self.model.generate(**encoded, **generate)
        new_tokens = output[:, encoded["input_ids"].shape[1] :]
        completions = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        if params.get("return_full_text"):
            completions = [p + c for p, c in zip(prompts, completions, strict=True)]
        pad = self.tokenizer.pad_token_id
        completion_tokens = int((new_tokens != pad).sum().item()) if pad is not None else int(new_tokens.numel())
        return {
            "generated_text": completions[0] if single else completions,
            "usage": {"prompt_tokens": int(encoded["attention_mask"].sum().item()), "completion_tokens": completion_tokens},
        }
