"""Limits and checks of the settings a user types: seeds, path counts, chunk sizes, PRNGs, output folders.

Each check raises :class:`~mc_engine.errors.RunError` naming the option, the value and what is allowed,
so the command line can refuse a bad option (exit 2) before any work starts, and a manifest written by
hand is refused with the same words before a rerun or a report reads it.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .errors import RunError

PRNG_CHOICES: tuple[str, ...] = ("philox4x32", "threefry4x32", "threefry2x32")
"""The PRNG implementations a run may use (``engine.keys`` builds their keys)."""

SEED_LIMIT: int = 2**32
"""Seeds are 0 <= seed < 2**32: JAX keeps the low 32 bits of a seed, so -1 and 2**32 - 1 (or 2**32 and 0)
would give the same futures under different names."""

MAX_PATHS: int = 2**40
"""About 1.1e12 futures: block indices stay well inside uint32 (2**27 blocks of 8,192 paths)."""

MAX_CHUNK_BLOCKS: int = 128
"""Key blocks per compiled call: 1,048,576 paths at the default block size, the accelerator default."""

SINGLE_BLOCK_PRNGS: frozenset[str] = frozenset({"threefry4x32"})
"""PRNGs limited to one key block per chunk: threefry4x32's program grows with the chunk (24 GB and an
OOM kill above 8,192 paths were reported), so memory is bounded by running it one block at a time."""

MAX_HORIZON: int = 200

_SAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_seed(seed: Any, option: str = "--seed") -> int:
    """``seed`` as an int in ``[0, 2**32)``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        raise RunError(f"{option} {_show(seed)}: must be a whole number from 0 to {SEED_LIMIT - 1:,} "
                       "(distinct seeds then give distinct futures)")
    return seed


def check_paths(n_paths: Any, option: str = "--paths") -> int:
    if isinstance(n_paths, bool) or not isinstance(n_paths, int) or not 1 <= n_paths <= MAX_PATHS:
        raise RunError(f"{option} {_show(n_paths)}: must be a whole number from 1 to {MAX_PATHS:,}")
    return n_paths


def check_horizon(horizon: Any, option: str = "--horizon") -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, int) or not 1 <= horizon <= MAX_HORIZON:
        raise RunError(f"{option} {_show(horizon)}: must be a whole number of quarters from 1 to {MAX_HORIZON}")
    return horizon


def check_prng(prng: Any, option: str = "--prng") -> str:
    if prng not in PRNG_CHOICES:
        raise RunError(f"{option} {_show(prng)}: unknown PRNG; choose one of {', '.join(PRNG_CHOICES)}")
    return prng


def check_block_size(block_size: Any, option: str = "block_size") -> int:
    if isinstance(block_size, bool) or not isinstance(block_size, int) or not 1 <= block_size <= 2**20:
        raise RunError(f"{option} {_show(block_size)}: must be a whole number of paths from 1 to {2**20:,}")
    return block_size


def check_chunk_paths(chunk_paths: Any, prng: str, block_size: int, option: str = "--chunk-paths") -> int | None:
    """``chunk_paths`` (None: the device default) as a whole number of key blocks within the memory bound."""
    if chunk_paths is None:
        return None
    blocks = 1 if prng in SINGLE_BLOCK_PRNGS else MAX_CHUNK_BLOCKS
    if (isinstance(chunk_paths, bool) or not isinstance(chunk_paths, int) or chunk_paths < block_size
            or chunk_paths % block_size or chunk_paths > blocks * block_size):
        most = (f"exactly {block_size:,} with --prng {prng} (its memory grows with the chunk)" if blocks == 1
                else f"from {block_size:,} to {blocks * block_size:,}")
        raise RunError(f"{option} {_show(chunk_paths)}: must be a multiple of the key block size "
                       f"({block_size:,} paths), {most}")
    return chunk_paths


def check_positive(value: Any, option: str, *, allow_zero: bool = False) -> float:
    """A finite number above 0 (or at least 0)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        allowed = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise RunError(f"{option} {_show(value)}: must be {allowed}")
    return float(value)


def safe_name(name: str, fallback: str = "priors") -> str:
    """``name`` as one harmless path component: no separators, no leading dot, at most 80 characters.

    A prior file's ``name`` picks the default run folder; it must not pick where outside ``runs/`` it lands.
    """
    cleaned = _SAFE.sub("_", name).strip("._")[:80]
    return cleaned or fallback
