"""JAX's persistent compilation cache: on by default in the user cache folder, off on request, and a
folder set through JAX itself is left alone. Each case runs in a fresh process (the cache is set up
once per process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CODE = """
from mc_engine.engine.cache import enable_compilation_cache
print(enable_compilation_cache())
import jax
jax.block_until_ready(jax.jit(lambda x: x * 2.0 + 1.0)(1.0))
"""


def run(tmp_path: Path, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("MC_ENGINE_", "JAX_COMPILATION_CACHE", "XDG_CACHE_HOME"))}
    clean.update({"HOME": str(tmp_path / "home"), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
                  "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1", **env})
    out = subprocess.run([sys.executable, "-c", CODE], env=clean, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_on_by_default_in_the_user_cache_folder(tmp_path):
    assert run(tmp_path) == str(tmp_path / "home" / ".cache" / "mc_engine" / "jax")
    assert entries(tmp_path / "home" / ".cache" / "mc_engine" / "jax")  # the jitted function was written
    xdg = tmp_path / "xdg"
    assert run(tmp_path, XDG_CACHE_HOME=str(xdg)) == str(xdg / "mc_engine" / "jax")
    assert entries(xdg / "mc_engine" / "jax")
    own = tmp_path / "own"
    assert run(tmp_path, MC_ENGINE_CACHE_DIR=str(own)) == str(own) and entries(own)


@pytest.mark.parametrize("value", ["1", "true"])
def test_opt_out(tmp_path, value):
    assert run(tmp_path, MC_ENGINE_NO_JAX_CACHE=value) == "None"
    assert not (tmp_path / "home" / ".cache").exists()


def test_a_folder_set_through_jax_is_kept(tmp_path):
    theirs = tmp_path / "theirs"
    assert run(tmp_path, JAX_COMPILATION_CACHE_DIR=str(theirs)) == str(theirs)
    assert entries(theirs) and not (tmp_path / "home" / ".cache").exists()
