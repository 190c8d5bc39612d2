"""Shared fixtures: a minimal valid prior file generated from the parameter declarations."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jax
import pytest
import tomli_w

from mc_engine._paramspec import REGIMES, ParamSpec
from mc_engine.model import KINDS, SECTIONS

jax.config.update("jax_numpy_rank_promotion", "raise")

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "priors" / "baseline.toml"

_POINT = {"real": 0.1, "positive": 1.0, "nonneg": 1.0, "prob": 0.5, "unit_open": 0.5}


def point_value(spec: ParamSpec) -> Any:
    """A valid point value for any parameter (per-regime and schedule forms included)."""
    if spec.schedule:
        return [1.0, 1.0]
    if spec.per_regime:
        return {r: _POINT[spec.domain] for r in REGIMES}
    return _POINT[spec.domain]


def minimal_tree() -> dict[str, Any]:
    """A valid prior tree: every parameter a point value, one company per kind, sourced at the top."""
    tree: dict[str, Any] = {
        "name": "minimal",
        "as_of": dt.date(2026, 6, 30),
        "source": "test fixture",
    }
    for section, specs in SECTIONS.items():
        tree[section] = {s.name: point_value(s) for s in specs}
    tree["kinds"] = {kind: {s.name: point_value(s) for s in specs} for kind, specs in KINDS.items()}
    tree["companies"] = {
        "alab": {"kind": "lab", "name": "A Lab"},
        "acloud": {"kind": "neocloud"},
        "ahyper": {"kind": "hyperscaler"},
    }
    tree["counterparty"] = {"alab": {"acloud": 0.4, "ahyper": 0.5}}
    third = 1 / 3
    tree["regime"] = {
        "initial": {"boom": 0.2, "normal": 0.7, "winter": 0.1},
        "transition": {r: {"boom": third, "normal": third, "winter": 1 - 2 * third} for r in REGIMES},
    }
    return tree


@pytest.fixture
def minimal_file(tmp_path: Path) -> Path:
    """Path of a minimal valid prior file in a temporary folder."""
    path = tmp_path / "minimal.toml"
    path.write_bytes(tomli_w.dumps(minimal_tree()).encode())
    return path


@pytest.fixture
def write(tmp_path: Path):
    """write(name, text) -> path: put a TOML file in the temporary folder."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write
