"""One size of benchmarks/gpu.sh, in its own process: the baseline at ``n`` paths, one JSON line out.

Usage: ``python benchmarks/gpu_run.py N_PATHS [HORIZON] [PRIORS]``. Prints throughput
(company-path-quarters per second over the run's own time, compile and pilot excluded), the compile
and pilot time of the first chunk, device peak memory (``memory_stats()["peak_bytes_in_use"]``; null
on CPU, which has none) and host peak RSS.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> dict:
    n = int(float(argv[0]))
    horizon = int(argv[1]) if len(argv) > 1 else 24
    priors_path = argv[2] if len(argv) > 2 else str(REPO / "priors" / "baseline.toml")
    t0 = time.perf_counter()
    import jax

    import mc_engine

    priors = mc_engine.load_priors(priors_path)
    ds = mc_engine.simulate(priors, n, seed=0, horizon=horizon)
    device = jax.devices()[0]
    stats = device.memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    rss = None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) / 1024
    except OSError:
        pass
    run_s = float(ds.attrs["run_seconds"])
    return {
        "paths": n, "horizon": horizon, "companies": len(priors.companies),
        "device": f"{device.platform}: {device.device_kind} x{jax.device_count()}",
        "chunk_paths": int(ds.attrs["chunk_paths"]),
        "compile_s": float(ds.attrs["compile_seconds"]), "run_s": run_s,
        "cpq_per_s": n * len(priors.companies) * horizon / run_s if run_s > 0 else None,
        "device_peak_mb": None if peak is None else peak / 2**20,
        "device_memory_limit_mb": None if "bytes_limit" not in stats else stats["bytes_limit"] / 2**20,
        "host_peak_rss_mb": rss, "process_s": time.perf_counter() - t0,
        "jax": jax.__version__, "mc_engine": mc_engine.__version__,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
