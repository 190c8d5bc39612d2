"""``mc_engine.sweep``: one simulation per grid point and scenario, merged into one Dataset.

A grid key names an input (``market.algo_gain``); each of its values makes that
input a point value. Sweep points whose priors have the same *structure*
(families, which inputs are points, shapes) share one compiled chunk program:
the prior numbers enter it as the traced vector ``theta``. Pinning an input
that is already a point only changes ``theta``; pinning an uncertain one changes
the sampler's structure, so its points compile once more (once per distinct
structure, not per value).

With ``out``, every finished point is stored at once (``points/<index>.nc``
then ``points/<index>.json``, each by temp file + rename), so a killed sweep
reruns only the points without a JSON; the merged Dataset is written last as
``result.nc`` + ``manifest.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import RunError
from ..inputs.distributions import Dist
from ..inputs.loader import Priors, load_priors, point_problem
from .atomic import atomic_write, write_json
from .dataset import SCHEMA_VERSION
from .runs import _sha256, _versions, refuse_file_parent
from .standard_errors import survival_se_max

POINTS = "points"
SWEEP_JSON = "sweep.json"
RESULT = "result.nc"
MANIFEST = "manifest.json"
BASE = "base"


@dataclasses.dataclass(frozen=True)
class SweepPoint:
    """One simulation of a sweep: ``index`` in (scenario, key 1, key 2, ...) order, C-contiguous."""

    index: int
    scenario: str
    values: dict[str, float]


def pin_inputs(priors: Priors, values: dict[str, float]) -> Priors:
    """``priors`` with each named input replaced by a point value.

    Raises:
        RunError: for an unknown input, an uncertain input in the correlation block (its copula would lose
            a column; give the correlated input a point value in a scenario file instead), or a value the
            input's prior file could not hold (outside its domain or the float32 range).
    """
    inputs = dict(priors.inputs)
    correlated = set(priors.correlation.inputs) if priors.correlation is not None else set()
    for name, value in values.items():
        if name not in inputs:
            raise RunError(f"grid key {name!r} is not an input of {priors.path}; "
                           "`mc-engine priors check FILE` lists them")
        if name in correlated and not inputs[name].is_point:
            raise RunError(f"grid key {name!r} is in the correlation block of {priors.path}; it cannot be pinned")
        problem = point_problem(priors, name, float(value))
        if problem:
            raise RunError(f"grid key {name!r}: {problem}")
        inputs[name] = dataclasses.replace(inputs[name], dist=Dist("point", (float(value),)))
    return dataclasses.replace(priors, inputs=inputs)


def sweep_points(grid: dict[str, Sequence[float]], scenarios: Sequence[str]) -> list[SweepPoint]:
    """Every combination of scenario and grid values, scenario slowest."""
    keys = list(grid)
    combos = itertools.product(scenarios, *(grid[k] for k in keys))
    return [SweepPoint(i, c[0], {k: float(v) for k, v in zip(keys, c[1:], strict=True)})
            for i, c in enumerate(combos)]


def sobol_first(inputs: np.ndarray, outcome: np.ndarray, bins: int = 10) -> np.ndarray:
    """First-order variance share Var(E[Y | bin(X_i)]) / Var(Y) per input and outcome column.

    ``inputs`` (paths, k), ``outcome`` (paths, c) -> (k, c). Each input is cut into ``bins`` equal-count bins
    (deciles) of the sample; constant outcomes give 0. Biased upward by about (bins - 1) / n under no effect
    (noise in the bin means), and downward by the within-bin variation of E[Y | X_i] (coarse bins).
    """
    n, k = inputs.shape
    y = outcome.astype(np.float64)
    var = y.var(0)
    out = np.zeros((k, y.shape[1]))
    if n < 2 * bins:
        return np.full((k, y.shape[1]), np.nan)
    for i in range(k):
        ranks = np.argsort(np.argsort(inputs[:, i], kind="stable"), kind="stable")
        label = ranks * bins // n
        sizes = np.bincount(label, minlength=bins).astype(np.float64)
        means = np.stack([np.bincount(label, weights=y[:, c], minlength=bins) for c in range(y.shape[1])], 1)
        means = means / np.maximum(sizes, 1)[:, None]
        between = (sizes[:, None] * (means - y.mean(0)) ** 2).sum(0) / n
        with np.errstate(invalid="ignore", divide="ignore"):
            out[i] = np.where(var > 0, between / var, 0.0)
    return out


def _write_nc(ds: xr.Dataset, path: Path) -> None:
    atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine="netcdf4", format="NETCDF4"))


def _simulate_point(priors: Priors, point: SweepPoint, n_paths: int, seed: int, horizon: int, *,
                    target_se: float | None, chunk_paths: int | None, block_size: int, prng: str, thin: int,
                    sensitivity_paths: int, quantiles: tuple[float, ...] | None, devices: Any,
                    progress: Callable[[int, int], None] | None) -> xr.Dataset:
    from ..engine.simulate import DEFAULT_QUANTILES, simulate_raw
    from .dataset import to_dataset
    from .pipeline import check_finite

    until = None if target_se is None else (lambda counts, n: survival_se_max(counts, n) < target_se)
    raw = simulate_raw(pin_inputs(priors, point.values), n_paths, seed, horizon, chunk_paths=chunk_paths,
                       thin=thin, sensitivity_paths=sensitivity_paths, prng=prng, block_size=block_size,
                       progress=progress, until=until, devices=devices)
    ds = to_dataset(raw, quantiles or DEFAULT_QUANTILES)
    check_finite(ds)
    ds["paths_used"] = ((), np.int64(raw.n_paths), {"units": "1", "long_name": "paths simulated for this point"})
    ds["survival_prob_se_max"] = ((), float(ds["survival_prob_se"].max()),
                                  {"units": "1", "long_name": "largest survival standard error of the point"})
    if raw.sens_inputs:
        names = list(raw.sens_inputs)
        x = np.stack([raw.sens_inputs[k] for k in names], axis=1).astype(np.float64)
        survived = raw.final["survived"][:, np.asarray(raw.model.layout.order)]
        ds["sobol_first"] = (("input", "company"), sobol_first(x, survived),
                             {"units": "1", "sample_paths": int(x.shape[0]),
                              "long_name": "first-order variance share of horizon survival (decile bins)"})
    # Per-run bookkeeping that differs between points (and between a run and its resume) is dropped.
    for key in ("history", "run_seconds", "compile_seconds", "git_commit", "device"):
        ds.attrs.pop(key, None)
    return ds


def _fingerprint(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def sweep(priors: Priors | str | Path, grid: dict[str, Sequence[float]] | None = None,
          scenarios: Sequence[str | Path] | None = None, n_paths: int = 100_000, seed: int = 0, horizon: int = 24,
          out: str | Path | None = None, target_se: float | None = None, *, chunk_paths: int | None = None,
          block_size: int | None = None, prng: str | None = None, thin: int = 1000,
          sensitivity_paths: int = 10_000, quantiles: tuple[float, ...] | None = None,
          devices: Sequence[Any] | None = None, process_index: int | None = None,
          process_count: int | None = None,
          progress: Callable[[dict[str, Any]], None] | None = None,
          after_point: Callable[[SweepPoint], None] | None = None) -> xr.Dataset:
    """Simulate every combination of ``grid`` values for the baseline and each scenario file.

    Args:
        priors: the baseline (scenario ``"base"``): validated priors or a prior file.
        grid: input name -> values; each value pins that input to a point (see module docstring).
        scenarios: further prior files, one ``scenario`` coordinate each (named by the file stem).
        n_paths: paths per point; with ``target_se`` the maximum.
        target_se: stop adding chunks once every survival probability (company, quarter) has standard error
            below this; ``paths_used`` records where each point stopped (whole chunks, so reproducible).
        out: sweep folder; finished points are kept there and skipped when the same sweep is rerun.
        devices: local devices to spread chunks over (default every local device of the default backend).
        process_index, process_count: this host's share when several processes run one sweep into a shared
            ``out`` (default ``jax.process_index()`` / ``jax.process_count()``): process i runs points
            ``i, i + count, ...``; the one that finds every point done writes ``result.nc``.
        progress: called with a dict (points_done, points_total, paths_done, paths_total, paths_per_s,
            eta_s) after each chunk.
        after_point: called after each point is stored (tests use it to simulate a crash).

    Returns:
        One Dataset: the dims of :func:`mc_engine.simulate` plus ``scenario`` and one dim per grid key
        (coordinates = the values), with ``paths_used`` per point; ``sobol_first`` (input, company) when the
        priors have uncertain inputs. Points missing (another process's, not done yet) raise RunError.
    """
    import jax

    from ..engine.keys import DEFAULT_BLOCK_SIZE, DEFAULT_PRNG

    grid = {k: [float(v) for v in vs] for k, vs in (grid or {}).items()}
    for k, vs in grid.items():
        if not vs or len(set(vs)) != len(vs):
            raise RunError(f"grid key {k!r} needs distinct values (got {vs})")
    base = priors if isinstance(priors, Priors) else load_priors(priors)
    sets: dict[str, Priors] = {BASE: base}
    for f in scenarios or ():
        name = Path(f).stem
        if name in sets:
            raise RunError(f"two scenarios named {name!r}")
        sets[name] = load_priors(f)
    block_size = block_size or DEFAULT_BLOCK_SIZE
    prng = prng or DEFAULT_PRNG
    if devices is None:
        devices = jax.local_devices()
    points = sweep_points(grid, list(sets))
    index = jax.process_index() if process_index is None else process_index
    count = jax.process_count() if process_count is None else process_count
    mine = [p for p in points if p.index % count == index]

    folder = Path(out) if out is not None else None
    settings = {"digests": {k: v.digest for k, v in sets.items()}, "grid": grid, "n_paths": n_paths, "seed": seed,
                "horizon": horizon, "target_se": target_se, "chunk_paths": chunk_paths, "block_size": block_size,
                "prng": prng, "thin": thin, "sensitivity_paths": sensitivity_paths,
                "quantiles": list(quantiles) if quantiles else None}
    if folder is not None:
        check_sweep_folder(folder)
        (folder / POINTS).mkdir(parents=True, exist_ok=True)
        record = folder / SWEEP_JSON
        fingerprint = _fingerprint(settings)
        if record.exists():
            old = _read_record(record)
            if old.get("fingerprint") != fingerprint:
                raise RunError(f"{folder} holds a different sweep (other priors or settings); choose another --out")
        else:
            write_json(record, {"fingerprint": fingerprint, "settings": settings,
                                "points": [dataclasses.asdict(p) for p in points]})

    def done(p: SweepPoint) -> bool:
        """A point is done when its record reads back and names it, and its result file is there."""
        if folder is None or not (folder / POINTS / f"{p.index}.json").exists():
            return False
        record = _read_record(folder / POINTS / f"{p.index}.json", missing_ok=True)
        return record.get("index") == p.index and (folder / POINTS / f"{p.index}.nc").is_file()

    results: dict[int, xr.Dataset] = {}
    todo = [p for p in mine if not done(p)]
    state = {"points": len(mine) - len(todo), "paths": 0, "total": len(todo) * n_paths, "start": time.perf_counter()}
    for point in todo:
        def report(paths: int, _total: int, point: SweepPoint = point) -> None:
            if progress is None:
                return
            paths_done = state["paths"] + paths
            elapsed = time.perf_counter() - state["start"]
            rate = paths_done / elapsed if elapsed > 0 else 0.0
            progress({"points_done": state["points"], "points_total": len(mine), "paths_done": paths_done,
                      "paths_total": state["total"], "paths_per_s": rate,
                      "eta_s": (state["total"] - paths_done) / rate if rate > 0 else math.inf, "point": point})

        t0 = time.perf_counter()
        ds = _simulate_point(sets[point.scenario], point, n_paths, seed, horizon, target_se=target_se,
                             chunk_paths=chunk_paths, block_size=block_size, prng=prng, thin=thin,
                             sensitivity_paths=sensitivity_paths, quantiles=quantiles, devices=devices,
                             progress=report)
        used = int(ds["paths_used"])
        state["points"] += 1
        state["paths"] += used
        state["total"] -= n_paths - used  # an early stop shortens the work left
        report(0, 0)
        if folder is not None:
            _write_nc(ds, folder / POINTS / f"{point.index}.nc")
            write_json(folder / POINTS / f"{point.index}.json", {**dataclasses.asdict(point), "paths_used": used,
                                                                 "seconds": round(time.perf_counter() - t0, 3)})
        else:
            results[point.index] = ds
        if after_point is not None:
            after_point(point)

    missing = [p.index for p in points if p.index not in results and not done(p)]
    if missing:
        raise RunError(f"sweep points {missing[:10]} are not done yet (other processes' share?); "
                       "rerun the same command once they finish")
    if folder is not None:
        results = {p.index: _open_point(folder / POINTS / f"{p.index}.nc") for p in points}
    merged = _merge(points, results, grid, list(sets))
    if folder is not None:
        _write_result(merged, folder, sets, settings)
    return merged


def _open_point(path: Path) -> xr.Dataset:
    try:
        with xr.open_dataset(path, engine="netcdf4") as ds:
            return ds.load()
    except (OSError, ValueError, RuntimeError) as exc:
        raise RunError(f"{path}: unreadable sweep point ({exc}); delete it and its .json to run it again") from None


def _read_record(path: Path, missing_ok: bool = False) -> dict[str, Any]:
    """A sweep record (``sweep.json``, ``points/N.json``) as a dict; a corrupt point record counts as not done
    (``missing_ok``), a corrupt ``sweep.json`` is refused."""
    try:
        data = json.loads(path.read_bytes()[: 2**24])
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return data
    except (OSError, ValueError, RecursionError) as exc:
        if missing_ok:
            return {}
        raise RunError(f"{path}: unreadable sweep record ({exc}); this is not a sweep folder of mc-engine, or it "
                       "was damaged: choose another --out") from None


def check_sweep_folder(out: str | Path) -> None:
    """Refuse a sweep ``--out`` that would write into something else: a file, a run folder, or a folder
    of other files (a sweep folder holds ``sweep.json``; a new one is absent or empty)."""
    out = Path(out)
    refuse_file_parent(out)
    if not os.path.lexists(out):
        return
    if out.is_symlink() or not out.is_dir():
        raise RunError(f"--out {out} is a file; a sweep writes a folder: choose another --out")
    if (out / SWEEP_JSON).exists():
        _read_record(out / SWEEP_JSON)
        return
    if any(out.iterdir()):
        kind = "a run folder" if (out / MANIFEST).exists() else "a folder of other files"
        raise RunError(f"--out {out} is {kind}, not a sweep folder (no {SWEEP_JSON}); a sweep writes only into a "
                       "new or empty folder or resumes its own: choose another --out")


def _merge(points: list[SweepPoint], results: dict[int, xr.Dataset], grid: dict[str, list[float]],
           scenarios: list[str]) -> xr.Dataset:
    """Nest the points as (scenario, key 1, key 2, ...) and concatenate along those new dims."""
    keys = list(grid)
    shape = (len(scenarios), *(len(grid[k]) for k in keys))
    nested = np.empty(shape, dtype=object)
    for p in points:
        ds = results[p.index].expand_dims({k: [p.values[k]] for k in keys})
        nested[np.unravel_index(p.index, shape)] = ds.expand_dims(scenario=[p.scenario])
    merged = xr.combine_nested(nested.tolist(), concat_dim=["scenario", *keys], join="outer",
                               combine_attrs="drop_conflicts", data_vars="all", coords="different",
                               compat="equals")
    merged["scenario"].attrs["long_name"] = "prior file of the point (base = the baseline)"
    for k in keys:
        merged[k].attrs["long_name"] = f"pinned value of input {k}"
    merged.attrs["sweep_keys"] = ",".join(keys)
    merged.attrs["title"] = "mc_engine sweep"
    return merged


def _write_result(ds: xr.Dataset, folder: Path, sets: dict[str, Priors], settings: dict[str, Any]) -> None:
    """``result.nc`` then ``manifest.json`` (status complete, checksums), each atomically."""
    import datetime as dt
    import sys

    _write_nc(ds, folder / RESULT)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "status": "complete",
        "kind": "sweep",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "priors": {k: {"path": str(p.path), "digest": p.digest} for k, p in sets.items()},
        "sweep": settings,
        "versions": _versions(),
        "files": {RESULT: _sha256(folder / RESULT)},
    }
    write_json(folder / MANIFEST, manifest)
