"""text-to-image: a diffusers pipeline, when diffusers is installed in the image.

Request:  {"inputs": "a prompt", "parameters": {"num_inference_steps", "guidance_scale", "width",
           "height", "negative_prompt", "seed"}}
Response: {"image": "<base64 PNG>", "format": "png", "width": w, "height": h}
"""

from __future__ import annotations

import base64
import io
import warnings
from pathlib import Path
from typing import Any

import torch

from inference.worker.tasks.base import LoadContext, Param, check_keys, parameters

PARAMETERS = {
    "num_inference_steps": Param(int, 1, 200),
    "guidance_scale": Param(float, 0.0, 50.0),
    "width": Param(int, 8, 2048),
    "height": Param(int, 8, 2048),
    "negative_prompt": Param(str),
    "seed": Param(int, 0, 2**63 - 1),
}


def _dtype(name: str, device: torch.device) -> torch.dtype:
    if name != "auto":
        return getattr(torch, name)
    if device.type != "cuda":
        return torch.float32
    # Half precision on GPUs; bf16 where the GPU has it (Ampere and later), fp16 otherwise (T4).
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


class TextToImage:
    def load(self, model_dir: Path, context: LoadContext) -> None:
        try:
            from diffusers import DiffusionPipeline
        except ImportError:
            raise RuntimeError("task text-to-image needs the diffusers package, which this image does not have") from None
        self.device = context.device
        with warnings.catch_warnings():
            # Newer diffusers call it `dtype` and warn about `torch_dtype`, which every version
            # in our range (<1) still accepts.
            warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
            self.pipeline = DiffusionPipeline.from_pretrained(model_dir, torch_dtype=_dtype(context.dtype, context.device))
        self.pipeline.to(context.device)
        self.pipeline.set_progress_bar_config(disable=True)

    def predict(self, payload: dict[str, Any]) -> dict[str, Any]:
        check_keys(payload, ("inputs", "parameters"))
        prompt = payload.get("inputs")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("inputs must be a non-empty prompt string")
        params = parameters(payload, PARAMETERS)
        for side in ("width", "height"):
            if side in params and params[side] % 8:
                raise ValueError(f"parameters.{side} must be a multiple of 8")
        seed = params.pop("seed", None)
        if seed is not None:
            params["generator"] = torch.Generator(device=self.device).manual_seed(seed)
        with torch.inference_mode():
            image = self.pipeline(prompt, **params).images[0]
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return {
            "image": base64.b64encode(buffer.getvalue()).decode("ascii"),
            "format": "png",
            "width": image.width,
            "height": image.height,
        }
