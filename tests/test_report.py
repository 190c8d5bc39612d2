"""Risk reports: HTML and PDF of a small run, alone, against last quarter's run (with the attribution), against
another scenario and of a sweep folder; the plausibility guards."""

from __future__ import annotations

import base64
import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest
import tomli_w
import xarray as xr
from conftest import minimal_tree
from pypdf import PdfReader

import mc_engine
from mc_engine.analysis.attribution import STARTING_STATE_KEYS, attribute, swap_starting_state
from mc_engine.cli import main
from mc_engine.output import plausibility
from mc_engine.output.runs import write_run
from mc_engine.report.palette import FAMILIES, KNOWN, company_colours
from mc_engine.report.render import PAGE_PT
from mc_engine.report.sections import TITLES

N_PATHS = 2000
HORIZON = 8
BODY = ["summary", "survival", "fans", "drivers", "sensitivity", "contagion", "funding"]


def headings(*keys: str) -> list[str]:
    return [f"{i}. {TITLES[k]}" for i, k in enumerate(keys, 1)]


HEADINGS = {"single": headings(*BODY, "appendix"), "with_previous": headings(*BODY, "attribution", "appendix")}


def uncertain_tree(cash: float, demand_growth: float, raise_prob: float = 0.5) -> dict:
    """The minimal tree with a few uncertain inputs (so sensitivity has something to rank)."""
    tree = minimal_tree()
    tree["market"]["algo_gain"] = {"ci90": [0.3, 1.5]}
    tree["market"]["demand_growth0"] = {"dist": "normal", "mean": demand_growth, "sd": 0.3}
    tree["funding"]["raise_prob"]["normal"] = raise_prob
    tree["kinds"]["lab"]["cash0"] = {"ci90": [0.5 * cash, 2 * cash]}
    tree["kinds"]["neocloud"]["opex0"] = {"ci90": [0.5, 2.0]}
    return tree


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run folders of one shape (one compiled program): last quarter, this quarter, and this quarter with
    only the starting data changed and last quarter's seed."""
    root = tmp_path_factory.mktemp("report-runs")
    specs = {"q1": (uncertain_tree(1.0, 0.1), 1), "q2": (uncertain_tree(1.5, 0.3, 0.6), 2),
             "q1_data": (uncertain_tree(1.5, 0.1), 1)}
    folders = {}
    for name, (tree, seed) in specs.items():
        if name == "q1_data":
            tree["as_of"] = tree["as_of"].replace(month=9, day=30)
        path = root / f"{name}.toml"
        path.write_bytes(tomli_w.dumps(tree).encode())
        priors = mc_engine.load_priors(path)
        ds = mc_engine.simulate(priors, N_PATHS, seed=seed, horizon=HORIZON, block_size=512, thin=200,
                                sensitivity_paths=1000)
        folders[name] = write_run(ds, root / name, priors)
    return folders


@pytest.fixture(scope="module")
def single(runs, tmp_path_factory):
    """A report of one run, written through the command line."""
    out = tmp_path_factory.mktemp("report-single") / "single"
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(runs["q2"]), "--out", str(out)])
    assert exit_info.value.code == 0
    return out


@pytest.fixture(scope="module")
def with_previous(runs, tmp_path_factory):
    """A report of a run against last quarter's, through the Python API."""
    out = tmp_path_factory.mktemp("report-previous") / "report"
    files = mc_engine.write_report(runs["q2"], previous=runs["q1"], out=out)
    assert files.html == out.with_suffix(".html")
    return out


@pytest.fixture(params=["single", "with_previous"])
def report(request):
    return request.param, request.getfixturevalue(request.param)


def svg_charts(html: str) -> list[str]:
    """The SVG documents of the charts embedded in the report's HTML."""
    return [base64.b64decode(e, validate=True).decode("utf-8")
            for e in re.findall(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', html)]


def test_html_has_every_section_and_every_chart_is_a_drawn_svg(report):
    name, stem = report
    html = stem.with_suffix(".html").read_text(encoding="utf-8")
    for heading in HEADINGS[name]:
        assert f"<h2>{heading}</h2>" in html
    charts = svg_charts(html)
    assert len(charts) >= 12
    for svg in charts:
        width, height = (float(v) for v in re.search(r'<svg[^>]*width="([\d.]+)pt" height="([\d.]+)pt"', svg).groups())
        assert width >= 300 and height >= 150
        # something is drawn: lines or shapes, and text (titles, ticks)
        assert svg.count("<path") >= 5 and "<text" in svg
    # self-contained: nothing is fetched from elsewhere
    assert not re.search(r'(?:src|href)="(?!data:|#)', html)
    assert "<script" not in html and "@import" not in html
    assert "<table" in html and "@page" in html and "A4 landscape" in html
    assert "Why companies leave" in html  # exits by cause beside the survival table


def test_pdf_is_a4_landscape_on_every_page_with_the_sections(report):
    name, stem = report
    reader = PdfReader(stem.with_suffix(".pdf"))
    record = json.loads(stem.with_suffix(".json").read_text())
    assert record["sections"] == HEADINGS[name]
    assert len(reader.pages) == record["pdf_pages"] == len(record["pages"])
    for page in reader.pages:
        assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(PAGE_PT, abs=0.5)
    text = "\n".join(page.extract_text() for page in reader.pages)
    for heading in HEADINGS[name]:
        assert heading in text
    assert re.search(r"page 2 of \d+", text), "page numbers in the footer"
    charts = [p for p in record["pages"] if p["content"].startswith("chart")]
    assert len(charts) >= 12 and {p["section"] for p in record["pages"]} >= set(HEADINGS[name])


def test_summary_ranks_by_leaving_independence_with_change_since_last_quarter(with_previous, runs):
    record = json.loads(with_previous.with_suffix(".json").read_text())
    assert record["mode"] == "quarter"
    rows = record["summary"]
    leave = [r["leave"] for r in rows]
    assert leave == sorted(leave, reverse=True)
    new, old = mc_engine.open_run(runs["q2"]), mc_engine.open_run(runs["q1"])
    for r in rows:
        at = {"company": r["company"]}
        default, acquired = (float(new[v].sel(at).isel(quarter=7)) for v in ("default_prob", "acquired_prob"))
        assert r["default"] == pytest.approx(default) and r["leave"] == pytest.approx(default + acquired)
        assert r["previous"] == pytest.approx(float(old.default_prob.sel(at).isel(quarter=7)))
        assert r["band"] == ("low" if r["leave"] < 0.05 else "elevated" if r["leave"] < 0.2 else "high")
        assert r["default_band"] == ("low" if default < 0.05 else "elevated" if default < 0.2 else "high")
    html = with_previous.with_suffix(".html").read_text(encoding="utf-8")
    assert "change since last quarter" in html and " pp</td>" in html
    assert "Quarter-over-quarter report" in html and "band (default only)" in html


def test_band_is_on_leaving_independence_not_default_alone():
    """A company rarely defaulting but often acquired is not "low": the band is on default + acquisition."""
    ds = xr.Dataset(
        {"default_prob": (("company", "quarter"), [[0.01] * 8]), "default_prob_se": (("company", "quarter"), [[0.001] * 8]),
         "acquired_prob": (("company", "quarter"), [[0.6] * 8]), "survival_prob": (("company", "quarter"), [[0.39] * 8])},
        coords={"company": ["mistral"], "kind": ("company", ["lab"]), "company_name": ("company", ["Mistral AI"])},
        attrs={"n_paths": 10_000})
    from mc_engine.report.sections import summary_rows

    (row,) = summary_rows(ds, None, 8)
    assert row["band"] == "high" and row["default_band"] == "low"
    assert row["leave_se"] == pytest.approx(math.sqrt(0.61 * 0.39 / 10_000))


def test_attribution_noise_is_within_monte_carlo_error(with_previous, runs):
    """The runs differ in priors, starting data and seed (2 vs 1). ``noise`` is the new run minus the
    rerun of the new priors with the old seed: two independent estimates of one survival probability, so
    it is N(0, 2 p (1 - p) / n) and must stay within 4 of those SEs (not an identity: the parts adding up
    to the total is one, by construction). The totals come from the stored runs' counts, and the rerun
    of the old run reproduces it exactly."""
    attribution = json.loads(with_previous.with_suffix(".json").read_text())["attribution"]
    assert attribution["quarter"] == 8 and attribution["settings"]["seed"] == 1
    new, old = mc_engine.open_run(runs["q2"]), mc_engine.open_run(runs["q1"])
    assert int(new.attrs["seed"]) == 2
    for r in attribution["rows"]:
        total = (int(new.n_alive.sel(company=r["company"]).isel(quarter=7))
                 - int(old.n_alive.sel(company=r["company"]).isel(quarter=7))) / N_PATHS
        assert r["total"] == pytest.approx(total, abs=1e-12)
        assert r["reproduction_gap"] == 0.0
        p = float(new.survival_prob.sel(company=r["company"]).isel(quarter=7))
        se = np.sqrt(2 * max(p * (1 - p), 1 / N_PATHS) / N_PATHS)
        assert abs(r["noise"]) <= 4 * se, (r["company"], r["noise"], se)
    # both kinds of change did something in this pair of runs
    assert any(abs(r["priors"]) > 0 for r in attribution["rows"])
    assert any(abs(r["starting_data"]) > 0 for r in attribution["rows"])


def test_changed_priors_alone_are_attributed_to_priors(runs, tmp_path):
    """Same starting data and seed, a new demand-growth prior: the whole change goes to priors, exactly
    (fails if swapping the starting state moved a prior, or a rerun did not reproduce its run)."""
    path = tmp_path / "q1_priors.toml"
    path.write_bytes(tomli_w.dumps(uncertain_tree(1.0, 0.3)).encode())
    priors = mc_engine.load_priors(path)
    ds = mc_engine.simulate(priors, N_PATHS, seed=1, horizon=HORIZON, block_size=512, thin=200,
                            sensitivity_paths=1000)
    result = attribute(write_run(ds, tmp_path / "q1_priors", priors), runs["q1"])
    np.testing.assert_array_equal(result.starting_data, 0.0)
    np.testing.assert_array_equal(result.noise, 0.0)
    np.testing.assert_allclose(result.priors, result.total, atol=1e-15)
    assert np.any(result.total != 0)


def test_changed_starting_data_alone_is_attributed_to_starting_data(runs):
    """Same priors and seed, new cash0 and as_of: nothing goes to priors or noise, exactly."""
    result = attribute(runs["q1_data"], runs["q1"])
    np.testing.assert_array_equal(result.priors, 0.0)
    np.testing.assert_array_equal(result.noise, 0.0)
    np.testing.assert_allclose(result.starting_data, result.total, atol=1e-15)
    assert np.any(result.total != 0)


def test_swap_starting_state_moves_only_observations():
    old, new = minimal_tree(), minimal_tree()
    new["as_of"] = old["as_of"].replace(month=9, day=30)
    new["kinds"]["lab"]["cash0"] = 7.0  # a kind default: must land on the company
    new["companies"]["acloud"]["fleet0"] = 3.0
    new["market"]["algo_gain"] = 0.9  # a prior, not starting data
    new["market"]["utilisation0"] = 0.6
    swapped = swap_starting_state(old, new)
    assert swapped["as_of"] == new["as_of"]
    assert swapped["companies"]["alab"]["cash0"] == 7.0 and swapped["kinds"]["lab"]["cash0"] == old["kinds"]["lab"]["cash0"]
    assert swapped["companies"]["acloud"]["fleet0"] == 3.0
    assert swapped["market"]["algo_gain"] == old["market"]["algo_gain"]
    assert swapped["market"]["utilisation0"] == 0.6
    assert old["companies"]["alab"] == {"kind": "lab", "name": "A Lab"}, "the input tree is not modified"
    assert {"cash0", "debt0", "revenue0", "fleet0", "valuation0", "last_round_age0"} <= set(STARTING_STATE_KEYS)


def test_company_colours_are_fixed_distinct_and_of_their_kinds_family():
    assert company_colours(["openai", "coreweave"]) == {"openai": KNOWN["openai"], "coreweave": KNOWN["coreweave"]}
    ids = ["alab", "acloud", "ahyper", "zeta", "openai"]
    kinds = {"alab": "lab", "acloud": "neocloud", "ahyper": "hyperscaler"}
    colours = company_colours(ids, kinds)
    assert len(set(colours.values())) == len(ids)
    assert company_colours(list(reversed(ids)), kinds) == colours
    for cid, kind in kinds.items():
        assert colours[cid] in FAMILIES[kind]
    # the bundled companies: one family per kind, no colour shared
    assert len(set(KNOWN.values())) == len(KNOWN)


def test_contagion_counts_match_the_thin_sample(with_previous, runs):
    record = json.loads(with_previous.with_suffix(".json").read_text())
    ds = mc_engine.open_run(runs["q2"])
    pairs = {(e["client"], e["host"]) for e in record["contagion"]}
    assert pairs == {("alab", "acloud"), ("alab", "ahyper")}
    final = ds.path_status.isel(quarter=-1)
    for e in record["contagion"]:
        assert e["n_paths"] == ds.sizes["path"] == 200
        assert e["n_client_default"] == int((final.sel(company=e["client"]) == 1).sum())


def test_import_does_not_load_matplotlib():
    code = "import sys, mc_engine; assert callable(mc_engine.write_report); print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_report_of_a_missing_run_is_a_user_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(tmp_path / "nope")])
    assert exit_info.value.code == 2
    assert "no such run folder" in capsys.readouterr().err


def test_against_is_a_comparison_not_a_quarter_over_quarter(runs, tmp_path):
    out = tmp_path / "scenario"
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(runs["q2"]), "--against", str(runs["q1"]), "--out", str(out)])
    assert exit_info.value.code == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["mode"] == "comparison" and record["attribution"] is None
    assert record["sections"] == headings(*BODY, "comparison", "appendix")[:-2] + [
        f"8. Comparison with {runs['q1'].name}", "9. Appendix: priors and run manifest"]
    html = out.with_suffix(".html").read_text(encoding="utf-8")
    assert "Scenario comparison" in html and f"difference from {runs['q1'].name}" in html
    assert "quarter-over-quarter" not in html.lower() and "previous report" not in html.lower()


def test_previous_and_against_together_is_a_user_error(runs, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(runs["q2"]), "--previous", str(runs["q1"]), "--against", str(runs["q1"])])
    assert exit_info.value.code == 2
    assert "not both" in capsys.readouterr().err


def test_a_sweep_folder_can_be_reported(tmp_path):
    path = tmp_path / "base.toml"
    path.write_bytes(tomli_w.dumps(uncertain_tree(1.5, 0.3, 0.6)).encode())
    folder = tmp_path / "sweep"
    grid = {"funding.base_rate": [0.02, 0.08]}
    mc_engine.sweep(mc_engine.load_priors(path), grid, n_paths=N_PATHS, seed=2, horizon=HORIZON, out=folder,
                    block_size=512, thin=200, sensitivity_paths=1000)
    out = tmp_path / "sweep-report"
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(folder), "--out", str(out)])
    assert exit_info.value.code == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["mode"] == "sweep" and record["points"] == ["base, base_rate=0.02", "base, base_rate=0.08"]
    merged = xr.load_dataset(folder / "result.nc")
    for label, value in zip(record["points"], grid["funding.base_rate"], strict=True):
        point = merged.sel(scenario="base", **{"funding.base_rate": value}).isel(quarter=7)
        for cid, leave in record["summary"][label].items():
            assert leave == pytest.approx(float(point.default_prob.sel(company=cid) + point.acquired_prob.sel(company=cid)))
    html = out.with_suffix(".html").read_text(encoding="utf-8")
    assert "Sweep comparison" in html and "quarter-over-quarter" not in html.lower()
    for page in PdfReader(out.with_suffix(".pdf")).pages:
        assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(PAGE_PT, abs=0.5)


def test_plausibility_flags_an_impossible_cash_figure_with_its_paths(runs, tmp_path):
    """Cash above world GDP in the top 5 % of paths and one sampled path: flagged in the attributes, the run
    table and the report, with the count of paths."""
    ds = mc_engine.open_run(runs["q2"]).load()
    assert ds.attrs["plausibility_flags"] == len(plausibility.check(ds))
    cash = ds.cash.copy()
    scale = 1e9 if cash.attrs["units"].startswith("USD bn") else 1.0
    cash.loc[{"company": "alab", "quantile": 0.95}] = 2 * plausibility.WORLD_GDP_USD / scale
    cash.loc[{"company": "alab", "quantile": 0.99}] = 3 * plausibility.WORLD_GDP_USD / scale
    ds["cash"] = cash
    path_cash = ds.path_cash.copy()
    # The first sampled path on which alab is alive in quarter 1 (some 12 % of futures exit in quarter 1).
    status = ds.path_status.sel(company="alab")
    path = int(np.argmax(status.isel(quarter=0).values == 0))
    alive = status.isel(path=path).values == 0
    assert alive[0]
    path_cash.loc[{"company": "alab", "path": path}] = np.where(alive, 5 * plausibility.WORLD_GDP_USD / scale,
                                                                np.nan)
    ds["path_cash"] = path_cash
    flags = [f for f in plausibility.check(ds) if f.variable == "cash" and f.company == "alab"]
    assert len(flags) == 1
    (flag,) = flags
    alive_at = int(ds.n_alive.sel(company="alab").max())
    # the 95 % quantile is beyond: at least 5 % of the futures alive, at most 10 % (the 90 % level is inside)
    assert flag.paths_low == math.floor(0.05 * alive_at) and "5%-10%" in flag.paths
    assert flag.sampled == 1 and flag.n_sampled == 200
    annotated = plausibility.annotate(ds)
    assert "cash[alab]" in annotated.attrs["plausibility"] and "alab" in annotated.cash.attrs["plausibility"]
    # within bounds, nothing is flagged
    assert not [f for f in plausibility.check(mc_engine.open_run(runs["q2"])) if f.variable == "cash"
                and f.company == "alab"]


@pytest.mark.parametrize(("index", "inside", "beyond"), [
    ("demand_index", 1e4, 1e7),            # work demanded: spend over price, up to 1e6
    ("compute_per_token_index", 1e-5, 1e-7),  # at most 10x a year cheaper for six years
    ("market_spend_index", 500.0, 2000.0),
])  # fmt: skip
def test_each_index_has_its_own_bounds(runs, index, inside, beyond):
    """A market index is flagged beyond its own bounds (plausibility.INDEX_BOUNDS), not one bound for all."""
    base = mc_engine.open_run(runs["q2"]).load()
    base = base.drop_vars([v for v in base.data_vars if v.startswith("path_")])

    def flagged(value: float) -> bool:
        ds = base.copy()
        var = ds[index].copy()
        var.loc[{"quantile": 0.95}] = value
        ds[index] = var
        return any(f.variable == index for f in plausibility.check(ds))

    assert not flagged(inside)
    assert flagged(beyond)


@pytest.mark.parametrize(("p", "se", "text"), [
    (0.123, 0.004, "12.3 ± 0.4 %"),
    (0.47, 0.0005, "47.00 ± 0.05 %"),       # 1e6 paths: the error is shown, not rounded to 0.0
    (0.0002, 0.000014, "0.020 ± 0.001 %"),
    (0.0, 0.0, "0.0 ± 0.0 %"),
    (-1e-9, None, "0.0 %"),                 # 1 - survival - default: no "-0.0 %"
])  # fmt: skip
def test_percentages_show_their_standard_error(p, se, text):
    from mc_engine.report.sections import pct

    assert pct(p, se) == text
