"""Weight-loading benchmark: the worker's fast loader against transformers, warm and cold page cache.

    python benchmarks/worker_load.py --size-gb 3 --device cuda      # on a GPU machine
    python benchmarks/worker_load.py --size-gb 1 --device cpu       # anywhere

It generates (once, under benchmarks/.data/) a random-weight Llama checkpoint of about --size-gb,
then in one run times, on the same files:
- ceilings: parallel raw reads (several O_DIRECT readers, cold; buffered, warm), a single direct
  reader, and the pinned host-to-device copy speed (host memcpy on CPU);
- transformers `from_pretrained(dtype="auto", device_map=<device>)` and our loader, warm and cold.
Cold means the files were evicted with posix_fadvise(POSIX_FADV_DONTNEED) just before; the
residency measured with mincore before each cold run is printed, so it is visible whether the
eviction took effect. Both loaded models run the same input and their logits are compared.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script from anywhere in the repository

import torch  # noqa: E402

from benchmarks.synthetic_checkpoint import write_checkpoint  # noqa: E402
from inference.worker import checkpoint as ckpt  # noqa: E402
from inference.worker import loader, reader  # noqa: E402


@dataclass
class Row:
    name: str
    cache: str
    seconds: float
    nbytes: int
    note: str = ""
    first_forward: float | None = None
    """Seconds of the first forward pass after the load (lazy loads pay their reads here)."""

    @property
    def gbps(self) -> float:
        return self.nbytes / self.seconds / 1e9 if self.seconds > 0 else 0.0


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or "CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs (CPU only)"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


CPU = torch.device("cpu")


def warm(paths: list[Path]) -> None:
    bufs, _ = reader.read_files(paths, CPU, threads=4, direct="off")
    del bufs


def cold(paths: list[Path]) -> float:
    """Evict the files; return the resident share afterwards (0.0 means the eviction worked)."""
    for p in paths:
        reader.drop_from_page_cache(p)
    shares = [reader.page_cache_fraction(p, windows=None) for p in paths]
    known = [s for s in shares if s is not None]
    return sum(known) / len(known) if known else float("nan")


def timed(fn: Callable[[], object], device: torch.device) -> tuple[float, object]:
    sync(device)
    started = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - started, out


def pinned_copy_speed(device: torch.device, nbytes: int) -> tuple[float, str]:
    nbytes = min(nbytes, 1 << 30)
    if device.type == "cuda":
        src = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)
        dst = torch.empty(nbytes, dtype=torch.uint8, device=device)
        dst.copy_(src, non_blocking=True)  # first touch
        sync(device)
        seconds, _ = timed(lambda: dst.copy_(src, non_blocking=True), device)
        return nbytes / seconds / 1e9, "pinned host->device copy, 1 stream"
    src = torch.ones(nbytes, dtype=torch.uint8)
    dst = torch.empty(nbytes, dtype=torch.uint8)
    dst.copy_(src)
    seconds, _ = timed(lambda: dst.copy_(src), device)
    return nbytes / seconds / 1e9, "host memcpy (no GPU)"


def logits_of(model: torch.nn.Module, device: torch.device) -> torch.Tensor:
    ids = torch.arange(1, 17, device=device).unsqueeze(0)
    with torch.inference_mode():
        return model(ids).logits.float().cpu()


def run(args: argparse.Namespace) -> dict:
    from transformers import AutoModelForCausalLM

    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    name = f"llama-{args.size_gb:g}gb-{args.dtype}" + (f"-shard{args.shard_gb:g}gb" if args.shard_gb else "")
    model_dir = Path(args.data_dir) / name
    if args.regenerate or not (model_dir / "config.json").is_file():
        print(f"generating {model_dir} ...", flush=True)
        write_checkpoint(model_dir, args.size_gb, dtype=dtype, shard_gb=args.shard_gb, tiny=args.tiny)
    paths = ckpt.checkpoint_files(model_dir)
    total = sum(p.stat().st_size for p in paths)
    load_at_start = os.getloadavg()[0]
    threads = args.threads  # None: the loader picks per run (cold reads want more than warm mapping)
    raw_threads = args.threads or reader.default_threads(device)
    chunk = args.chunk_mb << 20
    rows: list[Row] = []
    notes: list[str] = []

    def best(fn: Callable[[], float]) -> float:
        return statistics.median(fn() for _ in range(args.repeats))

    # --- ceilings -----------------------------------------------------------------------------
    def raw(direct: reader.DirectMode, n: int, cache: str) -> float:
        if cache == "cold":
            cold(paths)
        else:
            warm(paths)
        bufs, stats = reader.read_files(paths, CPU, threads=n, direct=direct)
        del bufs
        free(device)
        return stats.seconds

    if not args.skip_cold:
        evicted = cold(paths)
        notes.append(f"page cache after posix_fadvise(DONTNEED): {evicted:.1%} resident")
        rows.append(Row(f"raw read, {args.raw_readers} readers, O_DIRECT", "cold", best(lambda: raw("on", args.raw_readers, "cold")), total, "ceiling"))
        rows.append(Row("raw read, 1 reader, O_DIRECT", "cold", best(lambda: raw("on", 1, "cold")), total))
    rows.append(Row(f"raw read, {raw_threads} readers, buffered", "warm", best(lambda: raw("off", raw_threads, "warm")), total, "ceiling"))
    copy_gbps, copy_label = pinned_copy_speed(device, total)
    rows.append(Row(copy_label, "-", total / copy_gbps / 1e9, total, "ceiling"))
    free(device)

    # --- loaders ------------------------------------------------------------------------------
    # Imports, CUDA context and allocator warm-up are paid once per process by whichever loader
    # runs first; pay them on a tiny checkpoint so neither timed loader carries them.
    tiny_dir = Path(args.data_dir) / f"warmup-{args.dtype}"
    if not (tiny_dir / "config.json").is_file():
        write_checkpoint(tiny_dir, 0.001, dtype=dtype, tiny=True)
    for fn in (lambda: loader.transformers_load(AutoModelForCausalLM, tiny_dir, device, "auto"),
               lambda: loader.fast_load(AutoModelForCausalLM, tiny_dir, device, "auto", threads=threads, chunk_bytes=chunk)):
        timed(fn, device)
    free(device)

    reference: torch.Tensor | None = None
    max_diff = 0.0
    equal = True

    def load(which: str, cache: str) -> tuple[float, float]:
        nonlocal reference, max_diff, equal
        if cache == "cold":
            share = cold(paths)
            notes.append(f"{which} {cache}: the run started with {share:.1%} of the files in the page cache")
        else:
            warm(paths)
        if which == "transformers":
            seconds, model = timed(lambda: loader.transformers_load(AutoModelForCausalLM, model_dir, device, "auto"), device)
        else:
            seconds, out = timed(
                lambda: loader.fast_load(AutoModelForCausalLM, model_dir, device, "auto", threads=threads, chunk_bytes=chunk), device
            )
            model, report = out
            notes.append(
                f"fast {cache}: files O_DIRECT {report.direct_files}, mapped {report.mapped_files}, "
                f"buffered {report.files - report.direct_files - report.mapped_files}; {report.threads} threads"
            )
        forward_seconds, logits = timed(functools.partial(logits_of, model, device), device)
        if reference is None:
            reference = logits
        else:
            equal = equal and torch.equal(reference, logits)
            max_diff = max(max_diff, (reference - logits).abs().max().item())
        del model
        free(device)
        return seconds, forward_seconds

    caches = ["warm"] if args.skip_cold else ["warm", "cold"]
    for cache in caches:
        for which in ("transformers", "fast"):
            label = "transformers from_pretrained(device_map)" if which == "transformers" else "modelstack fast loader"
            runs = [load(which, cache) for _ in range(args.repeats)]
            rows.append(Row(label, cache, statistics.median(r[0] for r in runs), total,
                            first_forward=statistics.median(r[1] for r in runs)))

    # --- table --------------------------------------------------------------------------------
    def find(label: str, cache: str) -> Row | None:
        return next((r for r in rows if r.name.startswith(label) and r.cache == cache), None)

    ceiling = {"cold": find(f"raw read, {args.raw_readers} readers", "cold"), "warm": find(f"raw read, {raw_threads} readers", "warm")}
    config = json.loads((model_dir / "config.json").read_text())
    header = (
        f"device: {device_name(device)} [{device.type}]\n"
        f"checkpoint: Llama, {config['num_hidden_layers']} layers, {total / 1e9:.2f} GB {args.dtype}, "
        f"{len(paths)} file(s); loader threads {threads or 'auto'}, chunk {args.chunk_mb} MiB; repeats {args.repeats} (median)\n"
    )
    lines = [
        header,
        f"{'measurement':<44}{'cache':<7}{'seconds':>9}{'GB/s':>8}{'vs transformers':>17}{'vs raw ceiling':>16}"
        f"{'1st forward s':>15}{'load+fwd vs tf':>16}",
    ]
    for r in rows:
        vs_tf = vs_raw = fwd = vs_tf_fwd = ""
        if r.first_forward is not None:
            fwd = f"{r.first_forward:.3f}"
        if r.name.startswith("modelstack"):
            tf = find("transformers", r.cache)
            if tf:
                vs_tf = f"{tf.seconds / r.seconds:.2f}x"
                if tf.first_forward is not None and r.first_forward is not None:
                    vs_tf_fwd = f"{(tf.seconds + tf.first_forward) / (r.seconds + r.first_forward):.2f}x"
            ceil = ceiling.get(r.cache)
            if ceil:
                vs_raw = f"{ceil.seconds / r.seconds:.2f}x"
        lines.append(
            f"{r.name:<44}{r.cache:<7}{r.seconds:>9.3f}{r.gbps:>8.2f}{vs_tf:>17}{vs_raw:>16}{fwd:>15}{vs_tf_fwd:>16}"
        )
    lines.append("")
    lines.append(f"outputs of both loaders on the same input: {'identical' if equal else 'DIFFERENT'} (max |diff| {max_diff:g})")
    lines.extend(dict.fromkeys(notes))  # repeats say the same thing: once is enough
    # Other work on the machine skews every number above: say how busy it was.
    lines.append(f"load average (1 min) at start {load_at_start:.2f}, at end {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    table = "\n".join(lines)
    print(table, flush=True)
    return {"device": device_name(device), "rows": [asdict(r) | {"gbps": r.gbps} for r in rows], "equal": equal, "notes": notes, "table": table}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-gb", type=float, default=3.0, help="checkpoint size to generate (default 3)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    p.add_argument("--shard-gb", type=float, default=None, help="shard the checkpoint (index.json) at this size")
    p.add_argument("--threads", type=int, default=None, help="loader threads (default: 16 on a GPU, 8 on CPU, cores when only mapping warm files)")
    p.add_argument("--chunk-mb", type=int, default=reader.DEFAULT_CHUNK_BYTES >> 20, help="loader read/copy chunk size in MiB (default 8)")
    p.add_argument("--raw-readers", type=int, default=8, help="O_DIRECT readers for the cold ceiling (default 8)")
    p.add_argument("--repeats", type=int, default=1, help="runs per measurement; the median is reported")
    p.add_argument("--data-dir", default=str(ROOT / "benchmarks" / ".data"))
    p.add_argument("--regenerate", action="store_true", help="write the checkpoint again")
    p.add_argument("--skip-cold", action="store_true", help="warm page cache only")
    p.add_argument("--tiny", action="store_true", help="a tiny layer shape (for tests of this script)")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    result = run(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result["equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
