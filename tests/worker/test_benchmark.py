"""benchmarks/worker_load.py end to end at a tiny size (the 3 GB default only runs by hand)."""

import json

import pytest

from benchmarks import worker_load


@pytest.mark.slow
def test_benchmark_runs_and_both_loaders_agree(tmp_path, capsys):
    out = tmp_path / "result.json"
    code = worker_load.main(
        ["--tiny", "--size-gb", "0.002", "--device", "cpu", "--data-dir", str(tmp_path / "data"), "--raw-readers", "2", "--json", str(out)]
    )
    assert code == 0
    result = json.loads(out.read_text())
    assert result["equal"] is True
    names = {(r["name"], r["cache"]) for r in result["rows"]}
    assert ("modelstack fast loader", "warm") in names and ("modelstack fast loader", "cold") in names
    assert ("transformers from_pretrained(device_map)", "cold") in names
    assert all(r["seconds"] > 0 for r in result["rows"])
    table = capsys.readouterr().out
    assert "vs transformers" in table and "CPU only" in table
