"""The speed suite: throughput as ratios against references measured in the same process.

Throughput is in company-path-quarters per second (cpq/s). Every figure is a
steady-state time (the compiled program run again), with compile time reported
apart. Results go to a JSON record with the device, versions and date. Run from a checkout (it reads
``priors/``, ``tests/reference_model.py`` and writes ``benchmarks/results/``), with the package installed:
``python -m benchmarks`` (1e4 to 1e6 paths) or ``python -m benchmarks --full`` (adds 1e7, and 1e8 on an
accelerator); ``python benchmarks/bench.py`` works too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "priors" / "baseline.toml"
if str(REPO) not in sys.path:  # ``python benchmarks/bench.py``: make ``benchmarks`` importable
    sys.path.append(str(REPO))  # appended: a checkout of another version in the working folder comes first


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def engine_time(priors, n_paths: int, horizon: int, prng: str = "philox4x32") -> dict[str, float]:
    """Compile (first call) and steady-state (second call) time of ``simulate_raw``."""
    from mc_engine.engine.simulate import simulate_raw

    first, _ = _timed(lambda: simulate_raw(priors, min(n_paths, 65_536), 0, horizon, prng=prng))
    raw = simulate_raw(priors, n_paths, 0, horizon, prng=prng)
    steady = raw.timings["run_s"]
    cpq = n_paths * len(priors.companies) * horizon
    return {"paths": n_paths, "first_call_s": first, "steady_s": steady, "cpq_per_s": cpq / steady,
            "pilot_s": raw.timings["compile_and_pilot_s"]}


def rng_floor_time(priors, n_paths: int, horizon: int, prng: str = "philox4x32", package: str = "mc_engine") -> float:
    """Time to draw the same random numbers alone (inputs and every quarter's shocks), same PRNG and chunks:
    the fastest of three runs of :func:`rng_floor_run` (on a shared machine noise can then only make the
    engine / floor ratio look worse, not better)."""
    run = rng_floor_run(priors, n_paths, horizon, prng, package)
    return min(run() for _ in range(3))


def rng_floor_run(priors, n_paths: int, horizon: int, prng: str = "philox4x32",
                  package: str = "mc_engine") -> Callable[[], float]:
    """The RNG floor's program, compiled: a function that draws ``n_paths`` paths' numbers once and returns the
    seconds it took.

    ``package``: ``mc_engine``, or ``mc_engine_base`` to time another version's drawing (see
    :func:`compare_engines`; ``priors`` must then be loaded by that version)."""
    import jax
    import jax.numpy as jnp

    module = _importer(package)
    sampler = module("engine.sampler")
    root_key, compile_model = module("engine.keys").root_key, module("engine.scan").compile_model
    simulate = module("engine.simulate")

    model = compile_model(priors)
    # The engine's own chunks (balanced since the plan spreads blocks evenly; an older version's plan as it was).
    chunk_blocks = simulate.ChunkPlan.make(n_paths, model.block_size, None, prng, 0, 0, 1).chunk_blocks
    draw = jax.jit(floor_program(model, chunk_blocks, horizon, module))

    key = root_key(0, prng)
    theta, factor = jnp.asarray(model.sampler.theta), jnp.asarray(model.sampler.factor)
    if hasattr(sampler, "draw_arrays"):  # the engine builds the quantile tables once per run: so does the floor
        factor = jax.jit(sampler.draw_arrays, static_argnums=0)(model.sampler.layout, theta, factor)
    args = (theta, factor)
    jax.block_until_ready(draw(key, jnp.uint32(0), *args))
    n_chunks = math.ceil(math.ceil(n_paths / model.block_size) / chunk_blocks)

    def run() -> None:
        for c in range(n_chunks):
            jax.block_until_ready(draw(key, jnp.uint32(c * chunk_blocks), *args))

    return lambda: _timed(run)[0]


def _importer(package: str) -> Callable[[str], Any]:
    """``module(name)``: ``package.name`` imported (``mc_engine``, or another version as ``mc_engine_base``)."""
    import importlib

    return lambda name: importlib.import_module(f"{package}.{name}")


def floor_pairs(priors, n_paths: int, horizon: int, pairs: int = 3) -> dict[str, Any]:
    """The engine's steady run and the RNG floor's, back to back, ``pairs`` times: a shared machine's speed
    drifts over minutes, so each ratio compares two runs taken seconds apart."""
    from mc_engine.engine.simulate import simulate_raw

    floor = rng_floor_run(priors, n_paths, horizon)
    simulate_raw(priors, n_paths, 0, horizon)  # compiled (or loaded from the cache) before the timings
    floors, engines = [], []
    for _ in range(pairs):
        floors.append(floor())
        engines.append(simulate_raw(priors, n_paths, 0, horizon).timings["run_s"])
    ratios = [e / f for e, f in zip(engines, floors, strict=True)]
    return {"paths": n_paths, "floor_s": floors, "engine_s": engines, "ratios": ratios,
            "median_ratio": float(np.median(ratios))}


def floor_program(model: Any, chunk_blocks: int, horizon: int, module: Callable[[str], Any],
                  shocks: bool = True) -> Callable[..., Any]:
    """The RNG floor's chunk (not jitted): the inputs and every quarter's shocks the engine draws for
    ``chunk_blocks`` key blocks, each summed so that nothing can be skipped. ``shocks=False``: the inputs only.
    ``module(name)`` imports ``name`` from the package timed (this one or another version)."""
    import jax
    import jax.numpy as jnp

    keys, scan = module("engine.keys"), module("engine.scan")
    draw_matrix, streams = module("engine.sampler").draw_matrix, module("model.step").shock_blocks(model.layout)
    layout, block = model.sampler.layout, model.block_size

    def draw(key: jax.Array, first: jax.Array, theta: jax.Array, factor: Any) -> jax.Array:
        x = draw_matrix(layout, chunk_blocks, keys.stream_key(key, keys.STREAM_INPUTS), first, theta, factor)
        if not shocks:
            return x.sum()
        block_keys = keys.block_keys(keys.stream_key(key, keys.STREAM_SHOCKS), first, chunk_blocks)

        def body(acc: jax.Array, t: jax.Array) -> tuple[jax.Array, None]:
            drawn = scan.quarter_shocks(block_keys, t.astype(jnp.uint32), block, streams, "random")
            return acc + sum(x.sum() for x in jax.tree.leaves(drawn)), None  # every number used

        total, _ = jax.lax.scan(body, x.sum(), jnp.arange(1, horizon + 1))
        return total

    return draw


def arithmetic_ratio(priors, horizon: int) -> dict[str, Any]:
    """How much arithmetic a run does against the RNG floor's, by XLA's own count (its cost analysis of the
    programs as traced, before fusion, so nothing is counted twice), per company-path.

    XLA counts a loop body once, so the parts are taken apart with three programs of one key block: the
    inputs alone (``I``), the floor's chunk (``F``: the inputs and one quarter of shocks) and the engine's
    chunk with its shocks switched off (``Z``: the inputs, one quarter of the model step and the reducer, the
    start and the horizon sketch); the same with a reducer that only sums the observations (``Z0``) parts the
    model from the reducer. A fifth, the engine's chunk with its shocks (``R``), checks the split: it should
    hold about three quarters of shocks more than ``Z`` (two drawn before the loop, one inside). Then, for
    ``horizon`` quarters: floor = I + horizon (F - I); engine = floor + horizon (Z - I). A run that did its
    arithmetic as fast as the floor does its own would take engine / floor times the floor's time.
    """
    import jax
    import jax.numpy as jnp

    from mc_engine.engine.chunk import ChunkReducer, chunk_program, dummy_tables, run_arrays
    from mc_engine.engine.keys import root_key
    from mc_engine.engine.scan import compile_model

    model = compile_model(priors)
    block, nc = model.block_size, model.layout.n_companies
    theta, factor, consts = run_arrays(model, None)
    key, first = root_key(0), jnp.uint32(0)

    def cost(lowered: Any) -> np.ndarray:
        c = lowered.cost_analysis()
        c = c[0] if isinstance(c, list) else c
        return np.array([c.get("flops", 0.0), c.get("transcendentals", 0.0)]) / (block * nc)

    module = _importer("mc_engine")
    inputs, floor = (cost(jax.jit(floor_program(model, 1, horizon, module, shocks)).lower(key, first, theta, factor))
                     for shocks in (False, True))
    uncertain = tuple(i for i, inp in enumerate(priors.inputs.values()) if not inp.is_point)
    reducer = _steady()(min(1000, block), block, block, uncertain)

    def chunk(mode: str, reduce: ChunkReducer) -> np.ndarray:
        return cost(chunk_program.lower((model.sampler.layout, model.layout), 1, horizon, mode, reduce, key, first,
                                        theta, factor, consts, dummy_tables(horizon, nc), jnp.int32(block)))

    engine = {"zero": chunk("zero", reducer), "random": chunk("random", reducer),
              "zero_sums": chunk("zero", _sums_only()(*dataclasses.astuple(reducer)))}
    shock_q, step_q = floor - inputs, engine["zero"] - inputs
    model_q = engine["zero_sums"] - inputs
    floor_run = inputs + horizon * shock_q
    engine_run = floor_run + horizon * step_q
    out: dict[str, Any] = {"per_company_path": {}, "ratio": {}}
    for i, what in enumerate(("flops", "transcendentals")):
        out["per_company_path"][what] = {"inputs": inputs[i], "shocks_per_quarter": shock_q[i],
                                         "model_and_reducer_per_quarter": step_q[i],
                                         "model_per_quarter": model_q[i], "reducer_per_quarter": step_q[i] - model_q[i],
                                         "floor_run": floor_run[i], "engine_run": engine_run[i]}
        out["ratio"][what] = engine_run[i] / floor_run[i]
    out["shock_quarters_in_chunk"] = float((engine["random"][0] - engine["zero"][0]) / shock_q[0])
    return out


def _steady() -> type:
    """The chunk reducer of every chunk but the first: XLA's cost analysis counts both branches of the pilot's
    ``lax.cond`` (its own edges, run in the first chunk only), so the counts leave that branch out."""
    from mc_engine.engine.chunk import ChunkReducer

    @dataclasses.dataclass(frozen=True)
    class Steady(ChunkReducer):
        def edges(self, table: Any, cells: Any, weight: Any) -> Any:
            return table

    return Steady


def _sums_only() -> type:
    @dataclasses.dataclass(frozen=True)
    class SumsOnly(_steady()):
        """A reducer that only sums every float observation (so none is skipped): the model's arithmetic apart."""

        def __call__(self, aux: Any, t: Any, obs: Any, alive_prev: Any) -> dict[str, Any]:
            return {"sum": sum(v.sum() for v in obs if v.dtype.kind == "f")}

        def finish(self, aux: Any, final: Any, draws: Any) -> dict[str, Any]:
            return {"sum": draws.sum()}

    return SumsOnly


def numpy_reference_time(priors, n_paths: int, horizon: int) -> float:
    """Seconds per path of the independent NumPy float64 implementation (tests/reference_model.py)."""
    sys.path.insert(0, str(REPO / "tests"))
    import jax
    from reference_model import simulate_reference

    from mc_engine.engine.sampler import compile_sampler

    inputs = compile_sampler(priors).sample_inputs(jax.random.key(0, impl="philox4x32"), n_paths)
    inputs = {k: np.asarray(v, np.float64) for k, v in inputs.items()}
    wall, _ = _timed(lambda: simulate_reference(priors, inputs, horizon, np.random.default_rng(0)))
    return wall


def compare_engines(priors, base_src: Path, n_paths: int, horizon: int, repeats: int = 3,
                    log: Callable[[str], None] = print) -> dict[str, Any]:
    """Steady time of this checkout's engine against another version's, alternating in one process.

    ``base_src`` holds a copy of the other version's package renamed ``mc_engine_base`` (every import inside the
    package is relative, so ``git archive REV mc_engine | tar -x -C DIR && mv DIR/mc_engine DIR/mc_engine_base``
    makes one). Alternating the two (A B A B ...) in one process keeps the ratio fair on a shared machine.
    """
    import importlib

    sys.path.insert(0, str(base_src))
    engines = {"before": importlib.import_module("mc_engine_base.engine.simulate").simulate_raw,
               "after": importlib.import_module("mc_engine.engine.simulate").simulate_raw}
    base_priors = importlib.import_module("mc_engine_base.inputs.loader").load_priors(BASELINE)
    args = {"before": base_priors, "after": priors}
    out: dict[str, Any] = {"paths": n_paths, "repeats": repeats}
    for name, run in engines.items():  # compile (or load from the cache) and pilot, apart
        out[f"{name}_first_call_s"] = _timed(lambda r=run, p=args[name]: r(p, n_paths, 0, horizon))[0]
    for name in engines:
        out[f"{name}_steady_s"] = []
    for _ in range(repeats):
        for name, run in engines.items():
            out[f"{name}_steady_s"].append(run(args[name], n_paths, 0, horizon).timings["run_s"])
            log(f"  {name}: {out[f'{name}_steady_s'][-1]:.2f} s")
    out["speedup"] = float(np.median(out["before_steady_s"]) / np.median(out["after_steady_s"]))
    log(f"engine before/after at {n_paths:,} paths: median steady {np.median(out['before_steady_s']):.2f} s -> "
        f"{np.median(out['after_steady_s']):.2f} s ({out['speedup']:.2f}x)")
    return out


def chunk_traffic(priors, horizon: int) -> dict[str, float]:
    """Bytes the compiled chunk program reads and writes, per company-path-quarter (XLA's cost analysis).

    XLA counts a loop body once, so the scan's ``bytes accessed`` is about one quarter's traffic of the
    chunk (plus the draws before the loop); every buffer counts in full, cache hits or not, so this is an
    upper bound on DRAM traffic. An estimate, not a measurement."""
    import jax

    from mc_engine.engine.chunk import chunk_program, dummy_tables, run_arrays
    from mc_engine.engine.scan import compile_model
    from mc_engine.engine.simulate import default_chunk_paths

    model = compile_model(priors)
    block = model.block_size
    blocks = default_chunk_paths(block) // block
    nc = model.layout.n_companies
    uncertain = tuple(i for i, inp in enumerate(priors.inputs.values()) if not inp.is_point)
    reducer = _steady()(1000, block, 10_000, uncertain)
    tables = dummy_tables(horizon, nc)
    from mc_engine.engine.keys import root_key

    lowered = chunk_program.lower((model.sampler.layout, model.layout), blocks, horizon, "random", reducer,
                                  root_key(0), jax.numpy.uint32(0), *run_arrays(model, None), tables,
                                  jax.numpy.int32(blocks * block))
    compiled = lowered.compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    memory = compiled.memory_analysis()
    cpq = blocks * block * nc
    return {"chunk_paths": blocks * block, "bytes_accessed_per_loop_body": float(cost.get("bytes accessed", 0.0)),
            "bytes_per_company_path_quarter": float(cost.get("bytes accessed", 0.0)) / cpq,
            "temp_bytes": float(getattr(memory, "temp_size_in_bytes", 0)),
            "argument_bytes": float(getattr(memory, "argument_size_in_bytes", 0)),
            "output_bytes": float(getattr(memory, "output_size_in_bytes", 0))}


def peak_rss_mb() -> float:
    """Peak resident memory of this process (MB): ``VmHWM`` where /proc has it, else ``ru_maxrss``.

    ``ru_maxrss`` is wrong for a child: Linux keeps it across fork and exec, so a fresh process started by
    a large parent reports the parent's size (measured: 9.7 GB for a 2 GB run started after the NumPy
    reference). ``VmHWM`` belongs to the process's own address space.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)


def fresh_run(n_paths: int, horizon: int, cold: bool = False) -> dict[str, float]:
    """A whole ``mc-engine run`` of the baseline in a fresh process: simulate ``n_paths`` and write the run
    folder (into a temporary directory, when netCDF4 is installed). Returns its peak resident memory (MB),
    steady simulation time (compile and pilot excluded) and compile time, as the run itself recorded them.
    ``cold``: with the persistent compilation cache off, so the compile time is a cold compile's."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        code = (
            f"import importlib.util, json, sys, time, jax, mc_engine\nsys.path.insert(0, {str(REPO)!r})\n"
            "from benchmarks.bench import peak_rss_mb\n"
            "from mc_engine.inputs.loader import load_priors\n"
            f"priors = load_priors({str(BASELINE)!r})\n"
            f"ds = mc_engine.simulate(priors, {n_paths}, 0, {horizon})\n"
            "t = time.perf_counter(); wrote = importlib.util.find_spec('netCDF4') is not None\n"
            "if wrote:\n"
            "    from mc_engine.output.runs import write_run\n"
            f"    write_run(ds, {tmp!r} + '/run', priors)\n"
            "print(json.dumps({'peak_rss_mb': peak_rss_mb(),\n"
            "    'steady_s': ds.attrs['run_seconds'], 'first_call_s': ds.attrs['compile_seconds'],\n"
            "    'write_s': time.perf_counter() - t if wrote else None,\n"
            "    'device_peak_mb': (jax.devices()[0].memory_stats() or {}).get('peak_bytes_in_use', 0) / 2**20}))\n"
        )
        env = {**os.environ, **({"MC_ENGINE_NO_JAX_CACHE": "1"} if cold else {})}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env)
    if out.returncode != 0:  # recorded, not raised: the rest of the suite still runs and is written
        return {"paths": n_paths, "error": out.stderr.strip().splitlines()[-1:] or [f"exit {out.returncode}"]}
    record = json.loads(out.stdout.strip().splitlines()[-1])
    record["paths"] = n_paths
    return record


def cold_start(horizon: int, base_src: Path | None = None, n_paths: int = 10_000) -> dict[str, float]:
    """A fresh process with the compilation cache off simulating ``n_paths`` paths: ``simulate_raw``'s own
    ``compile_and_pilot_s`` (until the main loop starts: the compile and the pilot chunk) and ``total_s`` (the
    whole simulation; imports apart), for this version, or with ``base_src`` the ``mc_engine_base`` package in
    that folder (see :func:`compare_engines`)."""
    import os

    package = "mc_engine" if base_src is None else "mc_engine_base"
    code = (f"import json, sys\nsys.path.insert(0, {str(base_src or REPO)!r})\n"
            f"from {package}.inputs.loader import load_priors\nfrom {package}.engine.simulate import simulate_raw\n"
            f"r = simulate_raw(load_priors({str(BASELINE)!r}), {n_paths}, 0, {horizon})\n"
            "print(json.dumps({k: r.timings[k] for k in ('compile_and_pilot_s', 'total_s')}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "MC_ENGINE_NO_JAX_CACHE": "1"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def cold_start_pairs(horizon: int, base_src: Path, pairs: int = 3,
                     log: Callable[[str], None] = print) -> dict[str, Any]:
    """:func:`cold_start` of the other version and of this one, alternating (a shared machine's speed drifts)."""
    before, after = [], []
    for _ in range(pairs):
        before.append(cold_start(horizon, base_src))
        after.append(cold_start(horizon))
        log("cold start (cache off, fresh process, 10,000 paths): compile and pilot "
            f"{before[-1]['compile_and_pilot_s']:.1f} s -> {after[-1]['compile_and_pilot_s']:.1f} s, "
            f"whole simulation {before[-1]['total_s']:.1f} s -> {after[-1]['total_s']:.1f} s")
    return {"before": before, "after": after,
            "total_ratios": [b["total_s"] / a["total_s"] for b, a in zip(before, after, strict=True)]}


def _squigglepy(horizon: int, log: Callable[[str], None]) -> Any:
    try:
        from benchmarks.bench_squigglepy import run_case
    except ImportError:  # squigglepy is a benchmark extra
        return "not installed"
    case = run_case(horizon=horizon)
    log(f"squigglepy one-lab runway: {case}")
    return case


def run_suite(full: bool = False, horizon: int = 24, log: Callable[[str], None] = print, peers: bool = True,
              sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000), against: Path | None = None) -> dict[str, Any]:
    """Run every benchmark; returns the JSON record.

    Args:
        peers: also the threefry variant and squigglepy.
        sizes: fresh whole runs (peak memory); ``full`` adds 1e7 (and 1e8 on an accelerator).
        against: a copy of another version's package (see :func:`compare_engines`) to time this one against.
    """
    import jax

    from mc_engine import __version__
    from mc_engine.inputs.loader import load_priors

    priors = load_priors(BASELINE)
    companies = len(priors.companies)
    record: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "device": f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind} x{jax.device_count()}",
        "cpu_count": __import__("os").cpu_count(),
        "load_average": list(__import__("os").getloadavg()),
        "versions": {"mc_engine": __version__, "jax": jax.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "horizon": horizon, "companies": companies,
    }
    record["scaling"] = []
    for n in (10_000, 100_000):
        r = engine_time(priors, n, horizon)
        log(f"engine {n:>11,} paths: steady {r['steady_s']:8.2f} s  {r['cpq_per_s']:.3g} cpq/s  "
            f"(first call {r['first_call_s']:.1f} s)")
        record["scaling"].append(r)
    for prng in ("threefry2x32",) if peers else ():  # threefry4x32 compiled for over 7 minutes here
        r = engine_time(priors, 100_000, horizon, prng)
        log(f"engine 100,000 paths with {prng}: steady {r['steady_s']:.2f} s")
        record.setdefault("prng", {})[prng] = r
    n_floor = 100_000
    floor = rng_floor_time(priors, n_floor, horizon)
    engine_100k = record["scaling"][1]["steady_s"]
    record["rng_floor"] = {"paths": n_floor, "rng_only_s": floor, "engine_s": engine_100k,
                           "engine_over_floor": engine_100k / floor}
    log(f"RNG floor at {n_floor:,} paths: {floor:.2f} s; engine / floor = {engine_100k / floor:.2f} (target <= 2)")
    paired = record["rng_floor"]["pairs"] = floor_pairs(priors, n_floor, horizon)
    log(f"engine / floor, back to back: {', '.join(f'{r:.2f}' for r in paired['ratios'])} "
        f"(median {paired['median_ratio']:.2f}; target <= 2)")
    arithmetic = record["rng_floor"]["arithmetic"] = arithmetic_ratio(priors, horizon)
    log(f"arithmetic of a run / the floor's (XLA's count): flops {arithmetic['ratio']['flops']:.2f}x, "
        f"transcendentals {arithmetic['ratio']['transcendentals']:.2f}x")
    n_ref = 100_000
    ref = numpy_reference_time(priors, n_ref, horizon)
    record["numpy_reference"] = {"paths_timed": n_ref, "seconds": ref, "seconds_per_path": ref / n_ref}
    log(f"NumPy float64 reference at {n_ref:,} paths: {ref:.1f} s; engine speed-up {ref / engine_100k:.2f}x (target >= 5)")
    record["peers"] = {}
    if against is not None:
        record["before_after"] = compare_engines(priors, against, 131_072, horizon, log=log)
        record["cold_start_pairs"] = cold_start_pairs(horizon, against, log=log)
    try:
        record["hlo_traffic"] = chunk_traffic(priors, horizon)
        log(f"chunk program traffic (XLA cost analysis): {record['hlo_traffic']['bytes_per_company_path_quarter']:.0f}"
            " bytes per company-path-quarter")
    except Exception as exc:  # noqa: BLE001  (an older engine has no chunk program: recorded, not fatal)
        record["hlo_traffic"] = f"not measured: {type(exc).__name__}: {exc}"
    record["peers"]["squigglepy"] = _squigglepy(horizon, log) if peers else "not run (--no-peers)"
    cold = fresh_run(10_000, horizon, cold=True)
    record["cold_compile"] = cold
    if "error" not in cold:
        log(f"cold compile (cache off, fresh process, 10,000 paths): compile and pilot {cold['first_call_s']:.1f} s")
    # Fresh processes: peak memory of a whole run (simulate + write) and, for the large sizes, its timings.
    record["fresh_runs"] = []
    big = [10_000_000] + ([100_000_000] if jax.default_backend() != "cpu" else [])
    for n in list(sizes) + (big if full else []):
        r = fresh_run(n, horizon)
        if "error" in r:
            log(f"fresh run {n:>11,} paths FAILED: {r['error']}")
            record["fresh_runs"].append(r)
            continue
        r["cpq_per_s"] = n * companies * horizon / r["steady_s"]
        record["fresh_runs"].append(r)
        log(f"fresh run {n:>11,} paths: peak RSS {r['peak_rss_mb']:,.0f} MB, steady {r['steady_s']:.1f} s "
            f"({r['cpq_per_s']:.3g} cpq/s), first call {r['first_call_s']:.1f} s")
        if n >= 1_000_000:
            record["scaling"].append({k: r[k] for k in ("paths", "steady_s", "first_call_s", "cpq_per_s")})
    for r in record["scaling"]:
        if r["paths"] >= n_ref:
            r["numpy_estimate_s"] = ref / n_ref * r["paths"]
            r["speedup_vs_numpy"] = r["numpy_estimate_s"] / r["steady_s"]
            how = "timed" if r["paths"] == n_ref else f"linear from {n_ref:,}"
            log(f"NumPy float64 reference at {r['paths']:,} paths ({how}): {r['numpy_estimate_s']:.1f} s; "
                f"engine speed-up {r['speedup_vs_numpy']:.2f}x (target >= 5)")
    return record


def main(argv: list[str] | None = None) -> Path:
    """``python -m benchmarks [--full] [--out FILE]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also 1e7 paths (and 1e8 on an accelerator)")
    parser.add_argument("--out", type=Path, help="JSON record (default benchmarks/results/bench-DATE-DEVICE.json)")
    parser.add_argument("--no-peers", action="store_true", help="skip the threefry variant and squigglepy")
    parser.add_argument("--sizes", type=lambda v: tuple(int(float(x)) for x in v.split(",")),
                        default=(10_000, 100_000, 1_000_000), help="fresh whole runs, e.g. 1e5,1e6")
    parser.add_argument("--against", type=Path,
                        help="folder holding another version's package as mc_engine_base: time it against this one")
    args = parser.parse_args(argv)
    full, out = args.full, args.out
    record = run_suite(full, peers=not args.no_peers, sizes=args.sizes, against=args.against)
    out = out or REPO / "benchmarks" / "results" / f"bench-{dt.date.today().isoformat()}-{record['device'].split(':')[0]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1))
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main()
