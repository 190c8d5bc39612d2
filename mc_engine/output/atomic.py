"""Atomic file writes: the one place that writes a file beside its target and renames it into place.

A reader sees the old file or the whole new one, never a half-written one, and a crash leaves at most a hidden
``.NAME.tmp-PID`` beside the target. Run folders are published the same way as a whole folder
(:mod:`mc_engine.output.runs`), with :func:`fsync` below.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk, so a rename never publishes data still in flight."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temporary_beside(path: Path) -> Path:
    """The hidden temporary name that a write of ``path`` goes through: ``.NAME.tmp-PID`` in its folder."""
    return path.parent / f".{path.name}.tmp-{os.getpid()}"


def atomic_write(path: Path, write: Callable[[Path], Any]) -> Any:
    """Call ``write(tmp)`` on a temporary file beside ``path``, flush it and rename it onto ``path``.

    Returns what ``write`` returns. The temporary file is removed if anything fails.
    """
    tmp = temporary_beside(path)
    try:
        result = write(tmp)
        fsync(tmp)
        tmp.replace(path)
        fsync(path.parent)
        return result
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON (anything unknown as text) to ``path`` atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=1, default=str)))
