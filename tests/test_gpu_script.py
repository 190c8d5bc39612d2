"""benchmarks/gpu.sh on the CPU at a tiny size: it runs without a network or an install, writes its
JSON record, and records a size that runs past its time limit instead of stopping. (On a GPU the same
script runs the baseline at 1e6, 1e7 and 1e8 paths; docs/performance.md.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import tomli_w
from conftest import REPO, minimal_tree


def gpu_sh(tmp_path, **env: str) -> dict:
    priors = tmp_path / "minimal.toml"
    priors.write_bytes(tomli_w.dumps(minimal_tree()).encode())
    out = tmp_path / "results"
    environ = {**os.environ, "PYTHON": sys.executable, "GPU_BENCH_OUT": str(out), "GPU_BENCH_PRIORS": str(priors),
               "GPU_BENCH_HORIZON": "2", **env}
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu.sh")], env=environ, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (record,) = out.glob("gpu-*-cpu.json")
    return json.loads(record.read_text())


def test_gpu_script_runs_and_records_on_cpu(tmp_path):
    record = gpu_sh(tmp_path, GPU_BENCH_SIZES="3000")
    assert record["backend"] == "cpu" and record["nvidia_smi"] is None
    (run,) = record["runs"]
    assert run["paths"] == 3000 and run["horizon"] == 2 and run["companies"] == 3
    assert run["cpq_per_s"] > 0 and run["compile_s"] > 0 and run["host_peak_rss_mb"] > 0
    assert run["device_peak_mb"] is None  # the CPU backend keeps no memory statistics


def test_gpu_script_records_a_timeout(tmp_path):
    record = gpu_sh(tmp_path, GPU_BENCH_SIZES="3000", GPU_BENCH_TIMEOUT="1")
    (run,) = record["runs"]
    assert run["paths"] == 3000 and run["error"] == "timed out after 1 s"
