"""Parallel reads: every mode and path returns exactly the file's bytes."""

import os

import pytest
import torch

from inference.worker import reader

SIZES = [1, reader.ALIGN - 1, reader.ALIGN, 3 * reader.ALIGN + 17, 200_003]


@pytest.fixture
def files(tmp_path):
    generator = torch.Generator().manual_seed(0)
    paths = []
    for i, size in enumerate(SIZES):
        path = tmp_path / f"f{i}.bin"
        path.write_bytes(torch.randint(0, 256, (size,), dtype=torch.uint8, generator=generator).numpy().tobytes())
        paths.append(path)
    return paths


def _check(paths, buffers):
    assert len(buffers) == len(paths)
    for path, buf in zip(paths, buffers, strict=True):
        assert buf.dtype == torch.uint8 and buf.numel() == path.stat().st_size
        assert buf.numpy().tobytes() == path.read_bytes()


@pytest.mark.parametrize("direct", ["on", "off", "auto"])
@pytest.mark.parametrize("staged", [False, True])
def test_reads_return_the_file_bytes(files, direct, staged):
    # Small chunks so every file spans several chunks, unaligned tails included.
    buffers, stats = reader.read_files(
        files, torch.device("cpu"), threads=3, direct=direct, chunk_bytes=2 * reader.ALIGN, staged=staged
    )
    _check(files, buffers)
    assert stats.bytes == sum(SIZES)
    assert stats.direct_files + stats.buffered_files + stats.mapped_files == len(files)
    if direct == "off":
        assert stats.direct_files == 0


def test_warm_files_are_mapped_on_cpu(files):
    for path in files:
        path.read_bytes()  # into the page cache
    if reader.page_cache_fraction(files[-1]) is None:
        pytest.skip("mincore is not available on this platform")
    buffers, stats = reader.read_files(files, torch.device("cpu"), threads=2, direct="auto")
    _check(files, buffers)
    assert stats.mapped_files >= 1  # the residency check saw at least the large file as warm
    # Mapped copy-on-write: writing to the tensor must not change the file.
    before = files[-1].read_bytes()
    buffers[-1][:10] = 0
    assert files[-1].read_bytes() == before


def test_page_cache_fraction_is_a_share(files):
    share = reader.page_cache_fraction(files[-1])
    assert share is None or 0.0 <= share <= 1.0


def test_file_that_shrinks_fails_loudly(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 10_000)
    handle = reader._File(path, direct=False)
    os.truncate(path, 5_000)
    buf = memoryview(bytearray(10_000))
    with pytest.raises(OSError, match="unexpected end of file"):
        handle.read_into(buf, 0, 10_000)
    handle.close()


def test_a_failing_reader_reports_its_error(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    path.write_bytes(b"y" * 50_000)

    def broken(self, buf, offset, length):
        raise OSError(5, "disk on fire")

    monkeypatch.setattr(reader._File, "read_into", broken)
    with pytest.raises(OSError, match="disk on fire"):
        reader.read_files([path], torch.device("cpu"), threads=2, direct="off", chunk_bytes=reader.ALIGN)


class FakeLibc:
    """mincore over a synthetic residency pattern, so the estimator is tested deterministically
    (the real page cache changes under the test: readahead completes asynchronously)."""

    BASE = 1 << 30

    def __init__(self, resident):
        self.resident = resident

    def mmap(self, addr, length, prot, flags, fd, offset):
        return self.BASE

    def munmap(self, addr, length):
        return 0

    def mincore(self, addr, length, vec):
        first = (addr.value - self.BASE) // reader.mmap.PAGESIZE
        for i in range(len(vec)):
            vec[i] = 1 if self.resident(first + i) else 0
        return 0


@pytest.mark.parametrize(
    ("pattern", "share"),
    [
        (lambda page: page < 2048, 0.5),  # the first half, as after reading it
        (lambda page: page % 64 < 48, 0.75),  # periodic: evenly spaced samples would alias
        (lambda page: False, 0.0),
        (lambda page: True, 1.0),
    ],
)
def test_sampled_residency_estimates_the_exact_share(tmp_path, monkeypatch, pattern, share):
    path = tmp_path / "f.bin"
    path.touch()
    os.truncate(path, 4096 * reader.mmap.PAGESIZE)  # sparse: only its size matters here
    monkeypatch.setattr(reader, "_libc", lambda: FakeLibc(pattern))
    assert reader.page_cache_fraction(path, windows=None) == pytest.approx(share)
    assert abs(reader.page_cache_fraction(path) - share) < 0.1


def test_refused_direct_reads_fall_back_to_buffered(files, monkeypatch):
    import errno

    real = os.preadv
    direct_fds: set[int] = set()
    real_open = reader._open_direct

    def open_direct(path):
        fd = real_open(path)
        if fd is not None:
            direct_fds.add(fd)
        return fd

    def preadv(fd, buffers, offset):
        if fd in direct_fds:
            raise OSError(errno.EFAULT, "Bad address")  # as for a buffer the kernel cannot pin
        return real(fd, buffers, offset)

    monkeypatch.setattr(reader, "_open_direct", open_direct)
    monkeypatch.setattr(reader.os, "preadv", preadv)
    buffers, stats = reader.read_files(files, torch.device("cpu"), threads=2, direct="on", chunk_bytes=reader.ALIGN, staged=True)
    if not direct_fds:
        pytest.skip("this filesystem refuses O_DIRECT, so there is no direct read to refuse")
    _check(files, buffers)
    assert stats.direct_files == 0 and stats.buffered_files == len(files)
