"""Random streams: job identity -> numpy SeedSequence -> one xoshiro256** stream per trajectory.

Seeds are derived, never global.  A job's entropy is a hash of what defines its trajectories -- the
problem, theta, horizon, batch size and seed, *not* the estimator -- so every estimator of a job sees
the same trajectories (common random numbers) and comparisons between them are paired.
Each trajectory owns a 256-bit xoshiro256** state, so a trajectory is the same whichever thread or
order simulates it, and a trajectory can be replayed from its seed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit, uint64

# child streams of a replicate: the estimate's own batch, the baseline's independent fitting batch, the
# estimator's own auxiliary fit (e.g. the actor-critic's critic)
MAIN, AUX, FIT = 0, 1, 2


def job_entropy(identity: dict[str, Any], theta: np.ndarray) -> int:
    """A 128-bit integer from the job's identity (sorted JSON) and theta's exact bytes."""
    h = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode())
    h.update(np.ascontiguousarray(theta, dtype=np.float64).tobytes())
    return int.from_bytes(h.digest()[:16], "little")


def stream(entropy: int, replicate: int, child: int) -> np.random.SeedSequence:
    """The SeedSequence of one replicate's ``child`` stream (:data:`MAIN`, :data:`AUX` or :data:`FIT`)."""
    return np.random.SeedSequence(entropy, spawn_key=(replicate, child))


def child(seq: np.random.SeedSequence, k: int) -> np.random.SeedSequence:
    """The ``k``-th child of ``seq`` without mutating it (``seq.spawn`` would count the children it made)."""
    return np.random.SeedSequence(seq.entropy, spawn_key=(*tuple(seq.spawn_key), k))


@dataclass(frozen=True)
class Streams:
    """The ``path`` child streams of ``count`` consecutive replicates of a job, starting at ``first``: a stack.

    Replicate ``m``'s stream is ``SeedSequence(entropy, spawn_key=(m, *path))`` -- what :func:`stream` (and
    :func:`child` below it) give one at a time -- so a trajectory drawn from a stack is the one drawn alone.
    """

    entropy: int
    first: int
    count: int
    path: tuple[int, ...] = (MAIN,)

    def seq(self, k: int = 0) -> np.random.SeedSequence:
        """The SeedSequence of the ``k``-th replicate of the stack."""
        return np.random.SeedSequence(self.entropy, spawn_key=(self.first + k, *self.path))

    def child(self, k: int) -> Streams:
        """Every replicate's ``k``-th child stream (``child(seq, k)`` of each)."""
        return Streams(self.entropy, self.first, self.count, (*self.path, k))

    def replicate(self, k: int) -> Streams:
        """The ``k``-th replicate alone (a stack of one)."""
        return Streams(self.entropy, self.first + k, 1, self.path)

    def trajectory_seeds(self, n: int) -> np.ndarray:
        """``(count n, 4)`` uint64: :func:`trajectory_seeds` of each replicate's stream with ``n`` trajectories,
        replicate after replicate (one compiled call for a ``(replicate, child)`` key)."""
        out = np.empty((self.count * n, 4), np.uint64)
        if len(self.path) == 1 and 0 <= self.entropy < 1 << 128 and self.first + self.count <= 1 << 32:
            from pgexp.sampling.seedseq import entropy_words, fill_stack_seeds

            fill_stack_seeds(entropy_words(self.entropy), self.first, self.count, self.path[0], n, out)
            return out
        for k in range(self.count):
            out[k * n:(k + 1) * n] = trajectory_seeds(self.seq(k), n)
        return out


def as_streams(source: np.random.SeedSequence | Streams) -> Streams | None:
    """``source`` when it is a stack, else ``None`` (a single SeedSequence)."""
    return source if isinstance(source, Streams) else None


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, vectorised (uint64 arithmetic wraps, as intended)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def trajectory_seeds(seq: np.random.SeedSequence, n: int) -> np.ndarray:
    """``(n, 4)`` uint64 xoshiro256** states, one per trajectory (never all zero).

    A 128-bit key from ``seq`` is expanded by splitmix64 over a counter -- the seeding its authors
    recommend for xoshiro -- which is ~100x faster than asking the SeedSequence for 4n words.
    """
    key = seq.generate_state(2, np.uint64)
    counter = np.arange(1, 4 * n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        state = _splitmix64(_splitmix64(key[0] + _GOLDEN * counter) ^ key[1]).reshape(n, 4)
    state[np.all(state == 0, axis=1), 0] = np.uint64(1)
    return state


@njit(cache=True)
def _rotl(x, k):
    return (x << uint64(k)) | (x >> uint64(64 - k))


@njit(cache=True)
def next_uniform(st):
    """One double in [0, 1) from the xoshiro256** state ``st`` (uint64[4], updated in place)."""
    result = _rotl(st[1] * uint64(5), 7) * uint64(9)
    t = st[1] << uint64(17)
    st[2] ^= st[0]
    st[3] ^= st[1]
    st[1] ^= st[2]
    st[0] ^= st[3]
    st[2] ^= t
    st[3] = _rotl(st[3], 45)
    return (result >> uint64(11)) * (1.0 / 9007199254740992.0)
