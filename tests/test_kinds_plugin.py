"""A fourth company kind plugged in from outside the package (tests/plugin_kinds/chip_vendor.py).

The chip vendor's revenue is a share of the neoclouds' GPU capex, read from their settlement without
touching their cash, and its shocks come from its own stream: adding one to the baseline must leave
every other company's results unchanged, bit for bit. The priors are the small fixture tree (one
company of each built-in kind) plus the kind's template. Nothing here edits a package file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import xarray as xr
from conftest import REPO, minimal_tree
from plugin_kinds.chip_vendor import KIND, ChipVendor

import mc_engine
from mc_engine import _schema as schema
from mc_engine._paramspec import ParamSpec
from mc_engine.analysis.attribution import swap_starting_state
from mc_engine.errors import PriorError
from mc_engine.model.kinds import KINDS, register, unregister

N_PATHS = 4000
HORIZON = 12
SEED = 3
TEMPLATE = Path(__file__).parent / "plugin_kinds" / "chip_vendor.toml"


@pytest.fixture(scope="module")
def chip_vendor() -> Iterator[ChipVendor]:
    """The plug-in kind, registered for this module only (the registry is process-wide)."""
    register(KIND)
    yield KIND
    unregister(KIND.name)


def small_tree() -> dict:
    """The minimal prior tree (one lab, neocloud and hyperscaler), without defaults for plug-in kinds."""
    tree = minimal_tree()
    tree["kinds"] = {k: v for k, v in tree["kinds"].items() if k in ("lab", "neocloud", "hyperscaler")}
    return tree


def write_priors(folder: Path, vendor: bool, **extra: object) -> Path:
    """The small priors, with the chip-vendor template and one company of the kind when ``vendor``."""
    tree = {**small_tree(), **extra}
    if vendor:
        tree["include"] = [str(TEMPLATE)]
        tree["companies"]["gpuco"] = {"kind": "chip_vendor", "name": "GPU Co"}
    path = folder / ("with_vendor.toml" if vendor else "alone.toml")
    path.write_bytes(tomli_w.dumps(tree).encode())
    return path


@pytest.fixture(scope="module")
def runs(chip_vendor: ChipVendor, tmp_path_factory: pytest.TempPathFactory) -> tuple[xr.Dataset, xr.Dataset]:
    """(small priors with the vendor, the same priors alone): same seed and path count."""
    folder = tmp_path_factory.mktemp("plugin")
    with_vendor = mc_engine.simulate(mc_engine.load_priors(write_priors(folder, True), include_root=REPO),
                                     N_PATHS, seed=SEED, horizon=HORIZON)
    alone = mc_engine.simulate(mc_engine.load_priors(write_priors(folder, False)), N_PATHS, seed=SEED,
                               horizon=HORIZON)
    return with_vendor, alone


def test_registry_declares_the_kind_to_the_loader(chip_vendor: ChipVendor) -> None:
    assert KINDS["chip_vendor"] is chip_vendor
    assert list(KINDS)[:3] == ["lab", "neocloud", "hyperscaler"]
    declared = [s.name for s in schema.KINDS["chip_vendor"]]
    assert declared[:2] == ["cash0", "debt0"] and "capex_share" in declared  # funding parameters first
    assert not schema.can_host("chip_vendor")
    assert {"receivable0", "other_revenue0", "cash0"} <= set(schema.starting_state_keys())
    assert register(ChipVendor()) is chip_vendor  # registering the same kind again is a no-op


def test_loader_refuses_a_vendor_as_host(chip_vendor: ChipVendor, tmp_path: Path) -> None:
    path = write_priors(tmp_path, True, counterparty={"alab": {"acloud": 0.4, "gpuco": 0.1}})
    with pytest.raises(PriorError, match="'gpuco' cannot host compute"):
        mc_engine.load_priors(path, include_root=REPO)


def test_vendor_outputs_are_finite_and_it_survives(runs: tuple[xr.Dataset, xr.Dataset]) -> None:
    ds = runs[0].sel(company="gpuco")
    for name, da in ds.data_vars.items():
        if np.issubdtype(da.dtype, np.floating):
            assert np.isfinite(da.values).all(), name
    # Cash of ~10 quarters of opex, gross margin 70 %, growing sales: it never needs a round, survival ~1.
    assert float(ds.survival_prob.isel(quarter=-1)) > 0.98
    assert float(ds.revenue.sel(quantile=0.5).isel(quarter=0)) > 0  # it sells something from quarter 1


def test_adding_the_kind_changes_no_other_company(runs: tuple[xr.Dataset, xr.Dataset]) -> None:
    with_vendor, alone = runs
    others = [str(c) for c in alone.company.values]
    assert [str(c) for c in with_vendor.company.values] == [*others, "gpuco"]
    compared = 0
    for name, da in alone.data_vars.items():
        if "path" in da.dims and "company" not in da.dims:
            continue  # thin-sample market paths: compared through the company variables
        other = with_vendor[name]
        if "company" in da.dims:
            other = other.sel(company=others)
        if "input" in da.dims:
            other = other.sel(input=da.input.values)
        np.testing.assert_array_equal(other.values, da.values, err_msg=name)
        compared += 1
    assert compared > 10


def _kind(**attrs: object) -> ChipVendor:
    """A chip vendor with some attributes replaced (a malformed kind)."""
    return type("Malformed", (ChipVendor,), {"name": "malformed", **attrs})()


@pytest.mark.parametrize(("attrs", "message"), [
    ({"params": (ParamSpec("cash0", "USD bn", "nonneg", "again"),)}, "common funding parameters"),
    ({"params": ("capex_share",)}, "params must be a tuple of ParamSpec"),
    ({"State": dict}, "State must be a NamedTuple class"),
    ({"normals": ("round_size",)}, "shocks named twice"),
    ({"spend_weight0": "other_revenue0"}, "needs params share_drift, share_vol"),
    ({"starting_keys": ("fleet0",)}, "starting_keys fleet0 are not among its params"),
    ({"name": "chip vendor"}, "name must be an identifier"),
    ({"settle": None}, "method settle is not implemented"),
])
def test_registry_rejects_a_malformed_kind(attrs: dict, message: str) -> None:
    if attrs.get("settle", 1) is None:
        from mc_engine.model.kinds.base import CompanyKind

        attrs = {"settle": CompanyKind.settle}
    with pytest.raises(ValueError, match=message):
        register(_kind(**attrs))
    assert "malformed" not in KINDS and "malformed" not in schema.KINDS


def test_registry_rejects_a_name_taken_and_a_non_kind(chip_vendor: ChipVendor) -> None:
    with pytest.raises(ValueError, match="the name is taken"):
        register(type("Impostor", (ChipVendor,), {})())
    with pytest.raises(ValueError, match="instance of a CompanyKind subclass"):
        register(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="built in"):
        unregister("lab")


def test_each_kind_draws_only_its_shocks_from_its_own_stream(chip_vendor: ChipVendor, tmp_path: Path) -> None:
    from mc_engine.engine.scan import compile_model
    from mc_engine.model.kinds import MARKET_STREAM, stream_tag
    from mc_engine.model.step import shock_blocks

    model = compile_model(mc_engine.load_priors(write_priors(tmp_path, True), include_root=REPO))
    streams = {b.tag: b for b in shock_blocks(model.layout)}
    assert list(streams) == [MARKET_STREAM, *map(stream_tag, ("lab", "neocloud", "hyperscaler", "chip_vendor"))]
    # (normals, uniforms) per company: round size + own normals; refinance, round, rescue, acquisition.
    assert [(b.width, b.normals, b.uniforms) for b in streams.values()] == [
        (0, 11, 1), (1, 2, 4), (1, 1, 4), (1, 3, 4), (1, 2, 4)]


def test_attribution_swaps_the_plugin_kinds_starting_data(chip_vendor: ChipVendor) -> None:
    """A quarter-on-quarter attribution treats the vendor's receivables as starting data, not priors (the
    attribution module is imported at the top of this file, before the kind is registered)."""
    base = {"as_of": "2026-06-30", "market": {}, "companies": {
        "vendor": {"kind": "chip_vendor", "receivable0": 1.0, "capex_share": 0.1}}}
    donor = {"as_of": "2026-09-30", "market": {}, "companies": {
        "vendor": {"kind": "chip_vendor", "receivable0": 2.0, "capex_share": 0.5}}}
    swapped = swap_starting_state(base, donor)["companies"]["vendor"]
    assert swapped["receivable0"] == 2.0  # starting data of the new kind: swapped
    assert swapped["capex_share"] == 0.1  # a prior: kept
