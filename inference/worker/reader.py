"""Parallel reads of whole files into host memory, or through pinned staging buffers onto a GPU.

Weight loading sits on the cold-start path of every scale-from-zero request, so this module is
about bandwidth:

- Several threads issue positional reads (`os.preadv`, which releases the GIL) over fixed-size
  chunks, so the disk or page cache sees many requests in flight; one reader is slower on both.
- A file that is not in the page cache is read with O_DIRECT where the filesystem allows it:
  buffered reads of a cold file pay for readahead and a page-cache copy, direct reads go from the
  device into our buffer. A file already in the page cache is read buffered, since O_DIRECT would
  go back to the disk. `page_cache_fraction` (mincore) decides which, per file.
- On a GPU each thread reads into one of its two pinned staging buffers while the other one's
  host-to-device copy runs on the thread's own CUDA stream, so disk reads and copies overlap and
  pinned memory stays bounded (threads x 2 x chunk) whatever the checkpoint's size.
- On the CPU a file already in the page cache is mapped privately (copy-on-write) and its page
  tables populated in parallel (MADV_POPULATE_READ): no copy at all, and no page faults later.
  Cold files are read into anonymous memory advised for huge pages, as first-touch page faults
  on fresh memory otherwise cost more than the copy.
- Reads start in the background (`start_read`), so the caller can build the model meanwhile.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import mmap
import os
import queue
import random
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import torch

# O_DIRECT needs buffer addresses, file offsets and lengths aligned to the logical block size;
# 4 KiB covers every device we expect (512 B and 4 KiB sectors).
ALIGN = 4096
DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024
MADV_POPULATE_READ = getattr(mmap, "MADV_POPULATE_READ", 22)  # Linux 5.14+

DirectMode = Literal["auto", "on", "off"]
"""auto: O_DIRECT for files mostly outside the page cache; on: always where allowed; off: never."""


@dataclass
class ReadStats:
    bytes: int = 0
    seconds: float = 0.0
    direct_files: int = 0
    buffered_files: int = 0
    mapped_files: int = 0
    threads: int = 0

    @property
    def gbps(self) -> float:
        return self.bytes / self.seconds / 1e9 if self.seconds > 0 else 0.0


def round_up(value: int, multiple: int = ALIGN) -> int:
    return (value + multiple - 1) // multiple * multiple


def default_threads(device: torch.device, only_mapping: bool = False) -> int:
    """Readers mostly wait on the disk, which wants many requests in flight: 16 on a GPU box,
    8 on a CPU-only one. Populating mapped page-cache files is CPU work: one thread per core."""
    if only_mapping:
        return max(1, min(8, os.cpu_count() or 2))
    return 16 if device.type == "cuda" else 8


# ------------------------------------------------------------------------------------------------
# kernel helpers: page cache residency, eviction, O_DIRECT, populate
# ------------------------------------------------------------------------------------------------


@cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return libc


_LOW_BIT = bytes(i & 1 for i in range(256))


def page_cache_fraction(path: Path, windows: int | None = 64) -> float | None:
    """Share of the file's pages in the page cache (mincore), or None where unknown.

    mincore walks the page cache page by page (~50 ms for a cold 3 GB file), and this runs before
    the reads start, so by default it samples `windows` evenly spaced 64 KiB windows; `None`
    checks every page (the benchmark's report).
    """
    libc = _libc()
    size = path.stat().st_size
    if libc is None or size == 0:
        return None
    page = mmap.PAGESIZE
    pages = (size + page - 1) // page
    window = 16  # pages
    if windows is None or pages <= windows * window:
        spans = [(0, pages)]
    else:
        # Pseudo-random (seeded, so repeatable) starts: evenly spaced ones can alias with the
        # kernel's own power-of-two patterns (readahead windows, large folios) and misjudge.
        rng = random.Random(pages)
        spans = [(rng.randrange(pages - window + 1), window) for _ in range(windows)]
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr is None or addr == ctypes.c_void_p(-1).value:
            return None
        try:
            resident = checked = 0
            for first, count in spans:
                vec = (ctypes.c_ubyte * count)()
                length = min(count * page, size - first * page)
                if libc.mincore(ctypes.c_void_p(addr + first * page), length, vec) != 0:
                    return None
                # Only the low bit means "resident"; the others are reserved.
                resident += bytes(vec).translate(_LOW_BIT).count(1)
                checked += count
            return resident / checked
        finally:
            libc.munmap(ctypes.c_void_p(addr), size)
    finally:
        os.close(fd)


def drop_from_page_cache(path: Path) -> None:
    """Ask the kernel to evict the file's clean pages (the benchmark's cold runs)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _open_direct(path: Path) -> int | None:
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return None
    try:
        return os.open(path, os.O_RDONLY | flag)
    except OSError as exc:
        # tmpfs, some FUSE and overlay mounts refuse O_DIRECT: read buffered there.
        if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
            return None
        raise


@cache
def _populate_supported() -> bool:
    libc = _libc()
    if libc is None:
        return False
    probe = mmap.mmap(-1, mmap.PAGESIZE)
    try:
        addr = ctypes.addressof(ctypes.c_char.from_buffer(probe))
        return libc.madvise(ctypes.c_void_p(addr), mmap.PAGESIZE, MADV_POPULATE_READ) == 0
    finally:
        probe.close()


def _populate(addr: int, length: int) -> None:
    libc = _libc()
    assert libc is not None
    # ctypes releases the GIL around the call, so several threads populate in parallel.
    if libc.madvise(ctypes.c_void_p(addr), length, MADV_POPULATE_READ) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"madvise(MADV_POPULATE_READ) failed: {os.strerror(err)}")


def _anonymous(nbytes: int) -> torch.Tensor:
    """Page-aligned (so O_DIRECT-ready) host memory, advised for transparent huge pages."""
    region = mmap.mmap(-1, max(nbytes, 1), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        with contextlib.suppress(OSError):  # THP disabled: plain pages still work
            region.madvise(mmap.MADV_HUGEPAGE)
    return torch.frombuffer(region, dtype=torch.uint8)[:nbytes]


def _pinned(nbytes: int) -> torch.Tensor:
    tensor = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)
    if tensor.data_ptr() % ALIGN == 0:
        return tensor
    raw = torch.empty(nbytes + ALIGN, dtype=torch.uint8, pin_memory=True)
    pad = (-raw.data_ptr()) % ALIGN
    return raw[pad : pad + nbytes]


def _memoryview(tensor: torch.Tensor) -> memoryview:
    return memoryview(tensor.numpy()).cast("B")


# ------------------------------------------------------------------------------------------------
# one file
# ------------------------------------------------------------------------------------------------


class _File:
    """A file opened buffered, plus O_DIRECT when wanted and allowed."""

    def __init__(self, path: Path, direct: bool):
        self.path = path
        self.size = path.stat().st_size
        self.fd = os.open(path, os.O_RDONLY)
        self.direct_fd = _open_direct(path) if direct else None
        self.direct_refused: int | None = None

    def close(self) -> None:
        os.close(self.fd)
        if self.direct_fd is not None:
            os.close(self.direct_fd)

    def read_into(self, buf: memoryview, offset: int, length: int) -> None:
        """Fill buf[:length] with the file's bytes at offset; buf must start ALIGN-aligned for O_DIRECT."""
        done = 0
        if self.direct_fd is not None and self.direct_refused is None and offset % ALIGN == 0:
            # Direct reads take whole blocks. The file's last block may be asked for in full
            # (the kernel stops at end of file) when the buffer has room; otherwise the tail
            # past the last whole block is read buffered below.
            if offset + length == self.size and len(buf) >= round_up(length):
                body = round_up(length)
            else:
                body = length // ALIGN * ALIGN
            if body:
                try:
                    done = min(os.preadv(self.direct_fd, [buf[:body]], offset), length)
                except OSError as exc:
                    # EINVAL: the device wants stricter alignment; EFAULT: the kernel cannot pin
                    # this buffer's pages for DMA (a driver-owned mapping). Either way this file
                    # is read buffered from now on: slower when cold, never wrong.
                    if exc.errno not in (errno.EINVAL, errno.EFAULT):
                        raise
                    self.direct_refused = exc.errno
                    done = 0
        while done < length:
            # Buffered reads for everything direct I/O did not cover (short reads mid-file too).
            got = os.preadv(self.fd, [buf[done:length]], offset + done)
            if got == 0:
                raise OSError(errno.EIO, f"{self.path.name}: unexpected end of file at byte {offset + done}")
            done += got


# ------------------------------------------------------------------------------------------------
# staging lanes for device targets
# ------------------------------------------------------------------------------------------------


class _Lane:
    """One reader's double-buffered staging area and, on CUDA, its copy stream.

    On a CPU device (the tests use it to exercise this path) copies are synchronous.
    """

    def __init__(self, device: torch.device, chunk_bytes: int):
        self.cuda = device.type == "cuda"
        self.slots = [_pinned(chunk_bytes) if self.cuda else _anonymous(chunk_bytes) for _ in range(2)]
        self.views = [_memoryview(s) for s in self.slots]
        self.stream = torch.cuda.Stream(device=device) if self.cuda else None
        self.events: list[torch.cuda.Event | None] = [None, None]
        self.turn = 0

    def next_slot(self) -> int:
        slot = self.turn
        self.turn ^= 1
        event = self.events[slot]
        if event is not None:
            # The copy out of this slot must finish before the next read overwrites it.
            event.synchronize()
            self.events[slot] = None
        return slot

    def copy(self, slot: int, dst: torch.Tensor, length: int) -> None:
        src = self.slots[slot][:length]
        if self.stream is None:
            dst.copy_(src)
            return
        with torch.cuda.stream(self.stream):
            dst.copy_(src, non_blocking=True)
            event = torch.cuda.Event()
            event.record(self.stream)
        self.events[slot] = event

    def drain(self) -> None:
        if self.stream is not None:
            self.stream.synchronize()


# ------------------------------------------------------------------------------------------------
# the parallel read
# ------------------------------------------------------------------------------------------------


class PendingRead:
    """Reads running in background threads; `result()` waits for them and returns the buffers."""

    def __init__(
        self,
        paths: Sequence[Path],
        device: torch.device,
        threads: int | None,
        direct: DirectMode = "auto",
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        staged: bool | None = None,
    ):
        self.started = time.perf_counter()
        self.device = device
        chunk_bytes = round_up(chunk_bytes)
        # Device memory needs staging through pinned buffers; `staged=True` on the CPU is the
        # same code path with synchronous copies, so the tests cover it without a GPU.
        self.staged = device.type != "cpu" if staged is None else staged
        self.files: list[_File] = []
        self.targets: list[torch.Tensor] = []
        self.mapped: list[bool] = []
        self.errors: list[BaseException] = []
        self.cancelled = False
        self.closed = False
        self.workers: list[threading.Thread] = []
        jobs: list[tuple[str, int, int, int]] = []
        try:
            for i, path in enumerate(paths):
                resident = page_cache_fraction(path) if direct == "auto" else None
                warm = resident is not None and resident >= 0.5
                use_direct = direct == "on" or (direct == "auto" and resident is not None and not warm)
                f = _File(path, use_direct)
                self.files.append(f)
                map_it = not self.staged and warm and f.size > 0 and _populate_supported()
                self.mapped.append(map_it)
                if map_it:
                    self.targets.append(self._map(f))
                    kind = "populate"
                elif self.staged:
                    self.targets.append(torch.empty(f.size, dtype=torch.uint8, device=device))
                    kind = "stage"
                else:
                    self.targets.append(_anonymous(f.size))
                    kind = "read"
                jobs.extend((kind, i, off, min(chunk_bytes, f.size - off)) for off in range(0, f.size, chunk_bytes))
        except BaseException:
            self._close()
            raise
        self.threads = max(1, threads or default_threads(device, only_mapping=all(self.mapped)))
        if device.type == "cuda":
            # Copies run on side streams: the memory just allocated on the current stream must
            # not still be in use by work queued there before it was handed to us.
            torch.cuda.current_stream(device).synchronize()
        self.jobs: queue.SimpleQueue[tuple[str, int, int, int] | None] = queue.SimpleQueue()
        for job in jobs:
            self.jobs.put(job)
        for _ in range(self.threads):
            self.jobs.put(None)
        self.workers = [
            threading.Thread(target=self._work, args=(chunk_bytes,), name=f"weights-read-{k}", daemon=True)
            for k in range(self.threads)
        ]
        for w in self.workers:
            w.start()

    @staticmethod
    def _map(f: _File) -> torch.Tensor:
        # Private and writable: reads share the page cache, a write (none expected) copies a page.
        region = mmap.mmap(f.fd, f.size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        return torch.frombuffer(region, dtype=torch.uint8)

    def _work(self, chunk_bytes: int) -> None:
        lane: _Lane | None = None
        try:
            while not self.errors and not self.cancelled:
                job = self.jobs.get()
                if job is None:
                    break
                kind, i, off, n = job
                target = self.targets[i]
                if kind == "populate":
                    _populate(target.data_ptr() + off, n)
                elif kind == "read":
                    self.files[i].read_into(_memoryview(target[off : off + n]), off, n)
                else:
                    if lane is None:
                        lane = _Lane(self.device, chunk_bytes)
                    slot = lane.next_slot()
                    self.files[i].read_into(lane.views[slot], off, n)
                    lane.copy(slot, target[off : off + n], n)
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            if lane is not None:
                lane.drain()

    def _close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for f in self.files:
            f.close()

    def cancel(self) -> None:
        """Stop after the chunks in flight, and release the buffers."""
        self.cancelled = True
        for w in self.workers:
            w.join()
        self._close()
        self.targets = []

    def result(self) -> tuple[list[torch.Tensor], ReadStats]:
        for w in self.workers:
            w.join()
        self._close()
        if self.errors:
            self.targets = []
            raise self.errors[0]
        stats = ReadStats(
            bytes=sum(f.size for f in self.files),
            seconds=time.perf_counter() - self.started,
            direct_files=sum(
                f.direct_fd is not None and f.direct_refused is None and not m
                for f, m in zip(self.files, self.mapped, strict=True)
            ),
            mapped_files=sum(self.mapped),
            threads=self.threads,
        )
        stats.buffered_files = len(self.files) - stats.direct_files - stats.mapped_files
        return self.targets, stats


def start_read(
    paths: Sequence[Path],
    device: torch.device,
    threads: int | None = None,
    direct: DirectMode = "auto",
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    staged: bool | None = None,
) -> PendingRead:
    """Start reading `paths` (whole files) onto `device`; returns at once."""
    return PendingRead(paths, device, threads, direct, chunk_bytes, staged)


def read_files(
    paths: Sequence[Path],
    device: torch.device,
    threads: int | None = None,
    direct: DirectMode = "auto",
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    staged: bool | None = None,
) -> tuple[list[torch.Tensor], ReadStats]:
    """Each file's bytes as one uint8 tensor on `device`."""
    return start_read(paths, device, threads, direct, chunk_bytes, staged).result()
