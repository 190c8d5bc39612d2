"""Quarterly risk reports: HTML and PDF of a small run, alone and against a previous run; the attribution."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
import zlib

import numpy as np
import pytest
import tomli_w
from conftest import minimal_tree
from PIL import Image

import mc_engine
from mc_engine.cli import main
from mc_engine.output.runs import write_run
from mc_engine.report.attribution import STARTING_STATE_KEYS, attribute, swap_starting_state
from mc_engine.report.palette import KNOWN, company_colours
from mc_engine.report.sections import TITLES

N_PATHS = 2000
HORIZON = 8
HEADINGS = [f"{i}. {title}" for i, title in enumerate(TITLES.values(), 1)]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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
    return request.getfixturevalue(request.param)


def pdf_text(data: bytes) -> str:
    """The text shown on the pages of a matplotlib PDF (Flate streams inflated, TJ/Tj strings joined)."""
    shown = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            content = zlib.decompress(match.group(1))
        except zlib.error:
            continue  # an image or a font program
        for array in re.findall(rb"\[(.*?)\]\s*TJ", content, re.S):
            shown.append(b"".join(re.findall(rb"\(((?:[^()\\]|\\.)*)\)", array)))
        shown += re.findall(rb"\(((?:[^()\\]|\\.)*)\)\s*Tj", content)
    return b"\n".join(shown).decode("latin-1")


def test_html_has_every_section_and_every_image_decodes(report):
    html = report.with_suffix(".html").read_text(encoding="utf-8")
    for heading in HEADINGS:
        assert f"<h2>{heading}</h2>" in html
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) >= 12
    for encoded in images:
        png = base64.b64decode(encoded, validate=True)
        assert png.startswith(PNG_SIGNATURE)
        with Image.open(io.BytesIO(png)) as image:
            image.load()
            assert image.format == "PNG" and image.width >= 300 and image.height >= 150
    # self-contained: nothing is fetched from elsewhere
    assert not re.search(r'(?:src|href)="(?!data:|#)', html)
    assert "<script" not in html and "@import" not in html


def test_pdf_has_the_sections_and_recorded_pages(report):
    data = report.with_suffix(".pdf").read_bytes()
    assert data.startswith(b"%PDF")
    record = json.loads(report.with_suffix(".json").read_text())
    assert record["sections"] == HEADINGS
    assert len(re.findall(rb"/Type\s*/Page\b", data)) == record["pdf_pages"] == len(record["pages"])
    text = pdf_text(data)
    for heading in HEADINGS:
        assert heading in text
    charts = [p for p in record["pages"] if p["content"].startswith("chart")]
    assert len(charts) >= 12 and {p["section"] for p in record["pages"]} >= set(HEADINGS)


def test_summary_ranks_by_default_with_change_since_previous(with_previous, runs):
    record = json.loads(with_previous.with_suffix(".json").read_text())
    rows = record["summary"]
    defaults = [r["default"] for r in rows]
    assert defaults == sorted(defaults, reverse=True)
    new, old = mc_engine.open_run(runs["q2"]), mc_engine.open_run(runs["q1"])
    for r in rows:
        assert r["default"] == pytest.approx(float(new.default_prob.sel(company=r["company"]).isel(quarter=7)))
        assert r["previous"] == pytest.approx(float(old.default_prob.sel(company=r["company"]).isel(quarter=7)))
        assert r["band"] == ("low" if r["default"] < 0.05 else "elevated" if r["default"] < 0.2 else "high")
    html = with_previous.with_suffix(".html").read_text(encoding="utf-8")
    assert "change since previous" in html and " pp</td>" in html


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


def test_company_colours_are_fixed_and_distinct():
    assert company_colours(["openai", "coreweave"]) == {"openai": KNOWN["openai"], "coreweave": KNOWN["coreweave"]}
    ids = ["alab", "acloud", "ahyper", "zeta", "openai"]
    colours = company_colours(ids)
    assert len(set(colours.values())) == len(ids)
    assert company_colours(list(reversed(ids))) == colours


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
