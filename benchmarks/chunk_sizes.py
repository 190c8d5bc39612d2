"""Whole runs of the baseline at several chunk sizes, alternating in one process: how the CPU default
(one key block a chunk, ``engine/simulate.py::default_chunk_paths``) was chosen.

``python -m benchmarks.chunk_sizes [--paths 262144] [--sizes 8192,65536] [--repeats 4] [--out FILE]``

Each size's program is compiled (or loaded from the cache) and run once first; then every repeat runs
every size, in reverse order on odd repeats, so a drifting machine weighs on all sizes alike. The results
do not depend on the chunk size (same numbers bit for bit); only the time and the memory do.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "priors" / "baseline.toml"


def time_sizes(n_paths: int, sizes: list[int], repeats: int, horizon: int = 24) -> dict[str, Any]:
    """Seconds of ``simulate_raw`` (program cached) per chunk size, alternating, and the median of each."""
    from mc_engine.engine.simulate import simulate_raw
    from mc_engine.inputs.loader import load_priors

    priors = load_priors(BASELINE)
    for size in sizes:
        simulate_raw(priors, 2 * size, 0, horizon, chunk_paths=size)
    seconds: dict[int, list[float]] = {size: [] for size in sizes}
    for rep in range(repeats):
        for size in sizes if rep % 2 == 0 else sizes[::-1]:
            t0 = time.perf_counter()
            simulate_raw(priors, n_paths, 0, horizon, chunk_paths=size)
            seconds[size].append(time.perf_counter() - t0)
            print(f"  {size:>9,} paths a chunk: {seconds[size][-1]:.2f} s", flush=True)
    return {"paths": n_paths, "horizon": horizon, "load_average": os.getloadavg(),
            "seconds": {str(k): v for k, v in seconds.items()},
            "median_s": {str(k): float(np.median(v)) for k, v in seconds.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=262_144)
    parser.add_argument("--sizes", default="8192,65536", help="chunk sizes, multiples of 8,192, comma-separated")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--out", type=Path, help="write the record (JSON) here")
    args = parser.parse_args()
    record = time_sizes(args.paths, [int(s) for s in args.sizes.split(",")], args.repeats)
    fastest = min(record["median_s"], key=record["median_s"].get)
    print(f"{args.paths:,} paths, median seconds per chunk size: "
          + ", ".join(f"{int(k):,}: {v:.2f}" for k, v in record["median_s"].items()) + f" (fastest {int(fastest):,})")
    if args.out:
        args.out.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
