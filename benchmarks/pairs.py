"""``python -m benchmarks.pairs [--pairs N] [--paths N] [--out FILE]``: the engine against the NumPy reference,
interleaved.

On a shared machine the speed of the cores drifts by 10-20 % over minutes, so a ratio of two timings taken
minutes apart (as in the suite, which times the reference once) moves with it. Here each pair times the
NumPy float64 reference at 100,000 paths (scaled linearly) and then the engine's whole run of ``--paths``
(``simulate_raw``'s own run time, compile and pilot apart), back to back, and the record keeps every pair.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
from pathlib import Path

from benchmarks.bench import BASELINE, REPO, numpy_reference_time

REFERENCE_PATHS = 100_000


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pairs", description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--paths", type=int, default=1_000_000)
    parser.add_argument("--horizon", type=int, default=24)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / f"pairs-{stamp}.json")
    args = parser.parse_args(argv)

    import jax

    from mc_engine.engine.simulate import simulate_raw
    from mc_engine.inputs.loader import load_priors

    priors = load_priors(BASELINE)
    simulate_raw(priors, 65_536, 0, args.horizon)  # compile (or load from the cache) before the first pair
    pairs = []
    for _ in range(args.pairs):
        reference = numpy_reference_time(priors, REFERENCE_PATHS, args.horizon) * args.paths / REFERENCE_PATHS
        engine = simulate_raw(priors, args.paths, 0, args.horizon).timings["run_s"]
        pairs.append({"numpy_s": reference, "engine_s": engine, "numpy_over_engine": reference / engine,
                      "load_average": os.getloadavg()[0]})
        print(f"NumPy reference {reference:.1f} s (scaled from {REFERENCE_PATHS:,} paths), engine {engine:.1f} s "
              f"at {args.paths:,} paths: {reference / engine:.2f}x", flush=True)
    record = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "device": f"{jax.default_backend()}: {jax.devices()[0].device_kind} x{jax.device_count()}",
              "cpu_count": os.cpu_count(), "python": platform.python_version(), "jax": jax.__version__,
              "paths": args.paths, "reference_paths": REFERENCE_PATHS, "horizon": args.horizon, "pairs": pairs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1))
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
