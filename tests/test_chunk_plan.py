"""The chunk plan (engine/simulate.py::ChunkPlan): which key blocks each chunk runs.

Whatever the plan, the numbers are the same (test_simulate's chunk-size tests); what the plan decides is
how much work is padding. Checked against the plain rule it states, for every run size up to 40 blocks and
every process count up to 4, and by example."""

from __future__ import annotations

import math

import jax
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mc_engine.engine.shard import process_block_range
from mc_engine.engine.simulate import SUPERBLOCK, ChunkPlan, balanced_chunk_blocks, default_chunk_paths

BLOCK = 8192
MOST = default_chunk_paths(BLOCK) // BLOCK
"""Blocks per chunk at most by default on this backend (one block, 8,192 paths, on CPU; 128 on an
accelerator), the cap the plan balances."""


@given(st.integers(1, 5_000), st.integers(1, 64))
def test_balanced_chunks_are_the_fewest_and_pad_less_than_a_block_each(n_blocks, most):
    per = balanced_chunk_blocks(n_blocks, most)
    chunks = math.ceil(n_blocks / per)
    assert 1 <= per <= most
    assert chunks == math.ceil(n_blocks / most)  # no more chunks (compiled calls) than the cap needs
    assert chunks * per - n_blocks < chunks  # padding: less than one block per chunk


@pytest.mark.parametrize(("n_blocks", "most", "per"), [
    (13, 8, 7),  # 100,000 paths in chunks of at most 8 blocks: 7 + 7 (one block of padding), not 8 + 8 (three)
    (8, 8, 8),
    (9, 8, 5),
    (123, 8, 8),  # 1,000,000 paths: 16 chunks of 8 either way
    (123, 128, 123),  # an accelerator's cap: one chunk
    (300, 128, 100),
    (13, 1, 1),  # CPU: one block a chunk
])
def test_balancing_by_example(n_blocks, most, per):
    assert balanced_chunk_blocks(n_blocks, most) == per


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the CPU default")
@pytest.mark.parametrize(("n_paths", "chunks"), [(100_000, 13), (65_536, 8), (8_192, 1), (10_000, 2)])
def test_default_plan_on_cpu_is_one_block_a_chunk(n_paths, chunks):
    plan = ChunkPlan.make(n_paths, BLOCK, None, "philox4x32", 10_000, 0, 1)
    assert (plan.chunk_blocks, len(plan.firsts)) == (1, chunks)


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_every_block_of_every_process_is_in_exactly_one_chunk(count):
    for total in range(1, 41):
        n_paths = total * BLOCK - 100
        covered = []
        for index in range(count):
            plan = ChunkPlan.make(n_paths, BLOCK, None, "philox4x32", 10_000, index, count)
            mine = process_block_range(total, index, count, align=SUPERBLOCK)
            assert plan.blocks == mine
            assert 1 <= plan.chunk_blocks <= min(MOST, total)
            for first in plan.firsts:
                covered += [b for b in range(first, first + plan.chunk_blocks) if b in mine]
        assert covered == list(range(total))


def test_an_explicit_chunk_size_is_kept():
    plan = ChunkPlan.make(100_000, BLOCK, 4 * BLOCK, "philox4x32", 10_000, 0, 1)
    assert (plan.chunk_blocks, len(plan.firsts)) == (4, 4)
