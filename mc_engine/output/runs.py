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
import ctypes
import datetime as dt
import errno
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

from .._options import (
    PRNG_CHOICES,
    check_block_size,
    check_chunk_paths,
    check_horizon,
    check_paths,
    check_prng,
    check_seed,
)
from ..errors import RunError
from .atomic import fsync
from .dataset import SCHEMA_VERSION

RESULT = "result.nc"
MANIFEST = "manifest.json"
PRIORS_JSON = "priors.json"
PRIORS_TOML = "priors.toml"
RUN_FILES = (RESULT, PRIORS_JSON, PRIORS_TOML)
"""The files a manifest may list: names inside the run folder, never paths elsewhere."""
MAX_MANIFEST_BYTES = 2**20


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

    from .._version import __version__

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
        if owner.isdigit():  # a killed writer: see _publish for why this restores a whole run
            _recover(target, owner)
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


def _recover(target: Path, owner: str) -> None:
    """Undo what a killed writer (pid ``owner``) left: its temporary folder holds a half-written new run or,
    after an exchange, the old run being removed; either way the target is whole and the folder goes. Its
    ``.old`` folder (two-rename publishing) is the complete old run while the target is absent: restore it."""
    shutil.rmtree(target.parent / f".{target.name}.tmp-{owner}", ignore_errors=True)
    old = target.parent / f".{target.name}.old-{owner}"
    if old.exists() and not os.path.lexists(target):
        old.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _fault_point(step: str) -> None:
    """Called at each step of publishing a run (tests kill the process here to prove recovery)."""


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where not supported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _publish(tmp: Path, out: Path) -> None:
    """Put the finished folder ``tmp`` at ``out``, replacing a run there, so that at every instant ``out`` is
    the whole old run or the whole new one (or, in the fallback, briefly absent with the old run kept aside).

    Where the kernel can, ``out`` and ``tmp`` are exchanged in one step and the old run, now at ``tmp``, is
    removed after. Otherwise the old run is renamed aside, the new one into place, and only then is the old
    one removed; a kill between the two renames leaves the old run whole at ``.NAME.old-PID``, which the next
    writer puts back (:func:`_recover`).
    """
    if not os.path.lexists(out):
        tmp.rename(out)
        _fault_point("published")
        return
    if _exchange(tmp, out):
        _fault_point("published")
        fsync(out.parent)
        _remove_old(tmp)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    out.rename(old)
    _fault_point("old-aside")
    tmp.rename(out)
    _fault_point("published")
    fsync(out.parent)
    _remove_old(old)


def _remove_old(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def is_run_folder(path: str | Path) -> bool:
    """Whether ``path`` is a run folder ``mc-engine run`` wrote (a folder, not a link, with a run manifest)."""
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        return False
    try:
        manifest = json.loads((path / MANIFEST).read_bytes()[:MAX_MANIFEST_BYTES])
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "schema_version" in manifest and manifest.get("kind", "run") == "run"


def refuse_file_parent(out: Path) -> None:
    """Refuse an ``--out`` below an existing file (``a.txt/run``): it names a folder that cannot exist."""
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise RunError(f"--out {out}: {parent} is a file, not a folder")


def check_target(out: str | Path, overwrite: bool) -> None:
    """Refuse an output folder before any work: one that exists (without ``overwrite``), or anything but a run
    folder (with it): ``--overwrite`` never deletes, hides or replaces a user's files.

    Raises:
        RunError: naming the folder and what to do.
    """
    out = Path(out)
    refuse_file_parent(out)
    if not os.path.lexists(out):
        return
    if not overwrite:
        raise RunError(f"{out} already exists; pass --overwrite (overwrite=True) or choose another --out")
    if not is_run_folder(out):
        what = "a file" if not out.is_dir() or out.is_symlink() else "a folder that is not a run folder (no run manifest)"
        raise RunError(f"--out {out} is {what}; --overwrite replaces only a run folder written by mc-engine run: "
                       "choose another --out")


def check_report_target(run: str | Path, out: str | Path | None) -> None:
    """Refuse report files that would land inside a run or sweep folder (they would change what it holds)."""
    stem = Path("reports") / Path(run).resolve().name if out is None else Path(out)
    folder = stem.parent.resolve()
    for parent in (folder, *folder.parents):
        if (parent / MANIFEST).is_file():
            raise RunError(f"--out {out if out is not None else stem}: inside the run folder {parent}; a report "
                           "goes beside runs, not into one (e.g. --out reports/NAME)")
    for suffix in (".html", ".pdf", ".json"):
        target = (stem.with_suffix("") if stem.suffix in (".html", ".pdf", ".json") else stem)
        target = target.with_name(target.name + suffix)
        if target.is_dir():
            raise RunError(f"--out {out}: {target} is a folder; choose another --out")


def write_run(ds: xr.Dataset, out: str | Path, priors: Any, *, overwrite: bool = False,
              extra: dict[str, Any] | None = None) -> Path:
    """Write ``ds`` and its manifest to the run folder ``out`` atomically; returns the folder.

    Raises:
        RunError: if ``out`` exists and ``overwrite`` is False, or another writer holds it.
    """
    import tomli_w

    out = Path(out)
    if overwrite or not os.path.lexists(out):
        check_target(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    with _writer_lock(out):  # which first recovers what a killed writer left
        check_target(out, overwrite)  # (again) under the lock: a concurrent writer may have finished first
        tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        published = False
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
            for name in (*ds.coords, "quarter_bounds"):  # CF: coordinates and bounds carry no _FillValue
                if name in ds.variables and ds[name].dtype.kind in "fiucM":
                    encoding[name] = {**encoding.get(name, {}), "_FillValue": None}
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
                "files": {name: _sha256(tmp / name) for name in RUN_FILES},
                **(extra or {}),
            }
            manifest = json.loads(json.dumps(manifest, default=_json_scalar))
            manifest["manifest_sha256"] = manifest_digest(manifest)
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
            for name in (*RUN_FILES, MANIFEST):  # on disk before the rename publishes them
                fsync(tmp / name)
            _fault_point("written")
            published = False
            _publish(tmp, out)
            published = True
        except BaseException:
            if not published:
                shutil.rmtree(tmp, ignore_errors=True)
            raise
    return out


def manifest_digest(manifest: dict[str, Any]) -> str:
    """SHA-256 of a manifest's content without its own ``manifest_sha256`` (sorted keys, compact JSON)."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of a finished run folder, checked for status, schema, its own checksum and its fields.

    Raises:
        RunError: not a folder, no or unreadable manifest, unfinished, newer schema, edited (checksum), or a
            field a rerun or report would trip on (each problem named).
    """
    path = Path(path)
    mfile = path / MANIFEST
    if not path.is_dir():
        raise RunError(f"{path}: no such run folder")
    if not mfile.is_file():
        raise RunError(f"{path}: no {MANIFEST}; this is not a finished run (interrupted, or not a run folder)")
    try:
        data = mfile.read_bytes()[: MAX_MANIFEST_BYTES + 1]
        if len(data) > MAX_MANIFEST_BYTES:
            raise ValueError(f"larger than {MAX_MANIFEST_BYTES:,} bytes")
        manifest = json.loads(data)
    except (OSError, ValueError, RecursionError) as exc:
        raise RunError(f"{mfile}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict):
        raise RunError(f"{mfile}: unreadable manifest (not a JSON object)")
    if manifest.get("status") != "complete":
        raise RunError(f"{path}: run status is {_short(manifest.get('status'))}, not 'complete'")
    version = manifest.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > SCHEMA_VERSION:
        raise RunError(f"{path}: result schema version {_short(version)} is newer than this mc_engine reads "
                       f"({SCHEMA_VERSION}); upgrade mc_engine")
    recorded = manifest.get("manifest_sha256")
    if recorded is not None and recorded != manifest_digest(manifest):
        raise RunError(f"{mfile}: checksum does not match its content: the manifest was edited; restore it or "
                       "run again")
    problems = manifest_problems(manifest)
    if problems:
        raise RunError(f"{mfile}: invalid manifest:\n  " + "\n  ".join(problems))
    return manifest


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def manifest_problems(manifest: dict[str, Any]) -> list[str]:
    """What is wrong with a manifest's fields (those reruns, reports and ``open_run`` use); empty if nothing."""
    problems: list[str] = []
    files = manifest.get("files", {})
    allowed = set(RUN_FILES) if manifest.get("kind", "run") == "run" else {RESULT}
    if not isinstance(files, dict):
        problems.append(f"files: must be a table of file name -> SHA-256 (got {_short(files)})")
    else:
        for name, digest in files.items():
            if name not in allowed:
                problems.append(f"files: {_short(name)} is not a file of a run folder ({', '.join(sorted(allowed))})")
            elif not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
                problems.append(f"files.{name}: {_short(digest)} is not a SHA-256")
    if manifest.get("kind", "run") != "run":
        return problems
    run = manifest.get("run")
    if not isinstance(run, dict):
        return [*problems, f"run: must be a table of settings (got {_short(run)})"]
    checks = (("seed", check_seed), ("n_paths", check_paths), ("horizon_quarters", check_horizon),
              ("prng", check_prng), ("block_size", check_block_size))
    for key, check in checks:
        if key in run:
            try:
                check(run[key], f"run.{key}")
            except RunError as exc:
                problems.append(str(exc))
    if "chunk_paths" in run and run.get("prng") in PRNG_CHOICES and isinstance(run.get("block_size"), int):
        try:
            check_block_size(run["block_size"])
            check_chunk_paths(run["chunk_paths"], run["prng"], run["block_size"], "run.chunk_paths")
        except RunError as exc:
            problems.append(str(exc))
    quantiles = run.get("quantiles")
    if quantiles is not None and not (isinstance(quantiles, list) and 0 < len(quantiles) <= 1000 and all(
            isinstance(q, int | float) and not isinstance(q, bool) and 0 < q < 1 for q in quantiles)
            and len(set(quantiles)) == len(quantiles)):
        problems.append(f"run.quantiles {_short(quantiles)}: must be a list of distinct probabilities in (0, 1)")
    for key, most in (("thin", 2**20), ("sensitivity_paths", MAX_SENSITIVITY)):
        value = run.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most):
            problems.append(f"run.{key} {_short(value)}: must be a whole number from 0 to {most:,}")
    priors = manifest.get("priors")
    if priors is not None and not (isinstance(priors, dict) and isinstance(priors.get("digest", ""), str)):
        problems.append(f"priors: must be a table with a text digest (got {_short(priors)})")
    return problems


MAX_SENSITIVITY: int = 2**24


def verify_files(path: str | Path, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check the SHA-256 of every file the manifest lists; returns the manifest.

    Raises:
        RunError: a file is missing or its checksum does not match (truncated or edited).
    """
    path = Path(path)
    manifest = read_manifest(path) if manifest is None else manifest
    for name, expected in manifest.get("files", {}).items():  # names checked by read_manifest: inside the folder
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
