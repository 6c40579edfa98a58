"""GPU sizing from the model itself: `gpu: {minVramGb: auto}`.

Two halves:

- `estimate_vram`: how much GPU memory a model needs, from the bytes of the weights a worker loads
  (measured by the HuggingFaceModel resource from the pinned snapshot) and the task it serves.
- `GpuSizing`: a tiny dynamic resource whose `check` turns that need into the provider's GPU ids
  (cheapest first) through the shared catalog, so "nothing fits" is a real check failure of a
  resource: `pulumi preview` prints it against `modelstack:gpu:Sizing` once the model is pinned,
  and `pulumi up` stops at it before any GPU endpoint is touched. The chosen ids are stored in
  state, so a catalog or estimate change shows up in the preview as a diff of `gpuIds`.

Units: "GB" here means GiB (2**30 bytes), the unit GPU memory is sold in (an "80GB" A100 has
81920 MiB), and the unit of `vramGb` in catalog.yaml.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from components.gpu.catalog import PROVIDERS, GpuChoiceError, gpus_with_min_vram
from components.providers.unknowns import is_unknown

GIB = 2**30

# Multiplier on the weights' size for what a worker allocates beyond the weights while serving.
# These are deliberately round, documented rules of thumb (the README's sizing table mirrors them):
HEADROOM: dict[str, float] = {
    # KV cache for a modest batch x context (a 7B model at 4k context x 8 sequences holds ~4 GB of
    # KV in bf16, ~30% of its weights), plus activations and allocator fragmentation.
    "text-generation": 1.4,
    # Diffusion: UNet/transformer activations at 1024x1024 and the VAE decode peak. These grow with
    # resolution, not with the text encoders, so a flat 25% over all weights is enough for
    # SDXL/FLUX-sized pipelines at batch 1.
    "text-to-image": 1.25,
    # Encoder-only forward passes: activations are small next to the weights.
    "feature-extraction": 1.15,
    "text-classification": 1.15,
    "image-classification": 1.2,
    # Unknown workload: be generous rather than OOM on the first request.
    "custom": 1.5,
}
RUNTIME_OVERHEAD_GB = 1.0
"""CUDA context, cuBLAS/cuDNN workspaces and the framework itself, independent of the model."""

# Hub pipeline tags that map onto one of our tasks (anything else sizes as "custom").
PIPELINE_TASKS: dict[str, str] = {
    "text-generation": "text-generation",
    "text2text-generation": "text-generation",
    "image-text-to-text": "text-generation",
    "conversational": "text-generation",
    "text-to-image": "text-to-image",
    "image-to-image": "text-to-image",
    "feature-extraction": "feature-extraction",
    "sentence-similarity": "feature-extraction",
    "text-classification": "text-classification",
    "token-classification": "text-classification",
    "zero-shot-classification": "text-classification",
    "image-classification": "image-classification",
}


def effective_task(task: str | None, pipeline_tag: str | None) -> str:
    """The task that decides the headroom: the configured one, else the Hub's pipeline tag."""
    if task:
        return task if task in HEADROOM else "custom"
    return PIPELINE_TASKS.get(pipeline_tag or "", "custom")


@dataclass(frozen=True)
class VramEstimate:
    need_gb: float
    weights_gb: float
    headroom: float
    task: str

    @property
    def basis(self) -> str:
        """How the number was reached, for previews and error messages."""
        return (
            f"{self.weights_gb:.1f} GB of weights x {self.headroom:g} headroom for {self.task} "
            f"+ {RUNTIME_OVERHEAD_GB:g} GB runtime"
        )


def estimate_vram(weights_bytes: int, task: str) -> VramEstimate:
    """GPU memory one worker needs: weights x headroom(task) + runtime overhead, rounded up to 0.1 GB."""
    if weights_bytes < 0:
        raise ValueError("weights_bytes must be >= 0")
    headroom = HEADROOM.get(task, HEADROOM["custom"])
    task = task if task in HEADROOM else "custom"
    weights_gb = weights_bytes / GIB
    need = math.ceil((weights_gb * headroom + RUNTIME_OVERHEAD_GB) * 10 - 1e-9) / 10
    return VramEstimate(need_gb=need, weights_gb=weights_gb, headroom=headroom, task=task)


def auto_gpu_ids(provider: str, need_gb: float, count: int = 1, model: str = "", basis: str = "") -> list[str]:
    """Provider GPU ids that fit `need_gb` (across `count` GPUs), cheapest first.

    Raises GpuChoiceError naming the model's need and the largest GPU when nothing fits.
    """
    if provider not in PROVIDERS:
        raise GpuChoiceError(f"unknown GPU provider {provider!r}; use one of {', '.join(PROVIDERS)}")
    try:
        return [g.id for g in gpus_with_min_vram(provider, need_gb, count)]  # type: ignore[arg-type]
    except GpuChoiceError as exc:
        who = f"model {model}" if model else "the model"
        why = f" ({basis})" if basis else ""
        raise GpuChoiceError(f"{who} needs an estimated {need_gb:g} GB of GPU memory{why}: {exc}") from None


# --------------------------------------------------------------------------------------------
# the dynamic resource
# --------------------------------------------------------------------------------------------


class GpuSizingProvider(ResourceProvider):
    """Pure computation: `check` picks the GPUs, the other methods only keep what check chose."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        provider = news.get("provider")
        need = news.get("needGb")
        count = news.get("count", 1)
        model = news.get("model") or ""
        basis = news.get("basis") or ""
        inputs = {"provider": provider, "needGb": need, "count": count, "model": model, "basis": basis}
        failures: list[CheckFailure] = []
        if not is_unknown(provider) and provider not in PROVIDERS:
            failures.append(CheckFailure("provider", f"provider must be one of {', '.join(PROVIDERS)}"))
        if not is_unknown(count):
            try:
                count = int(float(count))
            except (TypeError, ValueError):
                count = 0
            if count < 1:
                failures.append(CheckFailure("count", "count must be a whole number >= 1"))
            inputs["count"] = count
        if need is None:
            why = f" ({basis})" if basis and not is_unknown(basis) else ""
            failures.append(
                CheckFailure(
                    "needGb",
                    f"cannot size GPUs for model {model or '?'} automatically{why}; "
                    "set gpu.minVramGb to a number of GB, or gpu.types",
                )
            )
        elif not is_unknown(need):
            if not isinstance(need, (int, float)) or isinstance(need, bool) or need <= 0:
                failures.append(
                    CheckFailure("needGb", f"needGb must be a positive number of GB, got {need!r}")
                )
            else:
                inputs["needGb"] = float(need)
        if failures or any(is_unknown(v) for v in (provider, need, count, model, basis)):
            # In preview, before the model is pinned, the need is not known yet: so are the GPUs.
            inputs["gpuIds"] = pulumi.output.Unknown() if not failures else []
            return CheckResult(inputs, failures)
        try:
            inputs["gpuIds"] = auto_gpu_ids(provider, inputs["needGb"], count, model, basis)
        except GpuChoiceError as exc:
            inputs["gpuIds"] = []
            failures.append(CheckFailure("needGb", str(exc)))
        return CheckResult(inputs, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = ("provider", "needGb", "count", "gpuIds", "model")
        changed = [k for k in keys if is_unknown(news.get(k)) or olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(f"{props['provider']}-gpus", dict(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        # Nothing exists outside state; the choice only changes through check.
        inputs = {k: props.get(k) for k in ("provider", "needGb", "count", "model", "basis")}
        return ReadResult(id_, dict(props), inputs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(dict(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        return None


class GpuSizingArgs(TypedDict, total=False):
    provider: str
    """`runpod` or `modal`: whose catalog to choose from."""
    need_gb: pulumi.Input[float]
    """GPU memory one worker needs (the HuggingFaceModel's `vram_gb` output)."""
    count: int
    """GPUs per worker; the need is spread across them."""
    model: pulumi.Input[str]
    """Who needs it, for the error message (the model's repo id)."""
    basis: pulumi.Input[str]
    """How the need was estimated (the HuggingFaceModel's `vram_basis`), for the error message."""


class GpuSizing(pulumi.dynamic.Resource, module="gpu", name="Sizing"):
    """`minVramGb: auto`: the cheapest GPUs that fit a pinned model, chosen in `check`."""

    gpu_ids: pulumi.Output[list[str]]
    need_gb: pulumi.Output[float]

    def __init__(self, name: str, args: GpuSizingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(
            GpuSizingProvider(),
            name,
            {
                "provider": args["provider"],
                "needGb": args["need_gb"],
                "count": args.get("count", 1),
                "model": args.get("model", ""),
                "basis": args.get("basis", ""),
                "gpuIds": None,
            },
            opts,
        )
        # The engine names outputs as the props (camelCase); expose the Python spelling too.
        self.gpu_ids = self.gpuIds  # type: ignore[attr-defined]
        self.need_gb = self.needGb  # type: ignore[attr-defined]


def gpu_ids_output(
    provider: str, need_gb: pulumi.Input[float], count: int = 1, model: str = "", basis: pulumi.Input[str] = ""
) -> pulumi.Output[Sequence[str]]:
    """The same choice as a plain Output, for callers that do not want a resource.

    A GpuChoiceError raised here surfaces as a failed `apply` (a program error with a traceback),
    which is why the platform should prefer `GpuSizing`.
    """
    return pulumi.Output.all(need_gb, basis).apply(
        lambda args: auto_gpu_ids(provider, float(args[0]), count, model, str(args[1] or ""))
    )
