"""The NumPy reference model against scalar arithmetic done by hand from docs/model.md.

Everything is a point value, every volatility is 0, the regime is pinned to normal and
the shocks are pinned (normals 0, uniforms 0.5: an event happens iff its probability is
above 0.5), so each quarter can be written out with plain floats and ``math``. The
numbers are chosen to be realistic and to exercise: a funding round (lab, quarter 1), a
binding commitment floor (lab, quarters 1, 5 and 6), a training cut (lab, quarter 6),
debt repayment (refinance_prob 0.45 < 0.5), capex scaled down to the cash a neocloud
has (quarters 3-5) and a covenant breach that resets (neocloud, quarter 2).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w
from conftest import minimal_tree
from reference_model import COMPANY_KEYS, EXTRA_KEYS, MARKET_KEYS, simulate_reference

from mc_engine.inputs.loader import Priors, load_priors

QUARTERS = 6
RTOL = 1e-9
REGIMES = ("boom", "normal", "winter")


V2_MARKET_POINTS: dict[str, Any] = {
    "hardware_decline": 0.3, "hardware_decline_inf": 0.2, "hardware_decline_speed": 0.5,
    "hardware_decline_rate_vol": 0.0,
    "algo_gain": 0.5, "algo_gain_inf": 0.3, "algo_gain_speed": 0.4, "algo_gain_rate_vol": 0.0,
    "reasoning_growth": 0.4, "reasoning_growth_inf": 0.1, "reasoning_growth_speed": 0.8,
    "reasoning_growth_rate_vol": 0.0,
    "price_war_drift": 0.1, "price_war_drift_inf": 0.0, "price_war_drift_speed": 1.0, "price_war_drift_rate_vol": 0.0,
    "price_pass_through": 0.6, "price_war": {"boom": -0.1, "normal": 0.0, "winter": 0.3},
    "rent_markup": {"boom": 0.1, "normal": -0.05, "winter": -0.4}, "rent_markup_speed": 1.0,
    "spend_ceiling": 3.0, "modelled_share": 0.5,
    "capacity_growth0": 0.8, "capacity_growth_inf": 0.3, "capacity_growth_decay": 0.5, "capacity_response": 0.5,
    "utilisation_gap": 0.5, "provider_elasticity": 1.1, "price_floor": 0.1, "price_floor_speed": 2.0,
}  # fmt: skip
"""Model v2 market inputs (trend rates, rent markup, spend ceiling, shares, capacity) as point values."""


def hand_tree() -> dict[str, Any]:
    """A prior tree with every input a point value, no volatility and the regime pinned to normal."""
    tree = minimal_tree()
    tree["market"].update({
        **V2_MARKET_POINTS, "hardware_vol": 0.0, "algo_vol": 0.0, "reasoning_vol": 0.0, "price_vol": 0.0,
        "rental_vol": 0.0, "demand_growth0": 1.0, "demand_growth_inf": 0.3, "demand_growth_decay": 0.5,
        "demand_shift": {"boom": 0.2, "normal": 0.05, "winter": -0.3}, "price_elasticity": 0.5,
        "demand_vol": 0.0, "utilisation0": 0.8, "utilisation_mean": 0.75, "utilisation_speed": 1.0,
        "utilisation_shift": {"boom": 0.5, "normal": 0.1, "winter": -1.0}, "utilisation_vol": 0.0,
    })  # fmt: skip
    tree["funding"].update({
        "raise_prob": {"boom": 0.9, "normal": 0.7, "winter": 0.3},
        "round_size": {"boom": 1.3, "normal": 1.0, "winter": 0.6},
        "valuation": {"boom": 1.5, "normal": 1.0, "winter": 0.5},
        "credit_spread": {"boom": 0.02, "normal": 0.03, "winter": 0.08},
        "refinance_prob": {"boom": 0.95, "normal": 0.45, "winter": 0.3},
        "base_rate": 0.04, "growth_sensitivity": 0.3, "round_capacity": 150.0,
    })  # fmt: skip
    tree["companies"]["alab"].update({
        "cash0": 30.0, "debt0": 5.0, "rate_spread": 0.04, "tenor": 4.0, "raise_trigger_q": 6.0,
        "min_gap_q": 2.0, "target_runway_q": 8.0, "round_size_sigma": 0.3, "raise_odds": 1.0,
        "revenue_multiple": 25.0, "valuation0": 500.0, "last_round_age0": 1.0, "rescue_prob": 0.3,
        "acquire_prob": 0.2, "revenue0": 40.0, "compute_margin0": 0.4, "share_drift": -0.05,
        "share_vol": 0.0, "training0": 20.0, "training_growth0": 0.8, "training_growth_inf": 0.3,
        "training_growth_decay": 0.5, "training_cut": 0.6, "cut_runway_q": 10.0, "opex0": 8.0,
        "opex_growth": 0.3, "commitments": [70.0, 120.0], "commitment_realisation": 0.9,
        "commitment_renewal": 0.5, "reprice_speed": 1.0, "reprice_max": 0.5, "rescue_capacity": 1000.0,
        "acquire_runway_q": 1.0, "training_revenue_cap": 1.5, "payout_rate": 0.4, "cash_target_q": 6.0,
    })  # fmt: skip
    tree["companies"]["acloud"].update({
        "cash0": 1.3, "debt0": 12.0, "rate_spread": 0.05, "tenor": 5.0, "raise_trigger_q": 4.0,
        "min_gap_q": 2.0, "target_runway_q": 6.0, "round_size_sigma": 0.3, "raise_odds": 0.9,
        "revenue_multiple": 8.0, "valuation0": 20.0, "last_round_age0": 3.0, "rescue_prob": 0.2,
        "acquire_prob": 0.3, "fleet0": 300.0, "fleet_growth0": 0.5, "fleet_growth_inf": 0.1,
        "fleet_growth_decay": 0.4, "gpu_price0": 30.0, "useful_life": 5.0, "contract_share0": 0.7,
        "contract_tau": 3.0, "new_contract_share": 0.6, "contract_price": 2.2, "spot_price0": 1.8,
        "power_cost": 0.25, "opex0": 1.0, "opex_growth": 0.1, "debt_share": 0.7, "max_leverage": 3.4,
        "covenant_quarters": 2.0, "gpu_opex": 0.1, "refinance_headroom": 100.0, "rescue_capacity": 1000.0,
        "capex_committed": 0.3, "acquire_runway_q": 1.0, "payout_rate": 0.2, "cash_target_q": 4.0,
    })  # fmt: skip
    tree["companies"]["ahyper"].update({
        "cash0": 60.0, "debt0": 80.0, "rate_spread": 0.01, "tenor": 8.0, "raise_trigger_q": 4.0,
        "min_gap_q": 2.0, "target_runway_q": 6.0, "round_size_sigma": 0.2, "raise_odds": 1.0,
        "revenue_multiple": 10.0, "valuation0": 2000.0, "last_round_age0": 8.0, "rescue_prob": 0.0,
        "acquire_prob": 0.0, "core_fcf0": 60.0, "core_growth": 0.05, "core_vol": 0.0,
        "core_regime_factor": {"boom": 1.1, "normal": 1.0, "winter": 0.8}, "ai_revenue0": 80.0,
        "ai_compute_margin0": 0.5, "own_chip_discount": 0.2, "share_drift": 0.0, "share_vol": 0.0,
        "ai_capex0": 120.0, "ai_capex_growth0": 0.3, "ai_capex_growth_inf": 0.1,
        "ai_capex_growth_decay": 0.5, "capex_discipline": 0.5, "ai_opex0": 10.0, "opex_growth": 0.05,
        "credit_line": 30.0, "capex_liquidity_draw": 0.2, "bond_access": 0.9, "reprice_speed": 1.0,
        "reprice_max": 0.5, "rescue_capacity": 1000.0, "acquire_runway_q": 1.0, "payout_rate": 0.6,
        "cash_target_q": 2.0,
    })  # fmt: skip
    tree["counterparty"] = {"alab": {"acloud": 0.05, "ahyper": 0.5}}
    tree["regime"] = {
        "initial": {"boom": 0.0, "normal": 1.0, "winter": 0.0},
        "transition": {r: {"boom": 0.0, "normal": 1.0, "winter": 0.0} for r in REGIMES},
    }
    return tree


def write_priors(tree: dict[str, Any], folder: Path) -> Priors:
    path = folder / "hand.toml"
    path.write_bytes(tomli_w.dumps(tree).encode())
    return load_priors(path, require_sources=False)


def point_inputs(priors: Priors, n: int) -> dict[str, np.ndarray]:
    """Every input as its exact float64 point value (the sampler would round them to float32)."""
    assert all(inp.is_point for inp in priors.inputs.values())
    return {name: np.full(n, inp.dist.params[0]) for name, inp in priors.inputs.items()}


# ------------------------------------------------------------------------------------------ by hand


def hand_quarters(tree: dict[str, Any], quarters: int) -> list[dict[str, float]]:
    """Quarters 1..quarters of the market, lab ``alab`` and neocloud ``acloud``, in scalar floats.

    Regime normal throughout, every shock zero, every uniform 0.5. The lab's hosts stay
    alive (checked against the reference by the callers), so it pays no spot premium.
    """
    dt = 0.25
    hours = 2190.0
    cap = 100.0
    m, f = tree["market"], tree["funding"]
    lab, neo, hyp = tree["companies"]["alab"], tree["companies"]["acloud"], tree["companies"]["ahyper"]
    w_lab_neo = tree["counterparty"]["alab"]["acloud"]

    def logit(p: float) -> float:
        return math.log(p / (1 - p))

    def fund(co: dict[str, Any], st: dict[str, float], burn: float, repaid: float, rev: float,
             covenant_breached: bool, breached: bool = False, cure: float = 0.0, due: float = 0.0) -> dict[str, Any]:
        """Section 4 for one company, zero shocks (u = 0.5, z_round = 0); credit_line = 0; not a bond issuer.

        Runway counts the principal falling due (refinanced or not) with the burn; inside the minimum gap the odds scale with the share of
        the gap passed; the acquisition hazard is acquire_prob exp(-runway / acquire_runway_q).
        """
        cash1 = st["cash"] - burn - repaid - cure
        outflow = burn + due
        run1 = cash1 / outflow if outflow > 0 else cap
        gq = 0.5 * st["gq"] + 0.5 * math.log(max(rev, 1e-9) / max(st["rev_prev"], 1e-9))
        attempt = run1 < co["raise_trigger_q"] or breached
        gap = min(max((st["age"] + 1) / co["min_gap_q"], 0.0), 1.0)
        p_raise = min(max(f["raise_prob"]["normal"] * co["raise_odds"]
                          * math.exp(f["growth_sensitivity"] * 4 * gq) * gap, 0.0), 1.0)
        success = attempt and p_raise > 0.5
        size = min(co["target_runway_q"] * max(outflow, 0.0) * f["round_size"]["normal"]
                   * math.exp(-co["round_size_sigma"] ** 2 / 2), f["round_capacity"] * f["round_size"]["normal"])
        value = co["revenue_multiple"] * f["valuation"]["normal"] * 4 * rev
        rescued = attempt and not success and gap >= 1 and co["rescue_prob"] > 0.5  # capacity never binds here
        funded = success or rescued
        cash2 = cash1 + (size if funded else 0.0)
        run2 = max(cash2, 0.0) / outflow if outflow > 0 else cap
        acquired = not funded and co["acquire_prob"] * math.exp(-run2 / co["acquire_runway_q"]) > 0.5
        defaulted = not acquired and (cash2 < 0 or covenant_breached)
        # payout: only in a quarter that generates cash after the principal due, above the target
        if outflow <= 0 and not (funded or acquired or defaulted):
            target = max(co["cash0"], co["cash_target_q"] * max(rev + burn, 0.0))
            cash2 -= co["payout_rate"] * max(cash2 - target, 0.0)
        return {
            "cash": cash2,
            "gq": gq,
            "rev_prev": rev,
            "age": 0.0 if funded else st["age"] + 1,
            "v_last": value if success else st["v_last"],
            "rounds": st["rounds"] + success,
            "raised": st["raised"] + (size if funded else 0.0),
            "down_rounds": st["down_rounds"] + (success and value < st["v_last"]),
            "status": 2.0 if acquired else 1.0 if defaulted else 0.0,
            "runway": min(max(cash2 / outflow, 0.0), cap) if outflow > 0 else cap,
        }

    # market at as_of: every index 1, utilisation at U_0
    ln_h = ln_e = ln_r = ln_c = ln_p = ln_m = ln_d = ln_k = 0.0
    x_u = logit(m["utilisation0"])
    rates = {nm: m[nm] for nm in ("hardware_decline", "algo_gain", "reasoning_growth", "price_war_drift")}
    weight0 = {"lab": lab["revenue0"], "hyp": hyp["ai_revenue0"]}  # the hyperscaler's share index stays 1
    n_0 = (weight0["lab"] + weight0["hyp"]) / m["modelled_share"]
    rate_common = f["base_rate"] + f["credit_spread"]["normal"]
    refinanced = f["refinance_prob"]["normal"] > 0.5

    lab_st = {"cash": lab["cash0"], "gq": 0.0, "rev_prev": lab["revenue0"] / 4, "age": lab["last_round_age0"],
              "v_last": lab["valuation0"], "rounds": 0, "raised": 0.0, "down_rounds": 0, "status": 0.0,
              "runway": cap}
    lab_debt, ln_s, g_train = lab["debt0"], 0.0, 0.0

    fleet = neo["fleet0"]
    contracted = neo["contract_share0"] * fleet
    book = contracted * neo["contract_price"]
    power_book = fleet * (neo["power_cost"] + neo["gpu_opex"])
    neo_rev0 = hours * (book + (fleet - contracted) * m["utilisation0"] * neo["spot_price0"]) / 1e6
    neo_st = {"cash": neo["cash0"], "gq": 0.0, "rev_prev": neo_rev0, "age": neo["last_round_age0"],
              "v_last": neo["valuation0"], "rounds": 0, "raised": 0.0, "down_rounds": 0, "status": 0.0,
              "runway": cap}
    neo_debt, breach, client_share, ltm = neo["debt0"], 0, 0.0, 0.0

    out = []
    for t in range(1, quarters + 1):
        tau = t * dt
        # market
        ln_c_old, ln_p_old, ln_d_old = ln_c, ln_p, ln_d
        q_old = ln_d + ln_e + ln_r  # compute demanded Q = D E R at the end of the last quarter
        ln_h = ln_h - rates["hardware_decline"] * dt
        ln_e = ln_e - rates["algo_gain"] * dt
        ln_r = ln_r + rates["reasoning_growth"] * dt
        ln_c = ln_h + ln_e + ln_r
        below = max(m["price_floor"] - (ln_p - ln_c_old), 0.0)
        d_ln_p = (m["price_pass_through"] * (ln_c - ln_c_old) - (rates["price_war_drift"] + m["price_war"]["normal"]) * dt
                  + m["price_floor_speed"] * dt * below)
        ln_p = ln_p + d_ln_p
        ln_m = ln_m + m["rent_markup_speed"] * dt * (m["rent_markup"]["normal"] - ln_m)
        g = m["demand_growth_inf"] + (m["demand_growth0"] - m["demand_growth_inf"]) * math.exp(
            -m["demand_growth_decay"] * (t - 1) * dt)
        push = (g + m["demand_shift"]["normal"]) * dt + (1 - m["price_elasticity"]) * d_ln_p
        damp = min(max(1 - math.exp(ln_d_old + ln_p_old) / m["spend_ceiling"], -1.0), 1.0)
        ln_spend = ln_d_old + ln_p_old + (push * damp if push > 0 else push)
        ln_d = ln_spend - ln_p
        c_growth = m["capacity_growth_inf"] + (m["capacity_growth0"] - m["capacity_growth_inf"]) * math.exp(
            -m["capacity_growth_decay"] * (t - 1) * dt)
        ln_k = ln_k + (c_growth + m["capacity_response"] * (q_old - ln_k)) * dt
        target = (logit(m["utilisation_mean"]) + m["utilisation_shift"]["normal"]
                  + m["utilisation_gap"] * (ln_d + ln_e + ln_r - ln_k))
        x_u = x_u + m["utilisation_speed"] * dt * (target - x_u)
        for nm in rates:
            rates[nm] = m[f"{nm}_inf"] + (rates[nm] - m[f"{nm}_inf"]) * math.exp(-m[f"{nm}_speed"] * dt)
        H, C, P, G, D = math.exp(ln_h), math.exp(ln_c), math.exp(ln_p), math.exp(ln_h + ln_m), math.exp(ln_d)
        U = 1 / (1 + math.exp(-x_u))

        # lab: debt, then revenue and compute
        interest = lab_debt * (rate_common + lab["rate_spread"]) * dt
        lab_due = lab_debt * dt / lab["tenor"]
        repaid = 0.0 if refinanced else lab_due
        lab_debt -= repaid
        ln_s += lab["share_drift"] * dt
        # share of market spend: the lab's weight against the hyperscaler's and the rest of the market
        s = math.exp(ln_s) * n_0 / (n_0 - weight0["lab"] - weight0["hyp"] + weight0["lab"] * math.exp(ln_s)
                                    + weight0["hyp"])
        rev = lab["revenue0"] / 4 * D * P * s
        serve = lab["revenue0"] / 4 * (1 - lab["compute_margin0"]) * D * s * C * m["utilisation0"] / U
        g_train += (lab["training_growth_inf"] + (lab["training_growth0"] - lab["training_growth_inf"])
                    * math.exp(-lab["training_growth_decay"] * (t - 1) * dt)) * dt
        plan_training = lab["training0"] / 4 * math.exp(g_train)
        cut = lab_st["runway"] < lab["cut_runway_q"]
        train = min(plan_training, lab["training_revenue_cap"] * rev) * (lab["training_cut"] if cut else 1.0)
        opex = lab["opex0"] / 4 * math.exp(lab["opex_growth"] * tau)
        # commitments: linear between year centres, then commitment_renewal x the last year
        sched = lab["commitments"]
        x_year = max((t - 0.5) / 4 - 0.5, 0.0)
        i_year = int(math.floor(x_year))

        def level(j: int, sched: list[float] = sched) -> float:
            return sched[j] if j < len(sched) else lab["commitment_renewal"] * sched[-1]

        yearly = level(i_year) + (x_year - i_year) * (level(i_year + 1) - level(i_year))
        commit = lab["commitment_realisation"] * yearly / 4
        need = serve + train
        base = max(need, commit)
        lab_burn = base + opex + interest - rev
        lab_gm = (rev - serve) / rev
        lab_st = fund(lab, lab_st, lab_burn, repaid, rev, covenant_breached=False, due=lab_due)

        # neocloud: debt, fleet, revenue with the lab's payment, covenant
        n_interest = neo_debt * (rate_common + neo["rate_spread"]) * dt
        n_due = neo_debt * dt / neo["tenor"]
        n_repaid = 0.0 if refinanced else n_due
        neo_debt -= n_repaid
        life = neo["useful_life"]
        g_fleet = neo["fleet_growth_inf"] + (neo["fleet_growth0"] - neo["fleet_growth_inf"]) * math.exp(
            -neo["fleet_growth_decay"] * (t - 1) * dt)
        plan = fleet * (math.exp(g_fleet * dt) - 1 + dt / life)
        capex_star = plan * neo["gpu_price0"] * H / 1000
        afford = min(max(neo_st["cash"] / ((1 - neo["debt_share"]) * capex_star), 0.0), 1.0)
        scale = neo["capex_committed"] + (1 - neo["capex_committed"]) * afford
        new = plan * scale
        capex = capex_star * scale
        draw = neo["debt_share"] * capex
        roll = math.exp(-dt / neo["contract_tau"]) * (1 - dt / life)
        fleet = fleet * (1 - dt / life) + new
        power_book = power_book * (1 - dt / life) + new * (neo["power_cost"] + neo["gpu_opex"]) * H
        contracted = contracted * roll + neo["new_contract_share"] * new
        book = book * roll + neo["new_contract_share"] * new * neo["contract_price"] * G
        own = hours * (book + (fleet - contracted) * U * neo["spot_price0"] * G) / 1e6
        flow = w_lab_neo * base  # the lab was alive at the end of the previous quarter
        if t == 1:
            client_share = min(max(flow / own, 0.0), 1.0)
        n_rev = own * (1 - client_share) + flow
        power = hours * power_book / 1e6
        n_opex = neo["opex0"] / 4 * math.exp(neo["opex_growth"] * tau)
        ebitda = n_rev - power - n_opex
        n_burn = power + n_opex + n_interest + capex - draw - n_rev
        neo_debt += draw
        # covenant: debt above the limit is first prepaid from cash beyond one quarter of costs (the cure)
        ltm = 4 * ebitda if t == 1 else ltm + (4 * ebitda - ltm) / 4  # trailing EBITDA
        limit = neo["max_leverage"] * max(ltm, 0.0)
        spare = max(neo_st["cash"] - n_repaid - n_burn - (power + n_opex), 0.0)
        cure = min(max(neo_debt - limit, 0.0), spare)
        neo_debt -= cure
        leverage = neo_debt / (4 * ebitda) if ebitda > 0 else math.inf
        breached = neo_debt > limit
        breach = breach + 1 if breached else 0
        neo_st = fund(neo, neo_st, n_burn, n_repaid, n_rev, covenant_breached=breach >= neo["covenant_quarters"],
                      breached=breached, cure=cure, due=n_due)

        out.append({
            "H": H, "C": C, "P": P, "G": G, "D": D, "U": U,
            "lab_rev": rev, "lab_serve": serve, "lab_need": need, "lab_commit": commit, "lab_base": base,
            "lab_cut": cut, "lab_burn": lab_burn, "lab_gm": lab_gm, "lab_debt": lab_debt,
            **{f"lab_{k}": v for k, v in lab_st.items()},
            "neo_scale": scale, "neo_fleet": fleet, "neo_rev": n_rev, "neo_burn": n_burn, "neo_debt": neo_debt,
            "neo_leverage": leverage, "neo_breach": breach, "neo_cure": cure, "neo_gm": (n_rev - power) / n_rev,
            **{f"neo_{k}": v for k, v in neo_st.items()},
        })  # fmt: skip
    return out


# ------------------------------------------------------------------------------------------ tests


def close(a: float, b: float) -> bool:
    return a == pytest.approx(b, rel=RTOL, abs=1e-12)


def test_trace_keys_and_shapes(tmp_path):
    priors = write_priors(hand_tree(), tmp_path)
    tr = simulate_reference(priors, point_inputs(priors, 3), 5, np.random.default_rng(0), shocks="zero")
    for key in MARKET_KEYS:
        assert tr[key].shape == (5, 3), key
    for key in (*COMPANY_KEYS, *EXTRA_KEYS):
        assert tr[key].shape == (5, 3, 3), key
    for val in tr.values():
        assert val.dtype == np.float64
        assert np.all(np.isfinite(val))
    assert np.all(tr["regime"] == 1)


def test_lab_and_neocloud_match_hand_arithmetic(tmp_path):
    tree = hand_tree()
    priors = write_priors(tree, tmp_path)
    assert priors.company_ids == ("alab", "acloud", "ahyper")
    tr = simulate_reference(priors, point_inputs(priors, 2), QUARTERS, np.random.default_rng(0), shocks="zero")
    hand = hand_quarters(tree, QUARTERS)
    lab, neo = 0, 1
    # the hosts stay alive, so the lab pays its contracts (hand_quarters assumes it)
    assert np.all(tr["status"][:, :, 1:] == 0)

    # the scenario exercises what it is meant to
    assert [q["lab_rounds"] for q in hand] == [1, 1, 1, 1, 2, 2]  # rounds in quarters 1 and 5
    assert hand[0]["lab_raised"] > 40
    # the commitment floor binds every quarter, interpolated between the year-1 and year-2 levels
    assert all(q["lab_commit"] > q["lab_need"] for q in hand)
    assert hand[0]["lab_commit"] == hand[1]["lab_commit"] < hand[2]["lab_commit"] < hand[5]["lab_commit"]
    assert [q["lab_cut"] for q in hand] == [False] * 4 + [True, False]  # runway_4 < 10: training cut in 5
    assert all(q["lab_gm"] > 0 for q in hand)  # so the price premium stays 0 (repricing targets negative margins)
    # covenant: quarter 1 is cured in part from cash and the breach prompts a cure round; quarters 2-3 cure
    # from cash (trailing EBITDA lags) with no breach left
    assert hand[0]["neo_cure"] > 0 and hand[1]["neo_cure"] > 0 and hand[2]["neo_cure"] > 0 == hand[3]["neo_cure"]
    assert [q["neo_breach"] for q in hand[:4]] == [1, 0, 0, 0]
    assert hand[0]["neo_rounds"] == 1 and hand[0]["neo_scale"] == 1

    for t, q in enumerate(hand):
        for key in ("H", "C", "P", "G", "D", "U"):
            assert close(tr[key][t, 0], q[key]), (t + 1, key)
        for key, hkey in (("cash", "lab_cash"), ("debt", "lab_debt"), ("burn", "lab_burn"),
                          ("revenue", "lab_rev"), ("base", "lab_base"), ("runway", "lab_runway"),
                          ("rounds", "lab_rounds"), ("raised", "lab_raised"), ("status", "lab_status"),
                          ("down_rounds", "lab_down_rounds"), ("gross_margin", "lab_gm")):
            assert close(tr[key][t, 0, lab], q[hkey]), (t + 1, "lab", key, tr[key][t, 0, lab], q[hkey])
        for key, hkey in (("cash", "neo_cash"), ("debt", "neo_debt"), ("fleet", "neo_fleet"),
                          ("burn", "neo_burn"), ("revenue", "neo_rev"), ("status", "neo_status"),
                          ("gross_margin", "neo_gm"), ("runway", "neo_runway")):
            assert close(tr[key][t, 0, neo], q[hkey]), (t + 1, "neo", key, tr[key][t, 0, neo], q[hkey])
    # both paths are the same scenario
    for key in COMPANY_KEYS:
        np.testing.assert_array_equal(tr[key][:, 0], tr[key][:, 1])


def test_lab_default_stops_its_payments_and_hosts_recover_at_spot(tmp_path):
    """A lab that defaults in quarter 1 pays nothing from quarter 2; each host gets back rho_t W base_1."""
    tree = hand_tree()
    tree["funding"]["raise_prob"]["normal"] = 0.0
    tree["companies"]["alab"].update({"rescue_prob": 0.0, "acquire_prob": 0.0})
    # capex never limited by cash (the fleet is the same in both runs), and no covenant default
    tree["companies"]["acloud"].update({"cash0": 5.0, "max_leverage": 10.0})
    # The hyperscaler sells no AI of its own, so its revenue is what the lab pays: the lab's exit
    # moves no market share onto it (shares of spend, docs/model.md 3.0).
    tree["companies"]["ahyper"]["ai_revenue0"] = 0.0
    live_tree = copy.deepcopy(tree)
    live_tree["companies"]["alab"]["cash0"] = 1000.0
    tree["companies"]["alab"]["cash0"] = 0.0
    quarters = 4
    runs = {}
    for name, t in (("dead", tree), ("live", live_tree)):
        folder = tmp_path / name
        folder.mkdir()
        priors = write_priors(t, folder)
        runs[name] = simulate_reference(priors, point_inputs(priors, 1), quarters, np.random.default_rng(0),
                                        shocks="zero")
    dead, live = runs["dead"], runs["live"]
    hand = hand_quarters(live_tree, quarters)  # the lab as it would have been, alive, with no training cut
    lab, neo, hyper = 0, 1, 2

    assert np.all(dead["status"][:, 0, lab] == 1) and np.all(live["status"][:, 0, :] == 0)
    assert np.all(dead["status"][:, 0, 1:] == 0)
    np.testing.assert_array_equal(dead["fleet"][:, 0, neo], live["fleet"][:, 0, neo])
    # the lab defaulted with the cash flows of quarter 1 and keeps them
    repaid_1 = tree["companies"]["alab"]["debt0"] - hand[0]["lab_debt"]
    assert close(dead["cash"][0, 0, lab], 0.0 - hand[0]["lab_burn"] - repaid_1)
    flows = ("burn", "revenue", "gross_margin")
    for key in COMPANY_KEYS:
        after = dead[key][1:, 0, lab]
        expected = 0.0 if key in flows else dead[key][0, 0, lab]  # flows stop, stocks keep their last value
        np.testing.assert_array_equal(after, np.broadcast_to(expected, (quarters - 1,)))
    # quarter 1: the lab still paid
    for host in (neo, hyper):
        assert close(dead["revenue"][0, 0, host], live["revenue"][0, 0, host])

    base_1 = hand[0]["lab_base"]
    w = tree["counterparty"]["alab"]
    neo_params = tree["companies"]["acloud"]
    for t in range(1, quarters):
        q = hand[t]
        assert not q["lab_cut"]
        rho_neo = min(max(q["U"] * q["G"] * neo_params["spot_price0"] / neo_params["contract_price"], 0.0), 1.0)
        rho_hyper = min(max(q["U"] * q["G"], 0.0), 1.0)
        for host, share, rho in ((neo, w["acloud"], rho_neo), (hyper, w["ahyper"], rho_hyper)):
            drop = share * q["lab_base"] - rho * share * base_1
            got = live["revenue"][t, 0, host] - dead["revenue"][t, 0, host]
            assert close(got, drop), (t + 1, host, got, drop)


def test_failed_host_costs_its_client_the_spot_price(tmp_path):
    """A neocloud in breach two quarters running defaults; its client then buys that share at G_t."""
    tree = hand_tree()
    tree["companies"]["acloud"]["max_leverage"] = 2.0
    priors = write_priors(tree, tmp_path)
    tr = simulate_reference(priors, point_inputs(priors, 1), QUARTERS, np.random.default_rng(0), shocks="zero")
    hand = hand_quarters(tree, QUARTERS)
    base = hand_quarters(hand_tree(), QUARTERS)  # the same lab with its host alive
    lab, neo = 0, 1
    assert [q["neo_breach"] for q in hand[:2]] == [1, 2]
    assert [q["neo_status"] for q in hand[:2]] == [0, 1]
    np.testing.assert_array_equal(tr["status"][:, 0, neo], [0] + [1] * (QUARTERS - 1))
    for key in (*COMPANY_KEYS, "fleet"):
        expected = 0.0 if key in ("burn", "revenue", "gross_margin") else tr[key][1, 0, neo]
        np.testing.assert_array_equal(tr[key][2:, 0, neo], np.broadcast_to(expected, (QUARTERS - 2,)))
    assert close(tr["cash"][1, 0, neo], hand[1]["neo_cash"])
    assert close(tr["debt"][1, 0, neo], hand[1]["neo_debt"])
    # quarters 1-2 the lab pays as before; from quarter 3 the neocloud's share is bought at spot
    share = tree["counterparty"]["alab"]["acloud"]
    for t in range(QUARTERS):
        q = base[t]
        extra = 0.0 if t < 2 else share * (q["lab_need"] * q["G"] - q["lab_base"])
        if t < 5:  # the lab's runway (hence its training cut) stays the same up to quarter 5
            assert close(tr["burn"][t, 0, lab], q["lab_burn"] + extra), (t + 1, tr["burn"][t, 0, lab], q)


def test_regime_chain_and_hardware_index_in_distribution(tmp_path, minimal_file):
    """Random shocks: regime shares follow initial @ P^t; ln H_t is normal with the OU closed form.

    The decline rate h is an OU process (h_0 = 0.3 -> h_inf = 0.1 at k = 0.8, rate volatility 0.3) and
    ln H_t = -dt sum_{m<t} h_m + s_h sqrt(dt) sum z: mean -dt sum_m (h_inf + (h_0 - h_inf) e^{-k m dt}),
    variance s_h^2 t dt + s_x^2 dt^3 sum_{j=1}^{t-1} ((1 - e^{-k (t-j) dt}) / (1 - e^{-k dt}))^2.
    """
    tree = minimal_tree()
    h0, h_inf, speed, s_x, s_h = 0.3, 0.1, 0.8, 0.3, 0.4
    tree["market"].update({"hardware_vol": s_h, "hardware_decline": h0, "hardware_decline_inf": h_inf,
                           "hardware_decline_speed": speed, "hardware_decline_rate_vol": s_x})
    tree["regime"]["transition"] = {
        "boom": {"boom": 0.85, "normal": 0.13, "winter": 0.02},
        "normal": {"boom": 0.06, "normal": 0.91, "winter": 0.03},
        "winter": {"boom": 0.02, "normal": 0.18, "winter": 0.80},
    }
    priors = write_priors(tree, tmp_path)
    n, horizon = 20_000, 8
    tr = simulate_reference(priors, point_inputs(priors, n), horizon, np.random.default_rng(7))
    dist = np.asarray(priors.regime_initial)
    for t in range(horizon):
        dist = dist @ np.asarray(priors.regime_transition)
        for k in range(3):
            p_hat = np.mean(tr["regime"][t] == k)
            assert abs(p_hat - dist[k]) < 4 * math.sqrt(dist[k] * (1 - dist[k]) / n) + 1 / n, (t, k)
    dt = 0.25
    decay = math.exp(-speed * dt)
    for t in (1, 2, horizon):
        mean = -dt * sum(h_inf + (h0 - h_inf) * decay**m for m in range(t))
        var = s_h**2 * t * dt + s_x**2 * dt**3 * sum(((1 - decay ** (t - j)) / (1 - decay)) ** 2 for j in range(1, t))
        ln_h = np.log(tr["H"][t - 1])
        assert abs(ln_h.mean() - mean) < 4 * math.sqrt(var / n), (t, ln_h.mean(), mean)
        assert abs(ln_h.var() / var - 1) < 4 * math.sqrt(2 / n), (t, ln_h.var(), var)
