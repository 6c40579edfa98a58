"""The fast loader on a real GPU: pinned staging, side-stream copies, outputs equal to transformers'.

These run where CUDA is available (the GPU machine: `pytest tests/worker/test_cuda.py`); elsewhere
they are reported as skipped, with the reason.
"""

import pytest
import torch
from transformers import AutoModelForCausalLM

from inference.worker import loader, reader

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
IDS = torch.tensor([[2, 6, 8, 10, 11, 12, 3]])


@pytest.mark.parametrize("direct", ["on", "off"])
@pytest.mark.parametrize("fixture", ["llama_dir", "llama_sharded_dir"])
def test_gpu_load_equals_transformers(request, fixture, direct):
    model_dir = request.getfixturevalue(fixture)
    cuda = torch.device("cuda")
    model, report = loader.fast_load(AutoModelForCausalLM, model_dir, cuda, direct=direct, chunk_bytes=reader.ALIGN * 4)
    expected = loader.transformers_load(AutoModelForCausalLM, model_dir, cuda)
    assert report.method == "fast"
    assert all(p.device.type == "cuda" for p in model.parameters())
    assert all(b.device.type == "cuda" for b in model.buffers())
    assert all(p.data_ptr() % loader.CUDA_ALIGN == 0 for p in model.parameters())
    ids = IDS.to(cuda)
    with torch.inference_mode():
        assert torch.equal(model(ids).logits, expected(ids).logits)


def test_pinned_staging_returns_the_file_bytes(llama_sharded_dir):
    from inference.worker.checkpoint import checkpoint_files

    paths = checkpoint_files(llama_sharded_dir)
    on_gpu, stats = reader.read_files(paths, torch.device("cuda"), threads=4, chunk_bytes=reader.ALIGN)
    for path, buf in zip(paths, on_gpu, strict=True):
        assert buf.device.type == "cuda"
        assert buf.cpu().numpy().tobytes() == path.read_bytes()
    assert stats.bytes == sum(p.stat().st_size for p in paths)
