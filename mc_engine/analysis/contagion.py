"""Contagion: how a host's survival differs in the futures where its client defaults.

The run's reductions have no joint outcomes of two companies, so this uses the
thin sample: the first ``path`` raw futures of the run (``path_status``, at most
one key block), the same futures for every company. For every pair with
``W[client, host] > 0`` it compares the host's survival to the horizon among
sampled futures where the client defaulted by the horizon with those where it did
not. The difference mixes the counterparty channel with the shocks the two share
(a winter hurts both); the sample size and a binomial standard error are given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..output.standard_errors import binomial_se


@dataclass(frozen=True)
class Exposure:
    """One client -> host exposure and the host's survival with and without the client's default.

    Attributes:
        client, host: company ids.
        share: ``W[client, host]``, share of the client's compute spend paid to the host.
        n_paths: futures in the thin sample.
        n_client_default: sampled futures where the client defaulted by the horizon.
        host_survival_if_default: P(host alive at the horizon | client defaulted), NaN without a default.
        host_survival_otherwise: P(host alive at the horizon | client did not default), NaN if it always did.
        change: the first minus the second (NaN when either is undefined).
        change_se: binomial standard error of ``change``.
    """

    client: str
    host: str
    share: float
    n_paths: int
    n_client_default: int
    host_survival_if_default: float
    host_survival_otherwise: float
    change: float
    change_se: float


def _rate(x: np.ndarray) -> tuple[float, float]:
    """Mean of a boolean sample and its binomial standard error (NaN, 0 when empty)."""
    if x.size == 0:
        return math.nan, 0.0
    p = float(x.mean())
    return p, float(binomial_se(p, x.size))


def exposures(ds: xr.Dataset, counterparty: np.ndarray, company_ids: tuple[str, ...]) -> list[Exposure]:
    """Every ``W[client, host] > 0`` pair with the host's conditional survival in the thin sample.

    Args:
        ds: a run Dataset with ``path_status`` (path, quarter, company).
        counterparty: ``W`` in the order of ``company_ids``, shape (companies, companies).
        company_ids: the priors' company order.
    """
    ids = [str(c) for c in ds.company.values]
    final = ds.path_status.isel(quarter=-1).transpose("path", "company").values  # (path, company)
    out = []
    for i, client in enumerate(company_ids):
        for j, host in enumerate(company_ids):
            share = float(counterparty[i, j])
            if share <= 0 or client not in ids or host not in ids:
                continue
            defaulted = final[:, ids.index(client)] == 1
            host_alive = final[:, ids.index(host)] == 0
            p1, se1 = _rate(host_alive[defaulted])
            p0, se0 = _rate(host_alive[~defaulted])
            out.append(Exposure(client, host, share, int(final.shape[0]), int(defaulted.sum()), p1, p0, p1 - p0,
                                math.hypot(se1, se0)))
    return out
