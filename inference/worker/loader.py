"""The fast weight loader: a transformers model built on the meta device, filled by parallel reads.

`from_pretrained` maps each safetensors file and copies tensor by tensor; on a GPU that is one small
host-to-device copy per tensor from pageable memory. Here instead:

1. the safetensors headers are parsed (`checkpoint`), so every tensor's byte range is known;
2. the model's skeleton is built with its parameters on the meta device (no memory, no init), while
   buffers such as rotary frequencies are computed as usual;
3. whole files are read by parallel readers (`reader`) into host memory, or through pinned staging
   buffers onto the GPU with copies overlapped with reads;
4. each parameter becomes a typed view into its file's buffer and is assigned to the skeleton
   (`load_state_dict(assign=True)`), then tied weights are tied.

Anything this path does not cover exactly as transformers would (a checkpoint without safetensors,
keys that need transformers' conversions, weights the checkpoint lacks and transformers would
initialise, fp32-pinned modules) goes to `from_pretrained` instead, and the report says why.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from inference.worker import checkpoint as ckpt
from inference.worker import reader

log = logging.getLogger(__name__)


@dataclass
class LoadReport:
    method: str
    """"fast" (this module) or "transformers" (fallback)."""
    seconds: float
    bytes: int = 0
    read_seconds: float = 0.0
    threads: int = 0
    direct_files: int = 0
    mapped_files: int = 0
    files: int = 0
    fallback_reason: str | None = None

    @property
    def gbps(self) -> float:
        return self.bytes / self.seconds / 1e9 if self.seconds > 0 else 0.0


class FallbackError(Exception):
    """This checkpoint needs transformers' own loading; the message says why."""


@contextlib.contextmanager
def parameters_on_meta() -> Iterator[None]:
    """Create modules with parameters on the meta device and buffers on the CPU.

    Buffers (rotary inv_freq, position ids) are computed in `__init__` and often not saved in the
    checkpoint, so they must be real; parameters will be replaced by loaded tensors, so they must
    cost nothing (no allocation, and their random init runs on meta, which does no work).
    """
    original = nn.Module.register_parameter

    def register(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        original(module, name, param)
        if param is not None and param.device.type != "meta":
            meta = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
            # transformers' init functions skip tensors carrying this flag (it sets it on loaded
            # weights); buffers lack it, so their init still runs.
            meta._is_hf_initialized = True
            module._parameters[name] = meta

    nn.Module.register_parameter = register  # type: ignore[method-assign]
    try:
        yield
    finally:
        nn.Module.register_parameter = original  # type: ignore[method-assign]


def resolve_dtype(dtype: str | torch.dtype, config: Any, files: list[ckpt.CheckpointFile]) -> torch.dtype:
    """The dtype transformers' `dtype="auto"` would pick: the config's, else the first float tensor's."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype != "auto":
        resolved = getattr(torch, dtype, None)
        if not isinstance(resolved, torch.dtype):
            raise ValueError(f"unknown dtype {dtype!r}; use auto, bfloat16, float16 or float32")
        return resolved
    configured = getattr(config, "dtype", None)
    if isinstance(configured, str):
        configured = getattr(torch, configured, None)
    if isinstance(configured, torch.dtype):
        return configured
    for f in files:
        for entry in f.tensors.values():
            if entry.dtype.is_floating_point:
                return entry.dtype
    return torch.get_default_dtype()


def _map_keys(
    model: nn.Module, files: list[ckpt.CheckpointFile]
) -> dict[str, tuple[int, ckpt.TensorEntry, torch.dtype]]:
    """Model state-dict key -> (file index, tensor entry, the skeleton's dtype for it), accepting a
    base-model prefix either way."""
    expected = model.state_dict(keep_vars=True)
    prefix = getattr(model, "base_model_prefix", "") or ""
    mapping: dict[str, tuple[int, ckpt.TensorEntry, torch.dtype]] = {}
    for i, f in enumerate(files):
        for name, entry in f.tensors.items():
            candidates = [name]
            if prefix:
                candidates.append(f"{prefix}.{name}")
                if name.startswith(prefix + "."):
                    candidates.append(name[len(prefix) + 1 :])
            key = next((c for c in candidates if c in expected), None)
            if key is None:
                continue  # unexpected keys (another head, old buffers) are ignored, as transformers does
            if tuple(expected[key].shape) != entry.shape:
                raise FallbackError(f"{name}: checkpoint shape {entry.shape} != model shape {tuple(expected[key].shape)}")
            mapping[key] = (i, entry, expected[key].dtype)

    tied = dict(getattr(model, "all_tied_weights_keys", None) or {})
    tied_either_way = {**tied, **{v: k for k, v in tied.items()}}
    params = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    missing = [
        key
        for key in params
        if key not in mapping and not (key in tied_either_way and tied_either_way[key] in mapping)
    ]
    if missing:
        # transformers would initialise these (e.g. a new classification head): let it.
        raise FallbackError(f"{len(missing)} weights are not in the checkpoint (e.g. {sorted(missing)[0]})")
    return mapping


def _check_supported(config: Any, files: list[ckpt.CheckpointFile]) -> None:
    # Quantized weights need transformers' quantizers (scales, packed layouts): copying the raw
    # tensors into an unquantized skeleton would load silently wrong weights.
    if getattr(config, "quantization_config", None):
        raise FallbackError("the checkpoint is quantized")
    eight_bit = (torch.float8_e4m3fn, torch.float8_e5m2)
    if any(e.dtype in eight_bit for f in files for e in f.tensors.values()):
        raise FallbackError("the checkpoint holds float8 tensors")


def _check_fp32_modules(model: nn.Module, dtype: torch.dtype) -> None:
    strict = getattr(model, "_keep_in_fp32_modules_strict", None)
    loose = getattr(model, "_keep_in_fp32_modules", None)
    if (strict and dtype in (torch.float16, torch.bfloat16)) or (loose and dtype == torch.float16):
        raise FallbackError("the model keeps some modules in float32")


# GPU kernels (cuBLAS, vectorised loads, Triton) pick their fast paths for 16-byte aligned
# pointers; a weight that would start elsewhere gets its own allocation instead of a view.
CUDA_ALIGN = 16


def _tensor_view(buffer: torch.Tensor, entry: ckpt.TensorEntry) -> torch.Tensor:
    if entry.nbytes == 0:
        return torch.empty(entry.shape, dtype=entry.dtype, device=buffer.device)
    raw = buffer[entry.start : entry.end]
    align = CUDA_ALIGN if buffer.device.type == "cuda" else entry.dtype.itemsize
    if raw.data_ptr() % align:
        # A typed view needs an aligned address and the format does not promise one.
        raw = raw.clone()
    return raw.view(entry.dtype).view(entry.shape)


def _tie(model: nn.Module, loaded: set[str]) -> None:
    tie = getattr(model, "tie_weights", None)
    if tie is None:
        return
    params = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    try:
        tie(missing_keys=params - loaded, recompute_mapping=False)
    except TypeError:  # transformers before 5 takes no arguments
        tie()


def _load_generation_config(model: nn.Module, model_dir: Path) -> None:
    if not (model_dir / "generation_config.json").is_file() or not hasattr(model, "generation_config"):
        return
    from transformers import GenerationConfig

    model.generation_config = GenerationConfig.from_pretrained(model_dir)


def fast_load(
    auto_class: Any,
    model_dir: Path,
    device: torch.device,
    dtype: str | torch.dtype = "auto",
    threads: int | None = None,
    direct: reader.DirectMode = "auto",
    chunk_bytes: int = reader.DEFAULT_CHUNK_BYTES,
) -> tuple[nn.Module, LoadReport]:
    """Load with this module's path; raises FallbackError when transformers must do it instead."""
    from transformers import AutoConfig

    started = time.perf_counter()
    try:
        files = ckpt.read_checkpoint(model_dir)
    except ckpt.CheckpointError as exc:
        raise FallbackError(str(exc)) from None
    config = AutoConfig.from_pretrained(model_dir)
    _check_supported(config, files)
    target_dtype = resolve_dtype(dtype, config, files)

    # The reads need only the headers, so they start now and the skeleton is built meanwhile.
    pending = reader.start_read([f.path for f in files], device, threads, direct, chunk_bytes)
    try:
        with parameters_on_meta():
            model = auto_class.from_config(config, dtype=target_dtype)
        _check_fp32_modules(model, target_dtype)
        mapping = _map_keys(model, files)
    except BaseException:
        pending.cancel()
        raise
    buffers, stats = pending.result()

    state: dict[str, torch.Tensor] = {}
    for key, (i, entry, want) in mapping.items():
        tensor = _tensor_view(buffers[i], entry)
        # Cast to the dtype the skeleton gave this weight: the target dtype, or the float32 a
        # module asked for explicitly (transformers casts to the same).
        if tensor.dtype.is_floating_point and want.is_floating_point and tensor.dtype != want:
            tensor = tensor.to(want)
        state[key] = tensor
    del buffers  # tensors keep the parts of the buffers they view; cast-only files are freed
    model.load_state_dict(state, strict=False, assign=True)
    _tie(model, set(state))
    still_meta = [n for n, p in model.named_parameters() if p.device.type == "meta"]
    if still_meta:
        raise FallbackError(f"weights left unassigned after tying (e.g. {still_meta[0]})")
    model.to(device)  # buffers; parameters are already there
    model.eval()
    _load_generation_config(model, model_dir)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    report = LoadReport(
        method="fast",
        seconds=time.perf_counter() - started,
        bytes=stats.bytes,
        read_seconds=stats.seconds,
        threads=stats.threads,
        direct_files=stats.direct_files,
        mapped_files=stats.mapped_files,
        files=len(files),
    )
    return model, report


def transformers_load(
    auto_class: Any, model_dir: Path, device: torch.device, dtype: str | torch.dtype = "auto"
) -> nn.Module:
    model = auto_class.from_pretrained(model_dir, dtype=dtype, device_map=str(device))
    model.eval()
    return model


def load_model(
    auto_class: Any,
    model_dir: Path,
    device: torch.device,
    dtype: str | torch.dtype = "auto",
    threads: int | None = None,
    direct: reader.DirectMode = "auto",
) -> tuple[nn.Module, LoadReport]:
    """The model in `model_dir` on `device`: the fast path when it applies, transformers otherwise."""
    started = time.perf_counter()
    try:
        return fast_load(auto_class, model_dir, device, dtype, threads, direct)
    except FallbackError as reason:
        log.info("loading with transformers instead of the fast loader: %s", reason)
        model = transformers_load(auto_class, model_dir, device, dtype)
        return model, LoadReport(
            method="transformers", seconds=time.perf_counter() - started, fallback_reason=str(reason)
        )
