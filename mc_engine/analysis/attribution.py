"""Quarter-over-quarter attribution of the change in survival, by rerunning with common random numbers.

Two run folders, ``old`` (last quarter) and ``new``, each with the resolved priors
it ran (``priors.json``). ``S(x)`` is a company's survival probability at quarter
``q`` (8, or the shorter horizon). Four reruns use the old run's seed, path count,
PRNG and block size, so they share their random numbers with the old run:

- ``O``  = the old priors (reproduces the old run: same priors, same seed, same n),
- ``H``  = the old priors with the new starting data and ``as_of``,
- ``H'`` = the new priors with the old starting data and ``as_of``,
- ``B``  = the new priors.

Then, with the two orders of change averaged (a Shapley split, so neither part
depends on which change is applied first)::

    starting data = ((S_H - S_O) + (S_B - S_H')) / 2
    priors        = ((S_H' - S_O) + (S_B - S_H)) / 2
    noise         = (S_new - S_B) + (S_O - S_old)

``S_new - S_B`` is the new run's seed and path count against the old ones;
``S_O - S_old`` (the reproduction gap) is zero when the rerun reproduces the old
run, i.e. the same path count and the same engine. The three parts add up to
``S_new - S_old`` exactly, whatever the reruns return.

Starting data are the company figures observed at ``as_of`` (:data:`STARTING_STATE_KEYS`,
whether a company sets them or inherits them from its kind), the market's
starting utilisation, and ``as_of`` itself. Everything else is "priors".
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from .._schema import starting_state_keys
from ..output.runs import PRIORS_JSON, _dated, read_manifest

STARTING_STATE_KEYS: tuple[str, ...] = starting_state_keys()
"""Company parameters that are observations at ``as_of`` (swapped as "starting data")."""

MARKET_STATE_KEYS: tuple[str, ...] = ("utilisation0",)
"""Market parameters that are observations at ``as_of``."""


def _company_value(tree: Mapping[str, Any], cid: str, key: str) -> Any:
    """The value a company uses for ``key``: its own, else its kind's default, else None."""
    body = tree.get("companies", {}).get(cid, {})
    if key in body:
        return body[key]
    return tree.get("kinds", {}).get(body.get("kind"), {}).get(key)


def swap_starting_state(base: Mapping[str, Any], donor: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the resolved prior tree ``base`` with the starting data and ``as_of`` of ``donor``.

    Only companies present in both trees with the same kind are changed; each swapped value is written
    on the company itself (so a kind default of ``base`` does not leak through).
    """
    tree = copy.deepcopy(dict(base))
    tree["as_of"] = donor["as_of"]
    for key in MARKET_STATE_KEYS:
        if key in donor.get("market", {}) and "market" in tree:
            tree["market"][key] = copy.deepcopy(donor["market"][key])
    donor_companies = donor.get("companies", {})
    for cid, body in tree.get("companies", {}).items():
        other = donor_companies.get(cid)
        if not isinstance(body, dict) or not isinstance(other, dict) or other.get("kind") != body.get("kind"):
            continue
        for key in starting_state_keys():  # kinds registered after import count too
            mine, theirs = _company_value(tree, cid, key), _company_value(donor, cid, key)
            if mine is not None and theirs is not None:
                body[key] = copy.deepcopy(theirs)
    return tree


def load_tree(tree: Mapping[str, Any], name: str):  # noqa: ANN201 - returns Priors
    """Validate a resolved prior tree (as in ``priors.json``) into :class:`~mc_engine.Priors`."""
    from ..inputs.loader import load_priors

    with tempfile.TemporaryDirectory(prefix="mc_engine-attribution-") as folder:
        path = Path(folder) / f"{name}.toml"
        path.write_bytes(tomli_w.dumps(_dated(tree)).encode())
        return load_priors(path, require_sources=False)


@dataclass(frozen=True)
class Attribution:
    """The change in ``quarter``-quarter survival of each company present in both runs, split in three.

    Arrays have shape (companies,) in the order of ``companies``; probabilities in [0, 1].
    ``total == priors + starting_data + noise`` up to float rounding.
    """

    quarter: int
    companies: tuple[str, ...]
    old: np.ndarray
    new: np.ndarray
    total: np.ndarray
    priors: np.ndarray
    starting_data: np.ndarray
    noise: np.ndarray
    reproduction_gap: np.ndarray
    reruns: dict[str, np.ndarray]
    """Survival of each rerun (O, H, H', B) for ``companies``."""
    settings: dict[str, Any] = field(default_factory=dict)
    """Seed, paths, PRNG and block size of the reruns; companies only in one run."""

    def rows(self) -> list[dict[str, Any]]:
        return [{"company": c, "old": float(self.old[i]), "new": float(self.new[i]),
                 "total": float(self.total[i]), "priors": float(self.priors[i]),
                 "starting_data": float(self.starting_data[i]), "noise": float(self.noise[i]),
                 "reproduction_gap": float(self.reproduction_gap[i])} for i, c in enumerate(self.companies)]


def _survival(priors, quarter: int, ids: list[str], run: Mapping[str, Any], n_paths: int, thin: int) -> np.ndarray:  # noqa: ANN001
    from ..output.pipeline import simulate

    ds = simulate(priors, n_paths, int(run["seed"]), quarter, prng=run.get("prng"), block_size=run.get("block_size"),
                  chunk_paths=run.get("chunk_paths"), thin=thin, sensitivity_paths=16)
    return _exact_survival(ds, ids, quarter)


def _exact_survival(ds, ids: list[str], quarter: int) -> np.ndarray:  # noqa: ANN001
    """Survival at ``quarter`` from the integer path counts (the stored probabilities are float32)."""
    alive = ds.n_alive.sel(company=ids).isel(quarter=quarter - 1).values.astype(np.float64)
    return alive / float(ds.attrs["n_paths"])


def attribute(new_run: str | Path, old_run: str | Path, *, quarter: int = 8, n_paths: int | None = None,
              new_ds=None, old_ds=None, progress: Callable[[str], None] | None = None) -> Attribution:  # noqa: ANN001
    """Split each company's change in survival at ``quarter`` between the runs (see the module docstring).

    Args:
        new_run, old_run: run folders.
        quarter: the survival mark; reduced to the shorter of the two horizons.
        n_paths: paths of the reruns (default: the old run's, which makes the reproduction gap zero).
        new_ds, old_ds: the opened runs, if the caller has them already.
        progress: called with a line of text before each rerun.
    """
    from ..output.runs import open_run

    new_run, old_run = Path(new_run), Path(old_run)
    new_ds = open_run(new_run) if new_ds is None else new_ds
    old_ds = open_run(old_run) if old_ds is None else old_ds
    quarter = min(quarter, new_ds.sizes["quarter"], old_ds.sizes["quarter"])
    run = read_manifest(old_run)["run"]
    n = int(n_paths or run["n_paths"])
    thin = int(min(old_ds.sizes["path"], n))
    old_tree = json.loads((old_run / PRIORS_JSON).read_text())
    new_tree = json.loads((new_run / PRIORS_JSON).read_text())
    old_ids = [str(c) for c in old_ds.company.values]
    new_ids = [str(c) for c in new_ds.company.values]
    ids = [c for c in new_ids if c in old_ids]

    trees = {"O": old_tree, "H": swap_starting_state(old_tree, new_tree),
             "H'": swap_starting_state(new_tree, old_tree), "B": new_tree}
    reruns = {}
    for label, tree in trees.items():
        if progress is not None:
            progress(f"attribution rerun {label} ({n:,} paths, seed {run['seed']}, {quarter} quarters)")
        reruns[label] = _survival(load_tree(tree, f"rerun-{label}"), quarter, ids, run, n, thin)

    s_old, s_new = _exact_survival(old_ds, ids, quarter), _exact_survival(new_ds, ids, quarter)
    o, h, hp, b = reruns["O"], reruns["H"], reruns["H'"], reruns["B"]
    return Attribution(
        quarter=quarter, companies=tuple(ids), old=s_old, new=s_new, total=s_new - s_old,
        priors=((hp - o) + (b - h)) / 2, starting_data=((h - o) + (b - hp)) / 2,
        noise=(s_new - b) + (o - s_old), reproduction_gap=o - s_old, reruns=reruns,
        settings={"seed": int(run["seed"]), "n_paths": n, "prng": run.get("prng"),
                  "block_size": run.get("block_size"), "old_n_paths": int(run["n_paths"]),
                  "new_n_paths": int(new_ds.attrs.get("n_paths", 0)), "new_seed": new_ds.attrs.get("seed"),
                  "only_new": [c for c in new_ids if c not in old_ids],
                  "only_old": [c for c in old_ids if c not in new_ids]},
    )
