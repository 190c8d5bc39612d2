"""Rerun a finished run folder from its manifest and compare the new result with the stored one.

A run folder records everything its numbers depend on: the resolved priors (``priors.toml``, whose
digest the manifest keeps), the seed, path count, horizon, PRNG, key-block size, chunk size, quantile
levels, thin and sensitivity sample sizes. :func:`rerun` simulates them again, writes the result
through the same netCDF encoding, and compares variable by variable:

* on the backend the run was made on (``run.device`` in the manifest) the result must be bit-for-bit
  identical (the engine is bitwise reproducible for any chunk size on one backend);
* elsewhere (another device, or another JAX version) numbers differ in the last bits and in the odd
  path near a threshold, so each variable's largest difference is measured in Monte Carlo standard
  errors (:func:`standard_errors`) and must stay within ``tolerance`` of them.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import RunError
from .runs import PRIORS_TOML, open_run, read_manifest, verify_files, write_run
from .standard_errors import standard_errors


@dataclass(frozen=True)
class VariableDiff:
    """How one output variable of a rerun differs from the stored one.

    Attributes:
        name: the variable.
        max_abs: largest absolute difference, in the variable's units (inf when only one side is NaN).
        max_se: largest difference in Monte Carlo standard errors, or None for a variable without one
            (raw thin paths, tail risk measures); those are reported, not judged.
        where: coordinates of the largest difference.
        note: why the variable could not be compared (missing, other shape), if so.
    """

    name: str
    max_abs: float
    max_se: float | None
    where: dict[str, Any]
    note: str = ""


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing a rerun with a stored run.

    Attributes:
        identical: every variable and coordinate is bit-for-bit equal.
        same_backend: the rerun ran on the backend recorded in the manifest.
        device: (stored, rerun) backends.
        diffs: the variables that differ, largest in standard errors first.
        tolerance: the largest difference, in standard errors, that counts as Monte Carlo error.
    """

    identical: bool
    same_backend: bool
    device: tuple[str, str]
    diffs: tuple[VariableDiff, ...]
    tolerance: float

    @property
    def within_error(self) -> bool:
        """No judged variable differs by more than ``tolerance`` standard errors, and none is missing."""
        return all(not d.note and (d.max_se is None or d.max_se <= self.tolerance) for d in self.diffs)

    @property
    def ok(self) -> bool:
        return self.identical or self.within_error

    def report(self) -> list[str]:
        """Lines for a terminal: the verdict, then the differing variables."""
        stored, now = self.device
        if self.identical:
            return [f"identical: the rerun is bit-for-bit the stored result (backend {now})"]
        lines = [f"{'variable':<32} {'max |diff|':>12} {'max diff/SE':>12}  where"]
        for d in self.diffs:
            se = "-" if d.max_se is None else f"{d.max_se:.3g}"
            where = ", ".join(f"{k}={v}" for k, v in d.where.items())
            lines.append(f"{d.name:<32} {d.max_abs:>12.4g} {se:>12}  {d.note or where}")
        judged = [d for d in self.diffs if d.max_se is not None]
        worst = max(judged, key=lambda d: d.max_se or 0.0, default=None)
        largest = f"largest {worst.max_se:.3g} SE ({worst.name})" if worst else "no judged variable differs"
        backend = (f"backend {now} as stored" if self.same_backend
                   else f"stored on {stored}, rerun on {now}")
        if self.ok:
            note = "; not bit-for-bit although the backend is the same: check the versions in the manifest" \
                if self.same_backend else ""
            lines.append(f"within Monte Carlo error: {largest}, tolerance {self.tolerance:g} SE ({backend}){note}")
        else:
            lines.append(f"differs: {largest} exceeds the tolerance of {self.tolerance:g} SE, or a variable is "
                         f"missing ({backend})")
        return lines


def _device(ds: xr.Dataset) -> str:
    return str(ds.attrs.get("device", "?"))


def _same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal arrays, NaN equal to NaN where numeric (a coordinate such as a CDS spread is NaN where unknown)."""
    numeric = np.issubdtype(a.dtype, np.number) and np.issubdtype(b.dtype, np.number)
    return bool(np.array_equal(a, b, equal_nan=numeric))


def compare(stored: xr.Dataset, rerun: xr.Dataset, tolerance: float = 4.0) -> Comparison:
    """Compare two decoded run Datasets variable by variable (see the module docstring)."""
    diffs: list[VariableDiff] = []
    identical = True
    for name in stored.coords:
        if name not in rerun.coords or not _same_values(stored[name].values, rerun[name].values):
            identical = False
            diffs.append(VariableDiff(str(name), math.inf, None, {}, "coordinate differs or is missing"))
    se = standard_errors(stored)
    for name in sorted(set(stored.data_vars) | set(rerun.data_vars)):
        if name not in stored or name not in rerun:
            identical = False
            diffs.append(VariableDiff(name, math.inf, None, {}, "missing from the " +
                                      ("rerun" if name in stored else "stored run")))
            continue
        a, b = stored[name], rerun[name]
        if a.dims != b.dims or a.shape != b.shape:
            identical = False
            diffs.append(VariableDiff(name, math.inf, None, {}, f"shape {a.shape} vs {b.shape}"))
            continue
        numeric = np.issubdtype(a.dtype, np.number) and np.issubdtype(b.dtype, np.number)
        if not numeric:
            if not np.array_equal(a.values, b.values):
                identical = False
                diffs.append(VariableDiff(name, math.inf, None, {}, "values differ"))
            continue
        x, y = a.values.astype(np.float64), b.values.astype(np.float64)
        if np.array_equal(x, y, equal_nan=True) and a.dtype == b.dtype:
            continue
        identical = False
        both_nan = np.isnan(x) & np.isnan(y)
        delta = np.where(both_nan, 0.0, np.abs(x - y))
        delta = np.where(np.isnan(delta), math.inf, delta)  # NaN on one side only
        if name in se:
            scale = np.asarray(se[name].transpose(*a.dims).values, np.float64)
            # float32 storage rounds at ~6e-8 relative: that much is never a difference
            tiny = 1e-6 * np.maximum(np.abs(x), np.abs(y))
            ratio = np.where(delta <= tiny, 0.0, delta / np.maximum(scale, np.where(tiny > 0, tiny, 1e-300)))
            ratio = np.where(np.isnan(ratio), math.inf, ratio)
            worst = np.unravel_index(int(np.argmax(ratio)), ratio.shape) if ratio.size else ()
            max_se: float | None = float(ratio[worst]) if ratio.size else 0.0
        else:
            worst = np.unravel_index(int(np.argmax(delta)), delta.shape) if delta.size else ()
            max_se = None
        where = {d: _plain(a[d].values[i]) if d in a.coords else int(i) for d, i in zip(a.dims, worst, strict=True)}
        diffs.append(VariableDiff(name, float(delta[worst]) if delta.size else 0.0, max_se, where))
    diffs.sort(key=lambda d: (d.note == "", -(d.max_se if d.max_se is not None else -1.0), d.name))
    devices = (_device(stored), _device(rerun))
    return Comparison(identical, devices[0] == devices[1], devices, tuple(diffs), tolerance)


def _plain(value: Any) -> Any:
    if isinstance(value, np.datetime64):
        return str(value)[:10]
    return value.item() if hasattr(value, "item") else value


def rerun_settings(folder: str | Path) -> dict[str, Any]:
    """The :func:`mc_engine.simulate` arguments a run folder was made with (from its manifest).

    Manifests written before quantiles, thin and sensitivity paths were recorded fall back to what the
    stored Dataset shows of them.
    """
    manifest = read_manifest(folder)
    run = manifest.get("run", {})
    settings = {"n_paths": run.get("n_paths"), "seed": run.get("seed"), "horizon": run.get("horizon_quarters"),
                "prng": run.get("prng"), "block_size": run.get("block_size"), "chunk_paths": run.get("chunk_paths")}
    missing = [k for k, v in settings.items() if v is None]
    if missing:
        raise RunError(f"{folder}: the manifest does not record {', '.join(missing)}; cannot rerun it")
    if "quantiles" in run:
        extra = {k: run.get(k) for k in ("quantiles", "thin", "sensitivity_paths")}
    else:
        ds = open_run(folder)
        extra = {"quantiles": [float(q) for q in ds["quantile"].values], "thin": int(ds.sizes.get("path", 0)),
                 "sensitivity_paths": int(ds["sensitivity"].attrs["sample_paths"]) if "sensitivity" in ds
                 else None}
    if extra["sensitivity_paths"] is None:  # no uncertain input: no sensitivity, whatever the sample size
        del extra["sensitivity_paths"]
    return {**settings, **extra, "quantiles": tuple(extra["quantiles"])}


def rerun(folder: str | Path, *, out: str | Path | None = None, tolerance: float = 4.0,
          progress: Callable[[int, int], None] | None = None) -> tuple[Comparison, Path | None]:
    """Simulate a run folder again from its manifest and compare with what it stores.

    Args:
        folder: a finished run folder (checksums are verified first).
        out: also keep the rerun as a run folder here (otherwise it is written to a temporary folder,
            through the same encoding, and removed).
        tolerance: the largest difference, in standard errors, that counts as Monte Carlo error.
        progress: forwarded to :func:`mc_engine.simulate`.

    Returns:
        The comparison, and ``out`` (or None).

    Raises:
        RunError: the folder is not a complete, intact run, or its priors no longer give its digest.
        PriorError: its ``priors.toml`` does not load.
    """
    from ..inputs.loader import load_priors
    from .pipeline import simulate

    folder = Path(folder)
    manifest = verify_files(folder)
    settings = rerun_settings(folder)
    priors = load_priors(folder / PRIORS_TOML, require_sources=False)
    recorded = manifest.get("priors", {}).get("digest")
    if priors.digest != recorded:
        raise RunError(f"{folder / PRIORS_TOML}: loads to digest {priors.digest[:12]}, not the recorded "
                       f"{str(recorded)[:12]}: the priors cannot be reproduced")
    stored = open_run(folder)
    n_paths, seed, horizon = settings.pop("n_paths"), settings.pop("seed"), settings.pop("horizon")
    ds = simulate(priors, n_paths, seed, horizon, progress=progress, **settings)
    if out is not None:
        written = write_run(ds, out, priors, extra={"rerun_of": str(folder)})
        return compare(stored, open_run(written), tolerance), written
    with tempfile.TemporaryDirectory(prefix="mc-engine-rerun-") as scratch:
        written = write_run(ds, Path(scratch) / "rerun", priors)
        return compare(stored, open_run(written), tolerance), None

