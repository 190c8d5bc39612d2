"""Mergeable reductions computed inside the scan: exact counts, per-block sums, and a histogram sketch.

The quantile sketch is a fixed-edge histogram in a transformed space: for each
(quarter, company, variable) a pilot (the thin sample, the first paths of the
run) gives a centre ``m`` and scale ``s``; values map to ``y = asinh((x - m) / s)``
and fall into ``N_BINS`` equal bins between the pilot's extremes widened by a
margin, plus an underflow and an overflow bin whose outer edges are the exact
minimum and maximum (tracked too). Counts are integers, so merging chunks is
exact and independent of chunk size. Quantiles interpolate linearly inside a
bin; the error is measured in tests/test_sketch.py and docs/engine.md.

Where every pilot value is positive (market indices, revenue, ...), ``m = 0`` and ``s`` is
``POSITIVE_SCALE`` times the pilot's minimum, so ``y ~ log(2 x / s)`` over the whole range: bins are
equal steps in ``log x`` and a lower tail that spans decades toward zero keeps the same relative
resolution as the bulk. (Centred on the median, ``asinh((x - m) / s)`` tends to the constant
``asinh(-m / s)`` as ``x -> 0``: every value far below the median fell into the one bin that straddles
``x = 0``, and interpolating inside it gave quantiles near or below zero, clipped to the exact minimum.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

N_BINS: int = 4096
"""Interior bins per sketch (plus underflow and overflow)."""
MARGIN: float = 0.25
"""Pilot range in y is widened by this fraction on each side (for a pilot of 1,000 values; more for fewer,
see :func:`_margin`)."""
ATOM_SHARE: float = 0.01
"""A pilot value repeated in at least this share of the cell's pilot values (and at least 5 times) is an
atom: counted apart from the histogram and reported exactly (a debt of exactly 0, a burn of exactly 0)."""
POSITIVE_SCALE: float = 1e-3
"""For cells whose pilot values are all positive: ``s`` as a fraction of the pilot minimum, so ``asinh(x / s)``
is within 1e-6 of ``log(2 x / s)`` from the pilot minimum up (and log-like down to ~``10 s``)."""

COMPANY_VARS: tuple[str, ...] = ("cash", "burn", "revenue", "gross_margin", "runway", "debt")
"""Per-company quantities sketched each quarter among alive companies."""


def pilot_edges(values: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """Sketch parameters from pilot values.

    Args:
        values: pilot values, shape (paths, *cells).
        alive: which values count, same shape (all True for market indices).

    Returns:
        (*cells, 5) float32: centre ``m``, scale ``s``, the sketch's ``y`` range ``lo, hi``, and the atom
        (NaN where the pilot has none, see ``ATOM_SHARE``).
    """
    x = np.where(alive, values, np.nan).astype(np.float64)
    with np.errstate(all="ignore"), _quiet():
        m = np.nanmedian(x, axis=0)
        q25, q75 = np.nanpercentile(x, 25, axis=0), np.nanpercentile(x, 75, axis=0)
        xmin, xmax = np.nanmin(x, axis=0), np.nanmax(x, axis=0)
    empty = ~np.isfinite(m)
    m = np.where(empty, 0.0, m)
    s = np.maximum.reduce([(q75 - q25) / 2, 1e-6 * np.abs(m), np.full_like(m, 1e-9)])
    s = np.where(np.isfinite(s), s, 1.0)
    # Positive cells: log-spaced bins (see the module docstring). The scale stays a normal float32.
    positive = ~empty & (np.nan_to_num(xmin, nan=-1.0) > 0)
    m = np.where(positive, 0.0, m)
    s = np.where(positive, np.maximum(POSITIVE_SCALE * np.where(positive, xmin, 1.0), 1e-30), s)
    ylo = np.where(empty, -10.0, np.arcsinh((np.nan_to_num(xmin) - m) / s))
    yhi = np.where(empty, 10.0, np.arcsinh((np.nan_to_num(xmax) - m) / s))
    width = np.maximum(yhi - ylo, 1e-3)
    margin = _margin(np.sum(alive, axis=0)) * width
    return np.stack([m, s, ylo - margin, yhi + margin, _pilot_atom(x)], axis=-1).astype(np.float32)


def cell_pilot_edges(x: jax.Array, alive: jax.Array) -> jax.Array:
    """:func:`pilot_edges` inside a program, in float32: ``x`` and ``alive`` cell-major (cells, n) -> (cells, 5).

    A chunk takes its edges from its own first paths this way (see :class:`chunk.ChunkReducer`), so the run's
    first chunk is also its pilot. Same rules as :func:`pilot_edges` (median, quartiles by linear
    interpolation, extremes, the atom as the most repeated value), float32 instead of float64:
    tests/test_sketch.py compares the two."""
    x = jnp.where(alive & (x != 0), x, jnp.where(alive, 0.0, jnp.nan))  # -0.0 as 0.0: np.unique merges them
    # Sorted as integers that order as the floats do (4x faster than XLA's float sort on CPU), NaN last.
    keys = jax.lax.sort(_order_key(x), dimension=1, is_stable=False)
    xs = _from_order_key(keys)
    k = (~jnp.isnan(x)).sum(1)
    last = jnp.maximum(k - 1, 0)

    def quantile(q: float) -> jax.Array:
        pos = q * last.astype(jnp.float32)
        lo = jnp.floor(pos).astype(jnp.int32)
        hi = jnp.minimum(lo + 1, last)
        a, b = (jnp.take_along_axis(xs, i[:, None], 1)[:, 0] for i in (lo, hi))
        return a + (b - a) * (pos - lo)

    nothing = k == 0
    m = jnp.where(nothing, jnp.nan, quantile(0.5))
    q25, q75 = quantile(0.25), quantile(0.75)
    xmin = jnp.where(nothing, jnp.nan, xs[:, 0])
    xmax = jnp.where(nothing, jnp.nan, jnp.take_along_axis(xs, last[:, None], 1)[:, 0])
    empty = ~jnp.isfinite(m)
    m = jnp.where(empty, 0.0, m)
    s = jnp.maximum(jnp.maximum((q75 - q25) / 2, 1e-6 * jnp.abs(m)), 1e-9)
    s = jnp.where(jnp.isfinite(s), s, 1.0)
    positive = ~empty & (jnp.nan_to_num(xmin, nan=-1.0) > 0)
    m = jnp.where(positive, 0.0, m)
    s = jnp.where(positive, jnp.maximum(POSITIVE_SCALE * jnp.where(positive, xmin, 1.0), 1e-30), s)
    ylo = jnp.where(empty, -10.0, asinh((jnp.nan_to_num(xmin) - m) / s))
    yhi = jnp.where(empty, 10.0, asinh((jnp.nan_to_num(xmax) - m) / s))
    margin = _cell_margin(alive.sum(1), x.shape[1]) * jnp.maximum(yhi - ylo, 1e-3)
    return jnp.stack([m, s, ylo - margin, yhi + margin, _cell_atom(xs, keys, k)], axis=-1).astype(jnp.float32)


def _order_key(x: jax.Array) -> jax.Array:
    """int32 keys that sort as the float32 values ``x`` do, every NaN last (as one positive NaN)."""
    i = jax.lax.bitcast_convert_type(jnp.where(jnp.isnan(x), jnp.nan, x), jnp.int32)
    return jnp.where(i < 0, i ^ 0x7FFFFFFF, i)


def _from_order_key(key: jax.Array) -> jax.Array:
    """The float32 values of :func:`_order_key`'s keys (the map is its own inverse)."""
    return jax.lax.bitcast_convert_type(jnp.where(key < 0, key ^ 0x7FFFFFFF, key), jnp.float32)


def _cell_atom(xs: jax.Array, keys: jax.Array, k: jax.Array) -> jax.Array:
    """:func:`_pilot_atom` of sorted cell-major values ``xs`` (cells, n; the ``k`` counted ones first), with
    their sorted :func:`_order_key` keys.

    Each value's count is the width of its run of equal keys (two binary searches of the sorted row; no
    scatter, no cumulative op); the first position with the largest count starts the first longest run (the
    smallest value among ties, as ``np.unique``'s order gives)."""
    n = xs.shape[1]
    left, right = (jax.vmap(lambda row, side=side: jnp.searchsorted(row, row, side=side))(keys)
                   for side in ("left", "right"))
    count = jnp.where(jnp.arange(n)[None] < k[:, None], right - left, 0)
    at = jnp.argmax(count, axis=1)[:, None]
    value = jnp.take_along_axis(xs, at, 1)[:, 0]
    enough = jnp.take_along_axis(count, at, 1)[:, 0] >= jnp.maximum(5, ATOM_SHARE * k)
    return jnp.where(enough & (k > 0), value, jnp.nan)


def _cell_margin(count: jax.Array, n: int) -> jax.Array:
    """:func:`_margin` in a program: looked up in a table of ``n + 1`` counts made on the host (float64,
    then float32), so no inverse normal is compiled."""
    return jnp.asarray(_margin(np.arange(n + 1)), jnp.float32)[count]


def _pilot_atom(x: np.ndarray) -> np.ndarray:
    """Most repeated value of each cell of ``x`` (paths, *cells; NaN = not counted) if it is an atom, else NaN."""
    flat = x.reshape(x.shape[0], -1)
    out = np.full(flat.shape[1], np.nan)
    for i in range(flat.shape[1]):
        v = flat[:, i][np.isfinite(flat[:, i])]
        if len(v) == 0:
            continue
        values, counts = np.unique(v.astype(np.float32), return_counts=True)
        k = int(np.argmax(counts))
        if counts[k] >= max(5, ATOM_SHARE * len(v)):
            out[i] = values[k]
    return out.reshape(x.shape[1:])


def _margin(count: np.ndarray) -> np.ndarray:
    """Widening of the pilot's y range, per side, as a fraction of it, for pilots of ``count`` values.

    The extremes of a small pilot sit nearer the centre: for a normal, the largest of ``k`` values is near
    ``z_k = Phi^-1(1 - 1 / (k + 1))``, and reaching the 1-in-1e7 point ``z = 5.2`` takes ``(5.2 - z_k) / z_k``
    of the half-range more. ``MARGIN`` is kept at ``k = 1000`` and scaled by that ratio (x1.8 at 100 values,
    e.g. a company alive in a tenth of the pilot; x4.2 at 10), never below ``MARGIN`` and at most x16."""
    from statistics import NormalDist

    normal = NormalDist()
    far = normal.inv_cdf(1 - 1e-7)

    def reach(k: float) -> float:
        z = normal.inv_cdf(1 - 1 / (k + 1))
        return (far - z) / z

    ratio = np.vectorize(lambda k: reach(max(float(k), 2.0)) / reach(1000.0), otypes=[np.float64])(count)
    return MARGIN * np.clip(ratio, 1.0, 16.0)


class _quiet:
    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)


def asinh(v: jax.Array) -> jax.Array:
    """``arcsinh`` as ``log(|v| + sqrt(v^2 + 1))`` with the sign restored: 2.2x faster than XLA's CPU arcsinh
    in the reducer, within 5e-6 of float64 arcsinh (as XLA's is). Beyond |v| = 1e18, where ``v^2`` would
    overflow float32, ``log(|v| / 1e18)`` is added, so the map stays increasing on every finite float."""
    a = jnp.abs(v)
    s = jnp.minimum(a, 1e18)
    return jnp.copysign(jnp.log(s + jnp.sqrt(s * s + 1)) + jnp.log(jnp.maximum(a * 1e-18, 1.0)), v)


def bin_index(x: jax.Array, edges: jax.Array) -> jax.Array:
    """Sketch bin of each value: 0 underflow, 1..N_BINS interior, N_BINS + 1 overflow.

    ``x`` (paths, *cells), ``edges`` (*cells, 5) as from :func:`pilot_edges`.
    """
    return _by_cells(lambda xc: cell_bins(xc, edges.reshape(-1, edges.shape[-1])), x)


def cell_major(x: jax.Array) -> jax.Array:
    """(paths, *cells) -> (cells, paths): the layout the sketch works in (each cell's values contiguous)."""
    return jnp.moveaxis(x.reshape(x.shape[0], -1), 0, 1)


def _by_cells(fn, x: jax.Array) -> jax.Array:  # noqa: ANN001
    """``fn`` of the cell-major ``x``, its (cells, paths) result put back as (paths, *cells)."""
    return jnp.moveaxis(fn(cell_major(x)), 1, 0).reshape(x.shape)


def cell_bins(x: jax.Array, edges: jax.Array) -> jax.Array:
    """:func:`bin_index` of cell-major values: ``x`` (cells, paths), ``edges`` (cells, 5) -> (cells, paths) int32.

    Cell-major, the per-cell edges broadcast along the contiguous path axis: 3x faster than the same
    arithmetic on (paths, companies, variables) arrays, same bits."""
    m, s, lo, hi = (edges[:, i, None] for i in range(4))
    y = asinh((x - m) / s)
    # Clip before the cast: a value past float32 range after scaling (y = +-inf) must not wrap around.
    pos = jnp.clip(jnp.floor((y - lo) / (hi - lo) * N_BINS), -1, N_BINS) + 1
    return pos.astype(jnp.int32)


ATOM_SLOT: int = N_BINS + 2
"""Slot of :func:`cell_counts` that counts values equal to the cell's atom (left out of the histogram)."""
SPARE_SLOT: int = N_BINS + 3
"""Slot of :func:`cell_counts` that takes the values not counted (weight false, or NaN); dropped."""


def cell_counts(x: jax.Array, weight: jax.Array, edges: jax.Array) -> jax.Array:
    """Counts per cell and slot, int32 (cells, N_BINS + 4), of cell-major ``x`` (cells, paths): slots
    0..N_BINS + 1 are the histogram (see :func:`cell_bins`), ``ATOM_SLOT`` the values equal to the cell's atom
    (``edges[:, 4]``; none where it is NaN), ``SPARE_SLOT`` the values not counted (``weight`` false, or NaN).

    One scatter of the flat slot index ``cell * (N_BINS + 4) + slot`` in cell-major order: the adds of one
    cell (a 16 KB row of counts) come one after another, so they stay in L1 cache. Counts are integers, so
    the order of the adds does not matter. (A loop over cells, one scatter each, needed a (paths, 2) index
    array per cell and ran 1.8x slower; one scatter of (paths, cells)-ordered indices 4-6x slower.)"""
    n_cells = x.shape[0]
    atom = weight & (x == edges[:, 4, None])
    counted = weight & ~jnp.isnan(x)
    slot = jnp.where(atom, ATOM_SLOT, jnp.where(counted, cell_bins(x, edges), SPARE_SLOT))
    flat = slot + (jnp.arange(n_cells, dtype=jnp.int32) * (N_BINS + 4))[:, None]
    counts = jnp.zeros(n_cells * (N_BINS + 4), jnp.int32).at[flat.reshape(-1)].add(1, mode="promise_in_bounds")
    return counts.reshape(n_cells, N_BINS + 4)


def cell_histogram(x: jax.Array, weight: jax.Array, edges: jax.Array) -> jax.Array:
    """Counts per cell and bin, int32 (cells, N_BINS + 2), of cell-major ``x`` (cells, paths) where ``weight``;
    values equal to the cell's atom (and NaN) are left out (:func:`cell_counts`)."""
    return cell_counts(x, weight, edges)[:, : N_BINS + 2]


def cell_extremes(x: jax.Array, weight: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Minimum and maximum over paths of cell-major ``x`` (cells, paths) where ``weight`` (+inf / -inf where
    none), (2, cells), and how many of those values equal each, int32 (2, cells). A NaN among the values makes
    its cell's extremes NaN (the histogram leaves it out), so a model error shows in the output's range.

    One pass (a variadic reduce carrying each extreme with its count) instead of four, 1.6x faster; the
    combiner is exact (min / max, integer counts), so the result does not depend on the order XLA reduces
    in. (Leaving NaN out here as well, ``weight & ~isnan(x)``, made the pass 2x slower.)"""
    inf = jnp.float32(jnp.inf)
    one = weight.astype(jnp.int32)

    def combine(a: tuple, b: tuple) -> tuple:
        (low_a, high_a, n_low_a, n_high_a), (low_b, high_b, n_low_b, n_high_b) = a, b
        low, high = jnp.minimum(low_a, low_b), jnp.maximum(high_a, high_b)
        return (low, high,
                jnp.where(low_a == low, n_low_a, 0) + jnp.where(low_b == low, n_low_b, 0),
                jnp.where(high_a == high, n_high_a, 0) + jnp.where(high_b == high, n_high_b, 0))

    low, high, n_low, n_high = jax.lax.reduce((jnp.where(weight, x, inf), jnp.where(weight, x, -inf), one, one),
                                              (inf, -inf, jnp.int32(0), jnp.int32(0)), combine, (1,))
    return jnp.stack([low, high]), jnp.stack([n_low, n_high])


def cell_sketch(x: jax.Array, weight: jax.Array, edges: jax.Array) -> dict[str, jax.Array]:
    """Everything the quantile sketch merges, of cell-major ``x`` (cells, paths) where ``weight`` (bool):
    ``hist`` (cells, N_BINS + 2), ``atoms`` (cells,), ``extremes`` and ``ties`` (2, cells): min / max and how
    many values equal each (see :func:`cell_counts`, :func:`cell_extremes`).

    ``edges`` must not be read by a dynamic index inside the same loop (e.g. ``table[t]`` in a scan): fused
    into the slot computation, that index load keeps it scalar (measured 6x slower); carry the row instead
    (:func:`scan.chunk_scan`'s ``quarterly``)."""
    counts = cell_counts(x, weight, edges)
    extremes, ties = cell_extremes(x, weight)
    return {"hist": counts[:, : N_BINS + 2], "atoms": counts[:, ATOM_SLOT], "extremes": extremes, "ties": ties}


def histogram(x: jax.Array, weight: jax.Array, edges: jax.Array) -> jax.Array:
    """Counts per cell and bin, int32 (*cells, N_BINS + 2); ``weight`` (bool) selects the values. Values equal
    to the cell's atom are left out (:func:`atom_count` counts them)."""
    counts = cell_histogram(cell_major(x), cell_major(weight), edges.reshape(-1, edges.shape[-1]))
    return counts.reshape(*x.shape[1:], N_BINS + 2)


def masked_extremes(x: jax.Array, weight: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Exact min and max over paths of the selected values (+inf / -inf where none)."""
    return (jnp.min(jnp.where(weight, x, jnp.inf), axis=0), jnp.max(jnp.where(weight, x, -jnp.inf), axis=0))


def atom_count(x: jax.Array, weight: jax.Array, edges: jax.Array) -> jax.Array:
    """How many selected values equal the cell's atom (edges[..., 4]; none where it is NaN), int32 (*cells)."""
    return (weight & (x == edges[None, ..., 4])).sum(0).astype(jnp.int32)


def ties_at_extremes(x: jax.Array, weight: jax.Array, low: jax.Array, high: jax.Array) -> jax.Array:
    """How many selected values equal ``low`` and ``high`` (this chunk's extremes), int32 (2, *cells).

    Atoms at an extreme (no debt, nothing raised, runway at its cap) would otherwise share a bin with the
    values next to them, and a quantile inside the atom would be interpolated away from it."""
    return jnp.stack([(weight & (x == low[None])).sum(0), (weight & (x == high[None])).sum(0)]).astype(jnp.int32)


def merge_ties(ext_a: np.ndarray, ties_a: np.ndarray, ext_b: np.ndarray, ties_b: np.ndarray,
               axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge two parts' extremes and tie counts; index 0 / 1 along ``axis`` is the minimum / maximum."""
    take = lambda a, i: np.take(a, i, axis=axis)  # noqa: E731
    low, high = np.minimum(take(ext_a, 0), take(ext_b, 0)), np.maximum(take(ext_a, 1), take(ext_b, 1))
    ties = [np.where(take(ext_a, i) == e, take(ties_a, i), 0) + np.where(take(ext_b, i) == e, take(ties_b, i), 0)
            for i, e in ((0, low), (1, high))]
    return np.stack([low, high], axis), np.stack(ties, axis).astype(np.int64)


def block_sums(x: jax.Array, weight: jax.Array, block: int) -> jax.Array:
    """Sum per key block, (blocks, *cells) float32: merged in float64 on the host in block order, so means do
    not depend on chunking."""
    sums = cell_block_sums(cell_major(x), cell_major(weight), block)
    return sums.reshape(sums.shape[0], *x.shape[1:])


def cell_block_sums(x: jax.Array, weight: jax.Array, block: int) -> jax.Array:
    """:func:`block_sums` of cell-major ``x`` (cells, paths): (blocks, cells) float32, the same bits."""
    per_block = jnp.where(weight, x, 0.0).reshape(x.shape[0], -1, block)  # (cells, blocks, block)
    return _pairwise_last(per_block).T


def _pairwise_last(x: jax.Array) -> jax.Array:
    """:func:`pairwise_sum` over the last axis (the same pairs, so the same rounding)."""
    while x.shape[-1] > 1:
        if x.shape[-1] % 2:
            x = jnp.concatenate([x, jnp.zeros_like(x[..., :1])], axis=-1)
        half = x.shape[-1] // 2
        x = x[..., :half] + x[..., half:]
    return x[..., 0]


def pairwise_sum(x: jax.Array) -> jax.Array:
    """Sum over axis 1 (a power of two long) by explicit pairwise halving.

    Written as elementwise adds so the rounding is the same whatever the other axes' sizes are; a
    plain ``sum`` lets XLA pick a reduction order that changes with the number of blocks in a chunk.
    """
    while x.shape[1] > 1:
        if x.shape[1] % 2:
            x = jnp.concatenate([x, jnp.zeros_like(x[:, :1])], axis=1)
        half = x.shape[1] // 2
        x = x[:, :half] + x[:, half:]
    return x[:, 0]


def bin_edges(cell: np.ndarray, xmin: float, xmax: float) -> tuple[np.ndarray, np.ndarray]:
    """Edges of one cell's sketch: interior edges in y (N_BINS + 1) and every bin's x edges (N_BINS + 3),
    the under/overflow bins reaching out to the exact extremes."""
    m, s, ylo, yhi = cell[:4]
    y_edges = ylo + (yhi - ylo) * np.arange(N_BINS + 1) / N_BINS
    x_edges = np.concatenate([[min(xmin, m + s * np.sinh(ylo))], m + s * np.sinh(y_edges),
                              [max(xmax, m + s * np.sinh(yhi))]])
    return y_edges, x_edges


def quantiles_from_histogram(counts: np.ndarray, edges: np.ndarray, xmin: np.ndarray, xmax: np.ndarray,
                             qs: np.ndarray, ties: np.ndarray | None = None,
                             atoms: np.ndarray | None = None) -> np.ndarray:
    """Quantiles ``qs`` of each cell from merged counts (*cells, N_BINS + 2); NaN where a cell is empty.

    Linear interpolation of the empirical CDF inside the bin (in y space for interior bins, in x space for
    under/overflow bins), between the bin's edges narrowed to the exact extremes. ``ties`` (2, *cells): how
    many values equal the minimum / maximum; a level that falls on those values returns the extreme itself
    and the rest of its bin is interpolated without them. ``atoms`` (*cells): values equal to the cell's atom
    (``edges[..., 4]``), which the histogram left out: a point mass at the atom, with the atom's bin's own
    values taken as spread evenly (in y) on either side of it.
    """
    cells = counts.shape[:-1]
    counts = counts.reshape(-1, counts.shape[-1]).astype(np.float64)
    e = edges.reshape(-1, edges.shape[-1]).astype(np.float64)
    atom_value = e[:, 4] if e.shape[1] > 4 else np.full(len(e), np.nan)
    n_atom = np.zeros(counts.shape[0]) if atoms is None else atoms.reshape(-1).astype(np.float64)
    lo_x, hi_x = xmin.reshape(-1).astype(np.float64), xmax.reshape(-1).astype(np.float64)
    n_ties = np.zeros((2, counts.shape[0])) if ties is None else ties.reshape(2, -1).astype(np.float64)
    out = np.full((counts.shape[0], len(qs)), np.nan)
    for i in range(counts.shape[0]):
        total = counts[i].sum()
        a, n_a = atom_value[i], n_atom[i]
        if total + n_a == 0:
            continue
        if total == 0:  # every value is the atom
            out[i] = a
            continue
        m, s = e[i, 0], e[i, 1]
        y_edges, x_edges = bin_edges(e[i], lo_x[i], hi_x[i])
        cum = np.concatenate([[0.0], np.cumsum(counts[i])])
        filled = np.flatnonzero(counts[i])
        first, last = filled[0], filled[-1]  # the bins of the minimum and the maximum
        at_min, at_max = n_ties[0, i], n_ties[1, i]
        below = 0.0  # histogram values below the atom
        if n_a > 0:
            at_min, at_max = (0.0 if a == lo_x[i] else at_min), (0.0 if a == hi_x[i] else at_max)
            below = 0.0 if a <= lo_x[i] else total if a >= hi_x[i] else _mass_below(a, e[i], y_edges, x_edges,
                                                                                      cum, counts[i])
        for j, q in enumerate(qs):
            target = q * (total + n_a)
            if n_a > 0:
                if below < target <= below + n_a or (target == 0 and below == 0):
                    out[i, j] = a
                    continue
                if target > below + n_a:
                    target -= n_a
            if target <= at_min:
                out[i, j] = lo_x[i]
                continue
            if target > total - at_max or target >= total:
                out[i, j] = hi_x[i]
                continue
            b = int(np.clip(np.searchsorted(cum, target, side="left") - 1, 0, N_BINS + 1))
            start, inside = cum[b], counts[i, b]
            if b == first:
                start, inside = start + at_min, inside - at_min
            if b == last:
                inside = inside - at_max
            frac = 0.0 if inside <= 0 else min(max((target - start) / inside, 0.0), 1.0)
            x_lo, x_hi = max(x_edges[b], lo_x[i]), min(x_edges[b + 1], hi_x[i])
            if 1 <= b <= N_BINS:
                y_lo, y_hi = y_edges[b - 1], y_edges[b]
                if b == first:
                    y_lo = max(y_lo, float(np.arcsinh((x_lo - m) / s)))
                if b == last:
                    y_hi = min(y_hi, float(np.arcsinh((x_hi - m) / s)))
                val = m + s * np.sinh(y_lo + frac * (y_hi - y_lo))
            else:
                val = x_lo + frac * (x_hi - x_lo)
            out[i, j] = np.clip(val, lo_x[i], hi_x[i])
    return out.reshape(*cells, len(qs))


def _mass_below(a: float, cell: np.ndarray, y_edges: np.ndarray, x_edges: np.ndarray, cum: np.ndarray,
                counts: np.ndarray) -> float:
    """Histogram values below ``a``: whole bins below its bin, and of its bin the share below it (evenly in y)."""
    m, s, lo, hi = cell[:4]
    y = np.arcsinh((a - m) / s)
    b = int(np.clip(np.floor((y - lo) / (hi - lo) * N_BINS), -1, N_BINS)) + 1
    if 1 <= b <= N_BINS:
        share = (y - y_edges[b - 1]) / (y_edges[b] - y_edges[b - 1])
    else:
        share = (a - x_edges[b]) / (x_edges[b + 1] - x_edges[b]) if x_edges[b + 1] > x_edges[b] else 0.5
    return float(cum[b] + min(max(share, 0.0), 1.0) * counts[b])


def tail_mean_from_histogram(counts: np.ndarray, edges: np.ndarray, xmin: np.ndarray, xmax: np.ndarray,
                             level: float, ties: np.ndarray | None = None,
                             atoms: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(VaR, CVaR) at ``level`` of each cell: the ``level`` quantile and the mean of values above it."""
    var = quantiles_from_histogram(counts, edges, xmin, xmax, np.array([level]), ties, atoms)[..., 0]
    flat_c = counts.reshape(-1, counts.shape[-1]).astype(np.float64)
    e = edges.reshape(-1, edges.shape[-1]).astype(np.float64)
    n_atom = np.zeros(flat_c.shape[0]) if atoms is None else atoms.reshape(-1).astype(np.float64)
    lo_x, hi_x = xmin.reshape(-1), xmax.reshape(-1)
    cvar = np.full(flat_c.shape[0], np.nan)
    for i in range(flat_c.shape[0]):
        total = flat_c[i].sum()
        if total == 0:
            cvar[i] = var.reshape(-1)[i]  # NaN, or the atom when every value is the atom
            continue
        _, x_edges = bin_edges(e[i], lo_x[i], hi_x[i])
        mids = 0.5 * (x_edges[:-1] + x_edges[1:])
        v = var.reshape(-1)[i]
        above = mids >= v
        mass, weighted = flat_c[i][above].sum(), (flat_c[i][above] * mids[above]).sum()
        if n_atom[i] > 0 and e[i, 4] >= v:
            mass, weighted = mass + n_atom[i], weighted + n_atom[i] * e[i, 4]
        cvar[i] = v if mass == 0 else float(weighted / mass)
        cvar[i] = max(cvar[i], v)
    return var, cvar.reshape(var.shape)
