"""JAX's persistent compilation cache, on by default in a user cache folder.

Compiling the chunk program of the baseline takes ~15-20 s on 2 CPU cores; a later process with the
same shapes (priors structure, horizon, block and chunk size, thin size) loads it from disk instead.
The folder is ``$MC_ENGINE_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/mc_engine/jax``, else
``~/.cache/mc_engine/jax``. ``MC_ENGINE_NO_JAX_CACHE=1`` turns it off; a cache folder set through JAX
itself (``JAX_COMPILATION_CACHE_DIR`` or ``jax.config``) is left as it is. JAX keys every entry by the
program, the JAX/XLA version and the device, so a stale entry is never used; the folder may be
deleted at any time.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

OPT_OUT: str = "MC_ENGINE_NO_JAX_CACHE"
"""Environment variable: set to 1 (or true / yes) to leave JAX's persistent cache off."""
FOLDER: str = "MC_ENGINE_CACHE_DIR"
"""Environment variable: the cache folder, instead of the user cache folder."""

_done = False


def cache_folder() -> Path:
    """Where the compilation cache goes (see the module docstring); not created here."""
    if os.environ.get(FOLDER):
        return Path(os.environ[FOLDER]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "mc_engine" / "jax"


def enable_compilation_cache() -> str | None:
    """Turn JAX's persistent compilation cache on (once per process); returns the folder in use, or None.

    Called before the first compilation of a run (``compile_model``). An unwritable folder warns and
    leaves the cache off: the run itself does not depend on it.
    """
    global _done
    import jax

    if _done:
        return jax.config.jax_compilation_cache_dir
    _done = True
    if os.environ.get(OPT_OUT, "").strip().lower() in ("1", "true", "yes"):
        return None
    if jax.config.jax_compilation_cache_dir:  # set by the user through JAX: theirs
        return jax.config.jax_compilation_cache_dir
    folder = cache_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        warnings.warn(f"JAX compilation cache off: cannot create {folder} ({exc}); set {FOLDER} or "
                      f"{OPT_OUT}=1", RuntimeWarning, stacklevel=2)
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    return str(folder)
