"""Run folders: written atomically, verified when opened.

A run folder holds ``result.nc`` (netCDF4, compressed, float32 data),
``manifest.json`` (everything needed to rerun: priors as used, seed, paths,
versions, timings, device; a status and the SHA-256 of every file) and the
resolved priors (``priors.json`` exactly, ``priors.toml`` loadable). It is
written into a hidden temporary folder beside the target and renamed into place
at the end, so an interrupted run never leaves a folder that looks finished.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import platform
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import RunError
from .dataset import SCHEMA_VERSION

RESULT = "result.nc"
MANIFEST = "manifest.json"
PRIORS_JSON = "priors.json"
PRIORS_TOML = "priors.toml"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    import jax
    import jaxlib
    import netCDF4

    from .. import __version__

    return {"mc_engine": __version__, "python": platform.python_version(), "jax": jax.__version__,
            "jaxlib": jaxlib.__version__, "numpy": np.__version__, "xarray": xr.__version__,
            "netCDF4": netCDF4.__version__}


TEXT_KEYS = frozenset({"name", "description", "source", "note", "kind", "backer", "dist", "include", "inputs"})
"""Keys whose values are text: an ``"inf"`` there is a word, not the number the resolved JSON spells so."""


def _dated(node: Any, key: str | None = None) -> Any:
    """The resolved priors with ``as_of`` strings turned back into dates and ``"inf"`` into numbers
    (so the TOML loads again to the same digest)."""
    if isinstance(node, dict) or hasattr(node, "items"):
        return {k: (dt.date.fromisoformat(v) if k == "as_of" and isinstance(v, str) else _dated(v, k))
                for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_dated(v, key) for v in node]
    if node in ("inf", "-inf") and key not in TEXT_KEYS:
        return float(node)
    return node


def _plain(node: Any) -> Any:
    if hasattr(node, "items"):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_plain(v) for v in node]
    return node


@contextlib.contextmanager
def _writer_lock(target: Path) -> Iterator[None]:
    """Refuse a second writer aimed at the same folder: an exclusive lock file beside it.

    The lock is ``flock`` on ``.NAME.lock`` (the kernel drops it when its process dies, even by SIGKILL)
    and the file names the writer's pid. A lock file naming a live pid refuses too; one left by a killed
    run (a dead pid) is taken over, and that run's temporary folders are removed.
    """
    lock = target.parent / f".{target.name}.lock"
    while True:
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RunError(f"{target}: another run (pid {owner}) is writing this folder; wait for it or choose "
                           "another --out") from None
        try:  # the previous holder may have removed the file between our open and flock: start again
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        owner = os.read(fd, 32).decode(errors="replace").strip()
        if owner.isdigit() and _pid_alive(int(owner)):
            raise RunError(f"{target}: another run (pid {owner}) is writing this folder; wait for it or choose "
                           f"another --out (or remove {lock} if no run is)")
        if owner.isdigit():  # a killed run: drop its half-written folder, restore a folder it was replacing
            shutil.rmtree(target.parent / f".{target.name}.tmp-{owner}", ignore_errors=True)
            old = target.parent / f".{target.name}.old-{owner}"
            if old.exists() and not target.exists():
                old.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
    except BaseException:
        os.close(fd)
        raise
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                lock.unlink()
        os.close(fd)


def _json_scalar(value: Any) -> Any:
    """numpy scalars (attributes of a Dataset read back from netCDF) as numbers, anything else as text."""
    return value.item() if isinstance(value, np.generic) else str(value)


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk, so a rename never publishes data still in flight."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _rerun_settings(ds: xr.Dataset, priors: Any) -> dict[str, Any]:
    """What ``mc-engine rerun`` needs beyond the attributes: quantile levels, thin and sensitivity paths."""
    if "sensitivity" in ds:
        sensitivity: int | None = int(ds["sensitivity"].attrs["sample_paths"])
    else:  # none asked for (0), or no uncertain input (None: any sample size gives the same numbers)
        sensitivity = 0 if any(not inp.is_point for inp in priors.inputs.values()) else None
    return {"quantiles": [float(q) for q in ds["quantile"].values] if "quantile" in ds.coords else None,
            "thin": int(ds.sizes.get("path", 0)), "sensitivity_paths": sensitivity}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_run(ds: xr.Dataset, out: str | Path, priors: Any, *, overwrite: bool = False,
              extra: dict[str, Any] | None = None) -> Path:
    """Write ``ds`` and its manifest to the run folder ``out`` atomically; returns the folder.

    Raises:
        RunError: if ``out`` exists and ``overwrite`` is False, or another writer holds it.
    """
    import tomli_w

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    exists = RunError(f"{out} already exists; pass --overwrite (overwrite=True) or choose another --out")
    if out.exists() and not overwrite:
        raise exists
    with _writer_lock(out):
        if out.exists() and not overwrite:  # again under the lock: a concurrent writer may have finished first
            raise exists
        tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            encoding = {}
            for name, var in ds.data_vars.items():
                enc: dict[str, Any] = {"zlib": True, "complevel": 4}
                if var.dtype == np.float64 and name != "quarter_bounds":
                    enc["dtype"] = "float32"
                if np.issubdtype(var.dtype, np.number) or var.dtype == bool:
                    encoding[name] = enc
            time_units = {"units": "days since 1970-01-01", "calendar": "proleptic_gregorian"}
            encoding["quarter_bounds"] = {**encoding.get("quarter_bounds", {}), **time_units}
            encoding["quarter"] = dict(time_units)
            ds.to_netcdf(tmp / RESULT, engine="netcdf4", format="NETCDF4", encoding=encoding)
            resolved = _plain(priors.resolved)
            (tmp / PRIORS_JSON).write_text(json.dumps(resolved, indent=1))
            (tmp / PRIORS_TOML).write_bytes(tomli_w.dumps(_dated(resolved)).encode())
            manifest = {
                "schema_version": SCHEMA_VERSION,
                "status": "complete",
                "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "command": " ".join(sys.argv),
                "priors": {"name": priors.name, "path": str(priors.path), "digest": priors.digest,
                           "as_of": priors.as_of.isoformat(), "files": [str(f) for f in priors.files]},
                "run": {**{k: ds.attrs.get(k) for k in ("seed", "n_paths", "horizon_quarters", "prng", "block_size",
                                                        "chunk_paths", "device", "git_commit")},
                        **_rerun_settings(ds, priors)},
                "timings": {k: ds.attrs.get(k) for k in ("compile_seconds", "run_seconds")},
                "versions": _versions(),
                "files": {name: _sha256(tmp / name) for name in (RESULT, PRIORS_JSON, PRIORS_TOML)},
                **(extra or {}),
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, default=_json_scalar))
            for name in (RESULT, PRIORS_JSON, PRIORS_TOML, MANIFEST):  # on disk before the rename publishes them
                _fsync(tmp / name)
            if out.exists():
                trash = out.parent / f".{out.name}.old-{os.getpid()}"
                out.rename(trash)
                shutil.rmtree(trash, ignore_errors=True)
            tmp.rename(out)
            _fsync(out.parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return out


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of a finished run folder (checked for status and schema, not checksums)."""
    path = Path(path)
    mfile = path / MANIFEST
    if not path.is_dir():
        raise RunError(f"{path}: no such run folder")
    if not mfile.exists():
        raise RunError(f"{path}: no {MANIFEST}; this is not a finished run (interrupted, or not a run folder)")
    try:
        manifest = json.loads(mfile.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunError(f"{mfile}: unreadable manifest ({exc})") from None
    if manifest.get("status") != "complete":
        raise RunError(f"{path}: run status is {manifest.get('status')!r}, not 'complete'")
    version = manifest.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise RunError(f"{path}: result schema version {version} is newer than this mc_engine reads "
                       f"({SCHEMA_VERSION}); upgrade mc_engine")
    return manifest


def verify_files(path: str | Path, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check the SHA-256 of every file the manifest lists; returns the manifest.

    Raises:
        RunError: a file is missing or its checksum does not match (truncated or edited).
    """
    path = Path(path)
    manifest = read_manifest(path) if manifest is None else manifest
    for name, expected in manifest.get("files", {}).items():
        file = path / name
        if not file.exists():
            raise RunError(f"{path}: {name} is missing")
        if expected != _sha256(file):
            raise RunError(f"{file}: checksum does not match the manifest: the file was truncated or edited; "
                           "rerun with `mc-engine rerun` or restore it")
    return manifest


def open_run(path: str | Path, *, verify: bool = True) -> xr.Dataset:
    """Open a finished run folder as an in-memory Dataset.

    Args:
        path: the run folder (``runs/NAME``).
        verify: check the SHA-256 of every file (``result.nc`` and the priors) against the manifest (a
            truncated or edited file is refused).

    Raises:
        RunError: the folder is not a finished run, its schema is newer, or a checksum does not match.
    """
    path = Path(path)
    manifest = read_manifest(path)
    result = path / RESULT
    if not result.exists():
        raise RunError(f"{path}: {RESULT} is missing")
    if verify:
        if RESULT not in manifest.get("files", {}):
            raise RunError(f"{path}: the manifest has no checksum of {RESULT}")
        verify_files(path, manifest)
    return xr.load_dataset(result, engine="netcdf4")
