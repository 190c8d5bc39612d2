"""The scan's packed state: fields stacked per dtype (``model._math.pack``) and read back (``unpack``)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mc_engine.model._math import dtype_groups, keep, pack, unpack


class Mixed(NamedTuple):
    a: jax.Array
    n: jax.Array
    b: jax.Array
    m: jax.Array
    c: jax.Array


def mixed(seed: int) -> Mixed:
    rng = np.random.default_rng(seed)
    f = lambda: jnp.asarray(rng.normal(size=(3, 7)), jnp.float32)  # noqa: E731
    i = lambda: jnp.asarray(rng.integers(0, 9, size=(3, 7)), jnp.int32)  # noqa: E731
    return Mixed(f(), i(), f(), i(), f())


def test_pack_stacks_per_dtype_in_field_order_and_unpack_inverts_it():
    x = mixed(0)
    assert dtype_groups(x) == [[0, 2, 4], [1, 3]]
    packed = pack(x)
    assert [p.shape for p in packed] == [(3, 3, 7), (2, 3, 7)]
    assert [p.dtype for p in packed] == [jnp.float32, jnp.int32]
    np.testing.assert_array_equal(packed[0][1], x.b)
    np.testing.assert_array_equal(packed[1][1], x.m)
    back = unpack(packed, x)
    assert type(back) is Mixed
    for got, want in zip(back, x, strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_keep_selects_field_by_field_and_its_stacks_are_the_packed_state():
    new, old = mixed(1), mixed(2)
    live = jnp.asarray(np.random.default_rng(3).random((3, 7)) < 0.5)
    kept = keep(live, new, old)
    for got, n, o in zip(kept, new, old, strict=True):
        np.testing.assert_array_equal(got, jnp.where(live, n, o))
    for stacked, idx in zip(pack(Mixed(*kept)), dtype_groups(new), strict=True):
        np.testing.assert_array_equal(stacked, jnp.where(live, jnp.stack([new[i] for i in idx]),
                                                         jnp.stack([old[i] for i in idx])))
