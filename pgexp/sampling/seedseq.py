"""numpy's ``SeedSequence`` and :func:`pgexp.sampling.rng.trajectory_seeds`, compiled: streams inside numba loops.

A training run draws a fresh batch at every iteration from ``SeedSequence(entropy, spawn_key=(t, child))``
(:func:`pgexp.sampling.rng.stream`).  Building that object in Python costs microseconds -- more than a
whole short episode -- so the compiled training loop derives the same 128-bit key itself:

* :func:`entropy_words` splits the job's 128-bit entropy into four little-endian uint32 words (numpy's
  ``_coerce_to_uint32_array``; a spawn key pads the run entropy to the pool size of 4 words);
* :func:`stream_key` is ``SeedSequence(entropy, spawn_key=(t, child)).generate_state(2, np.uint64)``:
  numpy's ``mix_entropy`` (``hashmix`` / ``mix`` over the 4-word pool, then the two spawn words) and
  ``generate_state`` (four uint32 outputs, read as two little-endian uint64);
* :func:`fill_trajectory_seeds` is :func:`~pgexp.sampling.rng.trajectory_seeds` on that key.

All arithmetic is uint32 with wrap-around, written in uint64 and masked.  Equality with numpy, bit for
bit, is a test (``tests/sampling/test_sampling.py``), so the compiled and the Python paths draw the same
trajectories.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

INIT_A = 0x43B0D7E5
MULT_A = 0x931E8875
INIT_B = 0x8B51F9DD
MULT_B = 0x58F38DED
MIX_MULT_L = 0xCA01F9DD
MIX_MULT_R = 0x4973F715
MASK32 = 0xFFFFFFFF
POOL = 4


def entropy_words(entropy: int) -> np.ndarray:
    """The job's entropy (``0 <= entropy < 2**128``) as 4 little-endian uint32 words, ``(4,)`` uint64."""
    if not 0 <= entropy < 1 << 128:
        raise ValueError("entropy must be a non-negative integer below 2**128")
    return np.array([(entropy >> (32 * i)) & MASK32 for i in range(POOL)], dtype=np.uint64)


@njit(inline="always")
def _hashmix(value, hash_const):
    """numpy's ``hashmix``; returns ``(mixed, new hash_const)``."""
    value = (value ^ hash_const) & uint64(MASK32)
    hash_const = (hash_const * uint64(MULT_A)) & uint64(MASK32)
    value = (value * hash_const) & uint64(MASK32)
    value ^= value >> uint64(16)
    return value, hash_const


@njit(inline="always")
def _mix(x, y):
    result = (uint64(MIX_MULT_L) * x - uint64(MIX_MULT_R) * y) & uint64(MASK32)
    result ^= result >> uint64(16)
    return result


@njit(cache=True)
def stream_key(words, replicate, child):
    """``SeedSequence(entropy, spawn_key=(replicate, child)).generate_state(2, np.uint64)`` as ``(2,)`` uint64.

    ``words`` from :func:`entropy_words`; ``0 <= replicate, child < 2**32`` (one uint32 word each).
    """
    entropy = np.empty(POOL + 2, np.uint64)
    for i in range(POOL):
        entropy[i] = words[i]
    entropy[POOL] = uint64(replicate) & uint64(MASK32)
    entropy[POOL + 1] = uint64(child) & uint64(MASK32)
    pool = np.empty(POOL, np.uint64)
    h = uint64(INIT_A)
    for i in range(POOL):
        pool[i], h = _hashmix(entropy[i], h)
    for i_src in range(POOL):
        for i_dst in range(POOL):
            if i_src != i_dst:
                mixed, h = _hashmix(pool[i_src], h)
                pool[i_dst] = _mix(pool[i_dst], mixed)
    for i_src in range(POOL, POOL + 2):
        for i_dst in range(POOL):
            mixed, h = _hashmix(entropy[i_src], h)
            pool[i_dst] = _mix(pool[i_dst], mixed)
    out32 = np.empty(4, np.uint64)
    h = uint64(INIT_B)
    for i in range(4):
        v = (pool[i % POOL] ^ h) & uint64(MASK32)
        h = (h * uint64(MULT_B)) & uint64(MASK32)
        v = (v * h) & uint64(MASK32)
        v ^= v >> uint64(16)
        out32[i] = v
    key = np.empty(2, np.uint64)
    key[0] = out32[0] | (out32[1] << uint64(32))
    key[1] = out32[2] | (out32[3] << uint64(32))
    return key


@njit(inline="always")
def _splitmix64(z):
    z = (z ^ (z >> uint64(30))) * uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> uint64(27))) * uint64(0x94D049BB133111EB)
    return z ^ (z >> uint64(31))


@njit(cache=True)
def fill_trajectory_seeds(key, out):
    """:func:`pgexp.sampling.rng.trajectory_seeds` of the stream ``key``: fills ``out`` ``(n, 4)`` uint64."""
    n = out.shape[0]
    golden = uint64(0x9E3779B97F4A7C15)
    for i in range(n):
        zero = True
        for j in range(4):
            counter = uint64(4 * i + j + 1)
            v = _splitmix64(_splitmix64(key[0] + golden * counter) ^ key[1])
            out[i, j] = v
            if v != uint64(0):
                zero = False
        if zero:
            out[i, 0] = uint64(1)


@njit(cache=True)
def fill_stack_seeds(words, first, count, child, n, out):
    """The trajectory seeds of ``count`` replicates' ``child`` streams, replicate after replicate.

    Rows ``[k n, (k + 1) n)`` of ``out`` ``(count n, 4)`` are :func:`pgexp.sampling.rng.trajectory_seeds` of
    ``SeedSequence(entropy, spawn_key=(first + k, child))`` with ``n`` trajectories: what a loop over
    :func:`pgexp.sampling.rng.stream` gives, in one compiled call.
    """
    for k in range(count):
        key = stream_key(words, first + k, child)
        fill_trajectory_seeds(key, out[k * n:(k + 1) * n])
