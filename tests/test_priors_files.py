"""The bundled prior files: sourced, dated, warning-free, and scenarios that change only a few keys.

Covers every ``.toml`` under ``priors/``: the baseline and each scenario are loaded as they
ship (``require_sources=True``); the kind templates are checked through the files that
include them.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import BASELINE, REPO

from mc_engine.inputs.loader import Priors, load_priors

PRIORS_DIR = REPO / "priors"
SCENARIOS = sorted((PRIORS_DIR / "scenarios").glob("*.toml"))
FILES = [BASELINE, *SCENARIOS]
MAX_SCENARIO_CHANGES = 40
"""A scenario is the baseline with a few keys overridden, not a second baseline."""


def _id(path: Path) -> str:
    return str(path.relative_to(PRIORS_DIR))


def load_quietly(path: Path) -> tuple[Priors, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        priors = load_priors(path, require_sources=True)
    return priors, list(caught)


@pytest.fixture(scope="module")
def loaded() -> dict[Path, Priors]:
    return {path: load_quietly(path)[0] for path in FILES}


def test_scenarios_exist() -> None:
    assert SCENARIOS, "no scenario files under priors/scenarios"


def test_every_file_is_covered(loaded: dict[Path, Priors]) -> None:
    """Every prior file is the baseline, a scenario, or included by one (the kind templates)."""
    read = {f.resolve() for priors in loaded.values() for f in priors.files}
    on_disk = {f.resolve() for f in PRIORS_DIR.rglob("*.toml")}
    assert on_disk <= read, f"never loaded: {sorted(str(f) for f in on_disk - read)}"


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_loads_with_sources_and_no_warnings(path: Path) -> None:
    priors, caught = load_quietly(path)
    assert not caught, [str(w.message) for w in caught]
    undated = [name for name, inp in priors.inputs.items() if not inp.source or inp.as_of is None]
    assert not undated


def _dated_nodes(node: Any, path: tuple[str, ...], dated: bool) -> Iterator[tuple[str, bool]]:
    """(key path, whether it or an enclosing table has an as_of) for every number under ``node``."""
    if not isinstance(node, dict):
        return
    dated = dated or "as_of" in node
    for key, child in node.items():
        if isinstance(child, dict):
            yield from _dated_nodes(child, (*path, key), dated)
        elif isinstance(child, int | float | list) and not isinstance(child, bool) and key != "as_of":
            yield ".".join((*path, key)), dated


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_every_table_of_numbers_is_dated(loaded: dict[Path, Priors], path: Path) -> None:
    """Schedules, regime rows, counterparty shares and correlations carry an as_of (inputs: above)."""
    resolved = loaded[path].resolved
    undated = [
        key
        for section in ("regime", "counterparty", "correlation", "companies")
        for key, dated in _dated_nodes(resolved.get(section, {}), (section,), False)
        if not dated
    ]
    assert not undated


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_unknown_inputs_are_uncertain(loaded: dict[Path, Priors], path: Path) -> None:
    """A figure nobody has published gets a deliberately wide prior, never a point value."""
    points = [name for name, inp in loaded[path].inputs.items() if inp.unknown and inp.is_point]
    assert not points


def _changed(scenario: Priors, baseline: Priors) -> list[str]:
    changed = [name for name, inp in scenario.inputs.items()
               if name not in baseline.inputs or inp.dist != baseline.inputs[name].dist]
    changed += [name for name, values in scenario.schedules.items() if baseline.schedules.get(name) != values]
    for name in ("regime_initial", "regime_transition", "counterparty"):
        if not np.array_equal(getattr(scenario, name), getattr(baseline, name)):
            changed.append(name)
    if scenario.company_ids != baseline.company_ids:
        changed.append("companies")
    return changed


@pytest.mark.parametrize("path", SCENARIOS, ids=_id)
def test_scenario_is_the_baseline_with_few_changes(loaded: dict[Path, Priors], path: Path) -> None:
    scenario, baseline = loaded[path], loaded[BASELINE]
    assert BASELINE.resolve() in {f.resolve() for f in scenario.files}, "scenario does not include the baseline"
    changed = _changed(scenario, baseline)
    assert 0 < len(changed) < MAX_SCENARIO_CHANGES, changed


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_priors_check_cli(path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "mc_engine.cli", "priors", "check", str(path)],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr.lower(), done.stderr
