"""``mc_engine.simulate``: priors in, an xarray Dataset of distributions out (the engine, then the Dataset)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import RunError
from ..inputs.loader import Priors, load_priors


def simulate(priors: Priors | str | Path, n_paths: int, seed: int = 0, horizon: int = 24, *,
             chunk_paths: int | None = None, quantiles: tuple[float, ...] | None = None, thin: int = 1000,
             sensitivity_paths: int = 10_000, prng: str | None = None, block_size: int | None = None,
             progress: Callable[[int, int], None] | None = None) -> xr.Dataset:
    """Simulate ``n_paths`` quarterly futures of every company in ``priors``.

    Args:
        priors: validated priors, or the path of a prior file.
        n_paths: number of futures.
        seed: root seed; same priors + seed give the same numbers for any ``chunk_paths``.
        horizon: quarters after ``as_of``.
        chunk_paths: paths per compiled call (a multiple of ``block_size``); memory is set by this, not by
            ``n_paths``. Defaults to 8,192 (one key block) on CPU and 1,048,576 on an accelerator.
        quantiles: probability levels reported (default 1, 5, 10, 25, 50, 75, 90, 95, 99 %).
        thin: raw paths kept for spaghetti plots (the first ``thin`` paths, at most one key block).
        sensitivity_paths: paths whose inputs and outcomes feed the rank-correlation sensitivity.
        prng: ``philox4x32`` (default), ``threefry4x32`` or ``threefry2x32``.
        block_size: paths per key block (default 8,192); part of a run's identity.
        progress: called with (paths done, paths total) after each chunk.

    Returns:
        A Dataset with dims ``company``, ``quarter``, ``quantile``, ``input``, ``regime``, ``path``
        (see docs/engine.md for every variable).

    Raises:
        RunError: if any output that should be finite is NaN or infinite.
    """
    from ..engine.keys import DEFAULT_BLOCK_SIZE, DEFAULT_PRNG
    from ..engine.simulate import DEFAULT_QUANTILES, simulate_raw
    from .dataset import to_dataset

    if not isinstance(priors, Priors):
        priors = load_priors(priors)
    raw = simulate_raw(priors, n_paths, seed, horizon, chunk_paths=chunk_paths, thin=thin,
                       sensitivity_paths=sensitivity_paths, prng=prng or DEFAULT_PRNG,
                       block_size=block_size or DEFAULT_BLOCK_SIZE, progress=progress)
    ds = to_dataset(raw, quantiles or DEFAULT_QUANTILES)
    ds.attrs["run_seconds"] = round(raw.timings["run_s"], 3)
    ds.attrs["compile_seconds"] = round(raw.timings["compile_s"], 3)
    check_finite(ds)
    return ds


def check_finite(ds: xr.Dataset) -> None:
    """Fail loudly on NaN or inf in any output, naming variable, company and quarter.

    Quantiles of a company in a quarter where no path has it alive are undefined and stay NaN
    (``n_alive == 0`` says so), and so are a sampled path's figures after the company left (``path_status``);
    everything else must be finite.
    """
    from .conventions import gone

    empty = ds["n_alive"] == 0 if "n_alive" in ds else None
    after_exit = gone(ds) if "path_status" in ds else None
    for name, var in ds.data_vars.items():
        if not np.issubdtype(var.dtype, np.number):
            continue
        bad = ~np.isfinite(var)
        if name.startswith("path_") and after_exit is not None and "company" in var.dims:
            bad = bad & ~after_exit  # a sampled company's figures stop (NaN) after it left
        elif empty is not None and {"company", "quarter"} <= set(var.dims):
            bad = bad & ~empty
        if bool(bad.any()):
            first = np.argwhere(bad.values)[0]
            where = ", ".join(f"{d}={_label(var[d].values[i])}" for d, i in zip(var.dims, first, strict=True)
                              if d in var.coords)
            value = var.values[tuple(first)]
            raise RunError(f"output '{name}' is not finite ({value}) at {where}; nothing was written. The model overflowed "
                           "float32 there: check that company's values with `mc-engine priors show`")


def _label(value: object) -> str:
    """A coordinate value as a user writes it: ``openai``, ``2026-09-30``, ``0.01``."""
    if isinstance(value, np.datetime64):
        return str(value.astype("datetime64[D]"))
    return str(value.item() if isinstance(value, np.generic) else value)
