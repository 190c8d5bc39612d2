"""Prior loading: valid files resolve as documented; every bad input names file, key and fix."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from mc_engine import PriorError, PriorWarning, load_priors


def load(path: Path, **kw):
    return load_priors(path, require_sources=False, **kw)


def error_text(path: Path, **kw) -> str:
    with pytest.raises(PriorError) as info:
        load_priors(path, **{"require_sources": False, **kw})
    return str(info.value)


def scenario(write, body: str) -> Path:
    return write("scenario.toml", 'include = "minimal.toml"\n' + body)


# ----------------------------------------------------------------------------- valid files


def test_minimal_file_loads_with_every_parameter(minimal_file):
    priors = load(minimal_file)
    assert priors.company_ids == ("alab", "acloud", "ahyper")
    assert [c.kind for c in priors.companies] == ["lab", "neocloud", "hyperscaler"]
    assert "companies.alab.revenue0" in priors.inputs
    assert "companies.acloud.fleet0" in priors.inputs
    assert "funding.raise_prob.winter" in priors.inputs
    assert priors.schedules["companies.alab.commitments"] == (1.0, 1.0)
    assert priors.counterparty[0, 1] == pytest.approx(0.4)
    assert priors.regime_transition.sum(axis=1) == pytest.approx([1, 1, 1])
    assert len(priors.digest) == 64


def test_scenario_overrides_few_keys_and_keeps_the_rest(minimal_file, write):
    path = scenario(
        write,
        """
[market]
algo_gain = { ci90 = [0.5, 2.0] }
[funding.raise_prob]
winter = 0.1
[companies.alab]
revenue0 = { dist = "pert", lo = 1, mode = 2, hi = 5 }
""",
    )
    base, over = load(minimal_file), load(path)
    assert over.inputs["market.algo_gain"].dist.family == "lognormal"
    mu, sigma = over.inputs["market.algo_gain"].dist.params
    assert mu == pytest.approx(0.5 * (math.log(0.5) + math.log(2.0)))
    assert sigma == pytest.approx((math.log(2.0) - math.log(0.5)) / (2 * 1.6448536269514722))
    assert over.inputs["funding.raise_prob.winter"].dist.params == (0.1,)
    assert over.inputs["funding.raise_prob.boom"] == base.inputs["funding.raise_prob.boom"]
    assert over.inputs["companies.alab.revenue0"].file == path.resolve()
    assert over.inputs["companies.acloud.fleet0"].file == minimal_file.resolve()
    assert over.digest != base.digest


def test_override_keeps_the_bounds_it_replaces_unless_it_states_its_own(minimal_file, write):
    """A scenario's distribution without ``bounds`` keeps the base file's; explicit bounds win; a point needs none."""
    write("bounded.toml", 'include = "minimal.toml"\n[market]\nalgo_gain = { ci90 = [0.5, 2.0], bounds = [0.0, 3.0] }\n')
    kept = load(write("kept.toml", 'include = "bounded.toml"\n[market]\nalgo_gain = { ci90 = [0.9, 2.3] }\n'))
    assert kept.inputs["market.algo_gain"].dist.bounds == (0.0, 3.0)
    own = load(write("own.toml", 'include = "bounded.toml"\n[market]\nalgo_gain = { ci90 = [0.9, 2.3], bounds = [0.1, 5.0] }\n'))
    assert own.inputs["market.algo_gain"].dist.bounds == (0.1, 5.0)
    point = load(write("point.toml", 'include = "bounded.toml"\n[market]\nalgo_gain = 1.5\n'))
    assert point.inputs["market.algo_gain"].dist.params == (1.5,)


def test_ci90_crossing_zero_is_normal(minimal_file, write):
    priors = load(scenario(write, "[market]\nreasoning_growth = { ci90 = [-0.5, 1.5] }\n"))
    dist = priors.inputs["market.reasoning_growth"].dist
    assert dist.family == "normal"
    assert dist.params[0] == pytest.approx(0.5)


def test_company_inherits_kind_default_and_overrides(minimal_file, write):
    path = scenario(write, "[kinds.lab]\nopex0 = 7.0\n[companies.alab]\ntraining0 = 3.0\n")
    priors = load(path)
    assert priors.inputs["companies.alab.opex0"].dist.params == (7.0,)
    assert priors.inputs["companies.alab.training0"].dist.params == (3.0,)


def test_sources_are_inherited_only_within_one_file(write, minimal_file):
    path = write(
        "sourced.toml",
        'include = "minimal.toml"\n[market]\nsource = "scenario note"\nas_of = 2026-07-01\nalgo_gain = 1.0\n',
    )
    priors = load_priors(path)  # the minimal file has a top-level source; every number is covered
    assert priors.inputs["market.algo_gain"].source == "scenario note"
    assert priors.inputs["market.hardware_decline"].source == "test fixture"


# ----------------------------------------------------------------------------- bad input, one case each


def test_unknown_key_suggests_the_right_one(minimal_file, write):
    path = scenario(write, "[market]\nhardwre_decline = 0.3\n")
    text = error_text(path)
    assert "scenario.toml" in text
    assert "market.hardwre_decline: unknown key 'hardwre_decline' (did you mean 'hardware_decline'?)" in text


def test_unknown_top_level_key(minimal_file, write):
    assert "unknown key 'markets'" in error_text(scenario(write, "[markets]\nx = 1\n"))


def test_unknown_distribution_family(minimal_file, write):
    text = error_text(scenario(write, '[market]\nalgo_gain = { dist = "gamma", shape = 2 }\n'))
    assert "market.algo_gain.dist: unknown distribution family 'gamma'; allowed: point, normal" in text


def test_lo_not_below_hi(minimal_file, write):
    text = error_text(scenario(write, '[market]\nalgo_gain = { dist = "uniform", lo = 2, hi = 1 }\n'))
    assert "market.algo_gain: lo = 2.0 must be < hi = 1.0" in text
    text = error_text(scenario(write, "[market]\nalgo_gain = { ci90 = [3, 1] }\n"))
    assert "market.algo_gain: ci90 = [3.0, 1.0] needs lo < hi" in text


def test_non_positive_scale(minimal_file, write):
    text = error_text(scenario(write, '[market]\nalgo_gain = { dist = "normal", mean = 1, sd = 0 }\n'))
    assert "market.algo_gain.sd: must be > 0 (got 0)" in text
    text = error_text(scenario(write, '[market]\nalgo_gain = { dist = "lognormal", median = 1, sigma = -1 }\n'))
    assert "market.algo_gain.sigma: must be > 0" in text


def test_mixture_weights_must_sum_to_one(minimal_file, write):
    body = '[market]\nalgo_gain = { dist = "mixture", components = [{ weight = 0.5, value = 1 }, { weight = 0.3, value = 2 }] }\n'
    assert "market.algo_gain.components: mixture weights sum to 0.8; they must sum to 1" in error_text(
        scenario(write, body)
    )


def test_probability_outside_unit_interval(minimal_file, write):
    text = error_text(scenario(write, "[funding.raise_prob]\nwinter = 1.2\n"))
    assert "funding.raise_prob.winter: value 1.2 is outside what raise_prob allows: a probability in [0, 1]" in text


def test_unbounded_family_on_a_probability_needs_bounds(minimal_file, write):
    text = error_text(scenario(write, '[funding.raise_prob]\nwinter = { dist = "normal", mean = 0.5, sd = 0.1 }\n'))
    assert "funding.raise_prob.winter: a normal prior reaching" in text
    assert "add bounds = [0, 1]" in text
    ok = scenario(write, '[funding.raise_prob]\nwinter = { dist = "normal", mean = 0.5, sd = 0.1, bounds = [0, 1] }\n')
    assert load(ok).inputs["funding.raise_prob.winter"].dist.bounds == (0.0, 1.0)


def test_transition_rows_must_sum_to_one(minimal_file, write):
    text = error_text(scenario(write, "[regime.transition]\nboom = { boom = 0.5, normal = 0.4, winter = 0.05 }\n"))
    assert "regime.transition.boom: probabilities sum to 0.95; they must sum to 1" in text


CORR = '[correlation]\ninputs = ["market.algo_gain", "market.hardware_decline"]\n'
UNCERTAIN = "[market]\nalgo_gain = { ci90 = [0.5, 2] }\nhardware_decline = { ci90 = [0.2, 0.5] }\n"


def test_correlation_matrix_not_square(minimal_file, write):
    text = error_text(scenario(write, UNCERTAIN + CORR + "matrix = [[1, 0.2, 0.1], [0.2, 1, 0.1]]\n"))
    assert "correlation.matrix: must be square 2 x 2 to match inputs (got shape (2, 3))" in text


def test_correlation_matrix_asymmetric(minimal_file, write):
    text = error_text(scenario(write, UNCERTAIN + CORR + "matrix = [[1, 0.2], [0.3, 1]]\n"))
    assert "correlation.matrix: not symmetric: [0][1] = 0.2 but [1][0] = 0.3" in text


def test_correlation_names_unknown_input(minimal_file, write):
    body = UNCERTAIN + '[correlation]\ninputs = ["market.algo_gian", "market.hardware_decline"]\nmatrix = [[1, 0.2], [0.2, 1]]\n'
    assert "correlation.inputs: unknown input 'market.algo_gian' (did you mean 'market.algo_gain'?)" in error_text(
        scenario(write, body)
    )


def test_correlation_of_a_point_value_is_refused(minimal_file, write):
    body = "[market]\nalgo_gain = { ci90 = [0.5, 2] }\n" + CORR + "matrix = [[1, 0.2], [0.2, 1]]\n"
    assert "'market.hardware_decline' is a point value" in error_text(scenario(write, body))


def test_non_psd_correlation_is_repaired_with_a_warning(minimal_file, write):
    body = (
        "[market]\nalgo_gain = { ci90 = [0.5, 2] }\nhardware_decline = { ci90 = [0.2, 0.5] }\n"
        "reasoning_growth = { ci90 = [0.1, 1] }\n[correlation]\n"
        'inputs = ["market.algo_gain", "market.hardware_decline", "market.reasoning_growth"]\n'
        "matrix = [[1, 0.9, 0.9], [0.9, 1, -0.9], [0.9, -0.9, 1]]\n"
    )
    with pytest.warns(PriorWarning, match=r"not positive semi-definite; repaired .*moved \d"):
        priors = load(scenario(write, body))
    assert priors.correlation.repair_distance > 0.1
    import numpy as np

    assert np.linalg.eigvalsh(priors.correlation.pearson).min() > -1e-9


def test_company_of_unknown_kind(minimal_file, write):
    text = error_text(scenario(write, '[companies.newco]\nkind = "bank"\n'))
    assert "companies.newco.kind: unknown company kind 'bank'; allowed: lab, neocloud, hyperscaler" in text


def test_company_key_not_in_its_kind(minimal_file, write):
    text = error_text(scenario(write, "[companies.alab]\nfleet0 = 3\n"))
    assert "companies.alab.fleet0: unknown key 'fleet0'" in text


def test_include_cycle(write):
    write("a.toml", 'include = "b.toml"\n')
    b = write("b.toml", 'include = "a.toml"\n')
    text = error_text(b)
    assert "include cycle:" in text and "a.toml ->" in text and "b.toml" in text


def test_missing_include_names_the_including_file(write):
    text = error_text(write("a.toml", 'include = "nope.toml"\n'))
    assert "nope.toml: file not found (included from" in text


def test_toml_syntax_error_has_line_number(write):
    path = write("broken.toml", 'name = "x"\nas_of = 2026-06-30\n[market\nalgo_gain = 1\n')
    text = error_text(path)
    assert "broken.toml: TOML syntax error" in text and "line 3" in text


def test_number_without_source_is_an_error_in_strict_mode(write, minimal_file):
    path = write("strict.toml", 'include = "minimal.toml"\n[market]\nalgo_gain = 1.0\n')
    # The override is in a file without any source, so the fixture's top-level source does not cover it.
    with pytest.raises(PriorError, match=r"strict.toml: market.algo_gain: no source and as_of; add source"):
        load_priors(path)
    load_priors(path, require_sources=False)


def test_all_problems_reported_at_once(minimal_file, write):
    with pytest.raises(PriorError) as info:
        load(scenario(write, "[market]\nalgo_gain = -1\nfoo = 1\n[funding.raise_prob]\nboom = 2\n"))
    keys = {p.key for p in info.value.problems}
    assert {"market.foo", "funding.raise_prob.boom"} <= keys


def test_priors_are_frozen(minimal_file):
    priors = load(minimal_file)
    with pytest.raises(AttributeError):
        priors.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        priors.inputs["x"] = None  # type: ignore[index]
    with pytest.raises(ValueError):
        priors.counterparty[0, 0] = 1.0


def test_cli_exits_2_with_the_message_and_no_traceback(minimal_file, write):
    path = scenario(write, '[market]\nalgo_gain = { dist = "gamma" }\n')
    proc = subprocess.run(
        [sys.executable, "-m", "mc_engine.cli", "priors", "check", str(path), "--allow-unsourced"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert "unknown distribution family 'gamma'" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_cli_check_prints_every_input(minimal_file):
    proc = subprocess.run(
        [sys.executable, "-m", "mc_engine.cli", "priors", "check", str(minimal_file)],
        capture_output=True, text=True, check=False, env={"COLUMNS": "250", **__import__("os").environ},
    )
    assert proc.returncode == 0, proc.stderr
    assert "companies.alab.revenue0" in proc.stdout and "is valid" in proc.stdout


def test_scenario_row_override_is_covered_by_the_scenarios_own_table_source(write, minimal_file):
    path = write(
        "rows.toml",
        'include = "minimal.toml"\n[regime]\nsource = "scenario: drought"\nas_of = 2026-07-01\n'
        "[regime.initial]\nboom = 0.1\nnormal = 0.3\nwinter = 0.6\n",
    )
    priors = load_priors(path)
    assert priors.regime_initial.tolist() == [0.1, 0.3, 0.6]
    bare = write("bare.toml", 'include = "minimal.toml"\n[regime.initial]\nboom = 0.1\nnormal = 0.3\nwinter = 0.6\n')
    with pytest.raises(PriorError, match=r"bare.toml: regime.initial: no source"):
        load_priors(bare)
