"""The shocks' bulk generator (mc_engine.engine.rng): a stream's words depend only on the key, its tag and
their position, and the normals and uniforms made from them have the right distribution."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from mc_engine.engine import rng


@pytest.mark.parametrize("impl", ["philox4x32", "threefry2x32"])
def test_a_streams_words_do_not_depend_on_the_other_streams(impl: str) -> None:
    key = jax.random.key(7, impl=impl)
    together = rng.words(key, ((11, 10), (22, 20_001), (33, 5)))
    for (tag, n), words in zip(((11, 10), (22, 20_001), (33, 5)), together, strict=True):
        alone = rng.words(key, ((tag, n),))[0]
        assert words.shape == (n,)
        np.testing.assert_array_equal(np.asarray(words), np.asarray(alone))
    # A longer draw of the same stream starts with the shorter one; other tags and keys give other words.
    np.testing.assert_array_equal(np.asarray(rng.words(key, ((22, 30),))[0][:5]), np.asarray(rng.words(key, ((22, 5),))[0]))
    assert not np.array_equal(np.asarray(together[0]), np.asarray(rng.words(key, ((12, 10),))[0]))
    other = jax.random.key(8, impl=impl)
    assert not np.array_equal(np.asarray(together[0]), np.asarray(rng.words(other, ((11, 10),))[0]))


def test_philox_words_are_random_bits() -> None:
    """Every bit position is set half the time, within 4 binomial standard errors (n = 400,000 words)."""
    n = 400_000
    words = np.asarray(rng.words(jax.random.key(1, impl="philox4x32"), ((5, n),))[0])
    bits = (words[:, None] >> np.arange(32, dtype=np.uint32)) & 1
    assert np.all(np.abs(bits.mean(0) - 0.5) < 4 * np.sqrt(0.25 / n))


def test_normals_and_uniforms_have_their_distributions() -> None:
    n = 1_000_000
    words = rng.words(jax.random.key(3, impl="philox4x32"), ((9, n),))[0]
    z, u = np.asarray(rng.normals(words), np.float64), np.asarray(rng.uniforms(words), np.float64)
    assert np.isfinite(z).all() and np.abs(z).max() < 5.4
    assert abs(z.mean()) < 4 / np.sqrt(n) and abs(z.var() - 1) < 4 * np.sqrt(2 / n)
    assert stats.kstest(z, "norm").pvalue > 1e-4
    assert u.min() >= 0 and u.max() < 1
    assert stats.kstest(u, "uniform").pvalue > 1e-4
    # Normals of neighbouring words are uncorrelated (the four words of one Philox hash included).
    for lag in (1, 2, 3, 4):
        assert abs(np.corrcoef(z[:-lag], z[lag:])[0, 1]) < 4 / np.sqrt(n)


@pytest.mark.parametrize(("key", "counter", "expected"), [
    ((0, 0), (0, 0, 0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF,) * 4, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0xA4093822, 0x299F31D0), (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
])  # fmt: skip
def test_philox_matches_the_random123_known_answers(key, counter, expected) -> None:
    """Philox4x32-10 against the known-answer vectors published with Random123 (kat_vectors)."""
    from mc_engine.engine.rng import _philox4x32

    k = [jnp.uint32(v) for v in key]
    x = [jnp.asarray([v], jnp.uint32) for v in counter]
    out = tuple(int(w[0]) for w in _philox4x32(*k, *x))
    assert out == expected
