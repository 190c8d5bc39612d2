"""The jitted core: draw a chunk's inputs and shocks, scan the quarterly step, reduce inside the scan.

A chunk is ``n_blocks`` whole key blocks starting at ``first_block``. Every
random number of path ``i`` comes from its block's key, so any chunking gives
the same numbers; reductions are sums (or histograms) that merge exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..inputs.loader import Priors
from ..model import step as model_step
from ..model.kinds import KINDS
from ..model.params import param_blocks, split_params
from ..model.state import Layout, State, internal_matrix, make_layout
from ..model.step import ShockBlock
from . import rng
from .cache import enable_compilation_cache
from .keys import DEFAULT_BLOCK_SIZE, STREAM_INPUTS, STREAM_SHOCKS, block_keys, root_key, stream_key
from .sampler import Sampler, compile_sampler
from .sampler import draw_matrix as _draw_matrix

SHOCK_MODES: tuple[str, ...] = ("random", "zero")
"""``zero``: every normal shock 0 and every uniform 0.5 (deterministic runs for hand checks)."""


@dataclass(frozen=True)
class Model:
    """Priors compiled for the engine: the sampler, the company layout and constant arrays."""

    priors: Priors
    sampler: Sampler
    layout: Layout
    consts: dict[str, np.ndarray]

    @property
    def block_size(self) -> int:
        return self.sampler.block_size


def compile_model(priors: Priors, block_size: int = DEFAULT_BLOCK_SIZE) -> Model:
    """Sampler, layout and constants of ``priors`` (host-side work, once per run)."""
    enable_compilation_cache()
    sampler = compile_sampler(priors, block_size)
    layout = make_layout(priors.company_ids, tuple(c.kind for c in priors.companies), tuple(KINDS))
    consts = {
        "regime_initial": np.asarray(priors.regime_initial, np.float32),
        "regime_transition": np.asarray(priors.regime_transition, np.float32),
        "counterparty": internal_matrix(priors.counterparty, priors.company_ids, layout).astype(np.float32),
        **model_step.kind_constants(layout, priors.schedules),
    }
    return Model(priors, sampler, layout, consts)


def quarter_keys(keys: jax.Array, horizon: int) -> jax.Array:
    """``fold_in(block key, t)`` for every quarter ``t = 0 .. horizon``: shape (horizon + 1, blocks).

    Made once per chunk, before the scan. Folded inside the loop, the keys' Philox rounds were pulled out of it
    piece by piece by XLA's loop-invariant code motion, each piece a fusion repeating the rounds before it
    (measured: ~40 fusions of ~150 instructions, the costliest kernels to compile)."""
    return jax.vmap(lambda t: jax.vmap(lambda k: jax.random.fold_in(k, t))(keys))(
        jnp.arange(horizon + 1, dtype=jnp.uint32))


def quarter_shocks(keys: jax.Array, t: jax.Array, block_size: int, streams: tuple[ShockBlock, ...],
                   mode: str) -> tuple[tuple[jax.Array, jax.Array], ...]:
    """Normals and uniforms of quarter ``t`` for the chunk's block ``keys``, one pair per stream
    (:func:`keyed_shocks` of ``fold_in(key, t)`` for each block key)."""
    return keyed_shocks(jax.vmap(lambda k: jax.random.fold_in(k, t))(keys), block_size, streams, mode)


def keyed_shocks(keys: jax.Array, block_size: int, streams: tuple[ShockBlock, ...],
                 mode: str) -> tuple[tuple[jax.Array, jax.Array], ...]:
    """Normals and uniforms of one quarter from its block keys ``fold_in(block key, t)``, one pair per stream.

    A stream of ``width`` 0 (the market) gives (normals, paths) and (uniforms, paths); a kind's stream
    (normals, width, paths) and (uniforms, width, paths): the path axis last, as the step's arrays. Each
    stream's words come from the quarter's block key and the stream's tag (:func:`rng.words`): they do not
    depend on which other streams exist. Within a block the words are laid out (shock, company, path), the
    order the step reads them in: converting them to normals runs along contiguous paths, and joining the
    blocks moves whole runs of ``block_size`` numbers.
    """
    n = keys.shape[0] * block_size

    def shape(b: ShockBlock, k: int) -> tuple[int, ...]:
        return (b.width, k) if b.width else (k,)

    if mode == "zero":
        return tuple((jnp.zeros((*shape(b, b.normals)[::-1], n), jnp.float32),
                      jnp.full((*shape(b, b.uniforms)[::-1], n), 0.5, jnp.float32)) for b in streams)

    def one(key: jax.Array) -> tuple[tuple[jax.Array, jax.Array], ...]:
        sizes = tuple((b.tag, block_size * max(b.width, 1) * (b.normals + b.uniforms)) for b in streams)
        out = []
        for b, bits in zip(streams, rng.words(key, sizes), strict=True):
            # Each stream's words laid out (shock, company, path): normals first, then uniforms.
            bits = bits.reshape(*shape(b, b.normals + b.uniforms)[::-1], block_size)
            out.append((rng.normals(bits[: b.normals]), rng.uniforms(bits[b.normals:])))
        return tuple(out)

    drawn = jax.vmap(one)(keys)  # (blocks, shock, [company,] path in block)
    return jax.tree.map(lambda x: jnp.moveaxis(x, 0, -2).reshape(*x.shape[1:-1], n), drawn)


def chunk_scan(model_static: tuple, n_blocks: int, horizon: int, mode: str, reducer: Callable[..., Any],
               seed_key: jax.Array, first_block: jax.Array, theta: jax.Array, factor: jax.Array,
               consts: dict[str, jax.Array], aux: Any,
               quarterly: dict[str, jax.Array] | None = None) -> tuple[State, Any, dict[str, jax.Array]]:
    """Simulate one chunk and reduce it (traced; jit with the first four arguments static).

    Args:
        model_static: (sampler layout, company layout).
        reducer: ``reducer(aux, t, obs, alive_prev) -> per-quarter reduction`` (pytree without a path axis,
            except what the caller deliberately keeps).
        aux: extra arrays the reducer needs (a dict).
        quarterly: per-quarter arrays the reducer needs, each (horizon, ...) (e.g. the sketch's edges): in
            quarter ``t`` the reducer finds row ``t - 1`` in ``aux`` under the same name. The row is carried
            through the scan, read one iteration ahead: indexed by the quarter inside the iteration, the row
            was a dynamic slice fused into the reducer's loops, which kept them scalar (6x slower).

    Returns:
        The final state, the stacked per-quarter reductions (leading axis = quarter) and the inputs drawn
        (paths, inputs), columns in the sampler's order.
    """
    sampler_layout, layout = model_static
    draws = _draw_matrix(sampler_layout, n_blocks, stream_key(seed_key, STREAM_INPUTS), first_block, theta, factor)
    blocks = param_blocks(layout, sampler_layout.names, draws)
    params = split_params(layout, blocks)
    keys = quarter_keys(block_keys(stream_key(seed_key, STREAM_SHOCKS), first_block, n_blocks), horizon)
    streams = model_step.shock_blocks(layout)
    block = sampler_layout.block_size
    # Quarters 0 and 1 in one call (one copy of the generator in the program, not two).
    first = jax.vmap(lambda k: keyed_shocks(k, block, streams, mode))(keys[:2])
    shocks0, shocks1 = (jax.tree.map(lambda x, i=i: x[i], first) for i in range(2))
    state = model_step.initial_state(layout, params, consts, shocks0)

    # The shocks of quarter t are drawn in iteration t - 1 and carried: a carried buffer is materialised,
    # whereas drawing them inside the step lets XLA fuse the generator into every consumer and redraw the
    # same numbers many times (measured 3x slower end to end on CPU). The numbers are the same either way.
    # The quarter number is carried too, not scanned over: a scanned value reaches the step's fusions as a
    # dynamic slice whose index LLVM cannot prove unchanged by the fusion's stores, which keeps the largest
    # fusions from being vectorised on CPU (measured: two fusions holding 45 % of a quarter ran scalar).
    quarterly = quarterly or {}

    def row(t: jax.Array) -> dict[str, jax.Array]:  # quarter t's rows (the last iteration's read is unused)
        return {k: jax.lax.dynamic_index_in_dim(v, jnp.minimum(t, horizon) - 1, 0, keepdims=False)
                for k, v in quarterly.items()}

    def key_row(t: jax.Array) -> jax.Array:  # quarter t's keys, carried one iteration ahead as the rows above
        return jax.lax.dynamic_index_in_dim(keys, jnp.minimum(t, horizon), 0, keepdims=False)

    like = state  # the state's structure and dtypes: the scan carries it packed (model_step.pack_state)

    def body(carry: tuple[tuple, tuple, jax.Array, dict, jax.Array], _: None) -> tuple[tuple, Any]:
        packed, shocks, t, now, keys_next = carry
        state = model_step.unpack_state(packed, like)
        alive_prev = model_step.alive(state)
        # The parameters are split from their blocks inside the step, so each slice is fused into its readers.
        # Split before the loop, each parameter became a buffer of its own, made by a kernel of its own (111
        # of them): the compile took 8-14 % longer, for the same run time (docs/performance.md).
        state, obs = model_step.step(layout, split_params(layout, blocks), consts, state, t.astype(jnp.float32),
                                     shocks)
        packed, obs = jax.lax.optimization_barrier((model_step.pack_state(state), obs))
        shocks_next = keyed_shocks(keys_next, block, streams, mode)
        return ((packed, shocks_next, t + 1, row(t + 1), key_row(t + 2)),
                reducer({**aux, **now} if quarterly else aux, t, obs, alive_prev))

    init = (model_step.pack_state(state), shocks1, jnp.int32(1), row(jnp.int32(1)), key_row(jnp.int32(2)))
    (packed, *_), ys = jax.lax.scan(body, init, None, length=horizon)
    final = model_step.unpack_state(packed, like)
    return final, ys, draws


@partial(jax.jit, static_argnums=(0, 1, 2, 3, 4))
def _jit_chunk(model_static, n_blocks, horizon, mode, reducer, seed_key, first_block, theta, factor, consts, aux):
    return chunk_scan(model_static, n_blocks, horizon, mode, reducer, seed_key, first_block, theta, factor,
                      consts, aux)


def run_chunk(model: Model, seed: int | jax.Array, first_block: int, n_blocks: int, horizon: int,
              reducer: Callable[..., Any], aux: Any = None, mode: str = "random", prng: str | None = None,
              theta: jax.Array | None = None):
    """Run blocks ``first_block .. first_block + n_blocks - 1`` of ``model`` through ``horizon`` quarters."""
    if mode not in SHOCK_MODES:
        raise ValueError(f"unknown shock mode {mode!r}; choose one of {SHOCK_MODES}")
    key = seed if isinstance(seed, jax.Array) else (root_key(seed) if prng is None else root_key(seed, prng))
    consts = {k: jnp.asarray(v) for k, v in model.consts.items()}
    theta = jnp.asarray(model.sampler.theta if theta is None else theta, jnp.float32)
    return _jit_chunk((model.sampler.layout, model.layout), n_blocks, horizon, mode, reducer, key,
                      jnp.uint32(first_block), theta, jnp.asarray(model.sampler.factor), consts, aux)
