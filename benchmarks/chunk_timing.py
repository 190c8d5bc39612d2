"""Time the jitted chunk alone (trivial reducer, random and zero shocks), and the shocks alone, for one or two
versions of the package alternating in one process.

``python -m benchmarks.chunk_timing [--against DIR] [--paths 32768] [--repeats 3]``: ``DIR`` holds another
version's package as ``mc_engine_base`` (see :func:`benchmarks.bench.compare_engines`). Prints per variant
the compile time, the steady times (median of ``repeats``, alternating versions) and, for the compiled
random-shock chunk, XLA's fusion and copy counts. Ratios between versions are what to read on a shared
machine; absolute times move with the load.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "priors" / "baseline.toml"


def _trivial(aux: Any, t: Any, obs: Any, alive_prev: Any) -> Any:
    """Sums of every observation (a NamedTuple, or a dict in older versions): a reducer that costs next to
    nothing but keeps every output live."""
    import jax
    import jax.numpy as jnp

    return sum(jnp.sum(v.astype(jnp.float32)) for v in jax.tree_util.tree_leaves(obs))


def programs(package: str, n_paths: int, horizon: int, options: dict | None = None) -> dict[str, Any]:
    """Compiled chunk programs of ``package`` (``mc_engine`` or ``mc_engine_base``) and their arguments.

    ``options``: XLA compiler options for the chunk programs (e.g. ``{"xla_backend_optimization_level": 1}``).
    """
    import jax
    import jax.numpy as jnp

    scan = importlib.import_module(f"{package}.engine.scan")
    keys = importlib.import_module(f"{package}.engine.keys")
    step = importlib.import_module(f"{package}.model.step")
    loader = importlib.import_module(f"{package}.inputs.loader")
    model = scan.compile_model(loader.load_priors(BASELINE))
    block = model.block_size
    n_blocks = n_paths // block
    static = (model.sampler.layout, model.layout)
    # The quantile tables are built once per run, as a run does (``chunk.run_arrays``), not in the chunk.
    theta, factor, consts = importlib.import_module(f"{package}.engine.chunk").run_arrays(model, None)
    key = keys.root_key(0)
    out: dict[str, Any] = {}
    args = (key, jnp.uint32(0), theta, factor, consts)
    for mode in ("random", "zero"):
        fn = jax.jit(lambda k, first, th, fa, co, m=mode: jax.tree.map(
            jnp.sum, scan.chunk_scan(static, n_blocks, horizon, m, _trivial, k, first, th, fa, co, None)[1]))
        t0 = time.perf_counter()
        compiled = fn.lower(*args).compile(options)
        out[mode] = (compiled, time.perf_counter() - t0)
    streams = step.shock_blocks(model.layout)
    block_keys = keys.block_keys

    @jax.jit
    def shocks_only(k: Any, first: Any, *_: Any) -> Any:
        kb = block_keys(keys.stream_key(k, keys.STREAM_SHOCKS), first, n_blocks)

        def body(acc: Any, t: Any) -> Any:
            drawn = scan.quarter_shocks(kb, t.astype(jnp.uint32), block, streams, "random")
            return acc + sum(x.sum() for x in jax.tree.leaves(drawn)), None

        return jax.lax.scan(body, jnp.float32(0), jnp.arange(1, horizon + 1))[0]

    t0 = time.perf_counter()
    out["shocks"] = (shocks_only.lower(*args).compile(), time.perf_counter() - t0)
    out["args"] = args
    text = out["random"][0].as_text()
    out["fusions"] = len(re.findall(r"^\s*(?:ROOT )?\S+ = \S+ fusion\(", text, re.M))
    out["copies"] = len(re.findall(r"^\s*(?:ROOT )?\S+ = \S+ copy\(", text, re.M))
    return out


def main(argv: list[str] | None = None) -> None:
    import jax

    parser = argparse.ArgumentParser(prog="python -m benchmarks.chunk_timing")
    parser.add_argument("--against", type=Path, help="folder holding another version as mc_engine_base")
    parser.add_argument("--paths", type=int, default=32_768)
    parser.add_argument("--horizon", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", default="random,zero,shocks")
    args = parser.parse_args(argv)
    packages = ["mc_engine"]
    if args.against is not None:
        sys.path.insert(0, str(args.against))
        packages.insert(0, "mc_engine_base")
    progs = {p: programs(p, args.paths, args.horizon) for p in packages}
    variants = args.variants.split(",")
    for p in packages:
        compile_s = ", ".join(f"{v} {progs[p][v][1]:.1f} s" for v in variants)
        print(f"{p}: compile {compile_s}; random chunk {progs[p]['fusions']} fusions, {progs[p]['copies']} copies")
        for v in variants:
            jax.block_until_ready(progs[p][v][0](*progs[p]["args"]))  # warm
    wall: dict[tuple[str, str], list[float]] = {(p, v): [] for p in packages for v in variants}
    cpu: dict[tuple[str, str], list[float]] = {(p, v): [] for p in packages for v in variants}
    for _ in range(args.repeats):
        for v in variants:
            for p in packages:
                t0, c0 = time.perf_counter(), time.process_time()
                jax.block_until_ready(progs[p][v][0](*progs[p]["args"]))
                wall[p, v].append(time.perf_counter() - t0)
                cpu[p, v].append(time.process_time() - c0)
    for what, times in (("wall", wall), ("cpu", cpu)):
        for v in variants:
            row = "  ".join(f"{p} {np.median(times[p, v]):.2f} s ({', '.join(f'{x:.2f}' for x in times[p, v])})"
                            for p in packages)
            ratio = (f"  before/after {np.median(times[packages[0], v]) / np.median(times['mc_engine', v]):.2f}x"
                     if len(packages) == 2 else "")
            print(f"{what:>4} {v:>6}: {row}{ratio}")
    import os

    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
