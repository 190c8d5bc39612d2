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


def _dated(node: Any) -> Any:
    """The resolved priors with ``as_of`` strings turned back into dates (so the TOML loads again)."""
    if isinstance(node, dict) or hasattr(node, "items"):
        return {k: (dt.date.fromisoformat(v) if k == "as_of" and isinstance(v, str) else _dated(v))
                for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_dated(v) for v in node]
    if node in ("inf", "-inf"):
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
    """Refuse a second writer aimed at the same folder (an exclusive lock file beside it)."""
    lock = target.parent / f".{target.name}.lock"
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        owner = lock.read_text(errors="replace").strip() if lock.exists() else "?"
        alive = owner.isdigit() and _pid_alive(int(owner))
        if alive:
            raise RunError(f"{target}: another run (pid {owner}) is writing this folder; wait for it or choose "
                           "another --out") from None
        lock.unlink(missing_ok=True)  # stale lock of a killed run
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        lock.unlink(missing_ok=True)


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
    if out.exists() and not overwrite:
        raise RunError(f"{out} already exists; pass --overwrite (overwrite=True) or choose another --out")
    with _writer_lock(out):
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
                "run": {k: ds.attrs.get(k) for k in ("seed", "n_paths", "horizon_quarters", "prng", "block_size",
                                                     "chunk_paths", "device", "git_commit")},
                "timings": {k: ds.attrs.get(k) for k in ("compile_seconds", "run_seconds")},
                "versions": _versions(),
                "files": {name: _sha256(tmp / name) for name in (RESULT, PRIORS_JSON, PRIORS_TOML)},
                **(extra or {}),
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str))
            if out.exists():
                trash = out.parent / f".{out.name}.old-{os.getpid()}"
                out.rename(trash)
                shutil.rmtree(trash, ignore_errors=True)
            tmp.rename(out)
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


def open_run(path: str | Path, *, verify: bool = True) -> xr.Dataset:
    """Open a finished run folder as an in-memory Dataset.

    Args:
        path: the run folder (``runs/NAME``).
        verify: check the SHA-256 of ``result.nc`` against the manifest (a truncated or edited file is refused).

    Raises:
        RunError: the folder is not a finished run, its schema is newer, or a checksum does not match.
    """
    path = Path(path)
    manifest = read_manifest(path)
    result = path / RESULT
    if not result.exists():
        raise RunError(f"{path}: {RESULT} is missing")
    if verify:
        expected = manifest.get("files", {}).get(RESULT)
        if expected != _sha256(result):
            raise RunError(f"{result}: checksum does not match the manifest: the file was truncated or edited; "
                           "rerun with `mc-engine rerun` or restore it")
    return xr.load_dataset(result, engine="netcdf4")
