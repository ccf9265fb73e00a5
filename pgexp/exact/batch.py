r"""Exact quality of the batch estimate (the mean of ``N`` trajectories) from trajectory moments.

Independent trajectories.  ``ĝ = (1/N) sum_i g_i`` with i.i.d. ``g_i``: ``E ĝ = E g`` and
``Cov ĝ = Cov g / N``.  Against the exact ``grad J``::

    bias_sq = ||E ĝ - grad J||^2,    trace_cov = tr Cov ĝ,    mse = E||ĝ - grad J||^2 = bias_sq + trace_cov,
    rel_mse = mse / ||grad J||^2,    snr = ||grad J||^2 / trace_cov,    var_per_traj = N trace_cov,

the same definitions as :mod:`pgexp.analysis.metrics` (whose estimates they are the exact values of).

The leave-one-out constant baseline (a U-statistic).  With ``u_i`` the estimate without baseline,
``v_i`` the direction a constant multiplies (:func:`pgexp.exact.families.direction`) and ``R_i`` the
trajectory's return (``G_0``; the roll-out value ``y`` for rollin_rollout), the batch estimate is::

    ĝ = (1/N) sum_i (u_i - v_i (1/(N-1)) sum_{j != i} R_j) = Ū - W,    W = (1/(N(N-1))) sum_{i != j} v_i R_j.

Trajectories are independent and ``E v = 0`` (``v`` is a sum of scores with weights fixed in advance),
so ``E W = 0`` and ``E ĝ = E u``: unbiased.  Write ``m_R = E R``.  Covariances, by which indices coincide:

* ``Cov(Ū) = Cov(u) / N``;
* ``Cov(Ū, W) = (1/N)(1/(N(N-1))) sum_k sum_{i != j} E[u_k (v_i R_j)^T]``: only ``k = i`` survives
  (``k = j`` leaves ``E v_i = 0``), giving ``E[u v^T] m_R / N``;
* ``E[W W^T] = (1/(N(N-1)))^2 sum_{i != j} sum_{k != l} E[v_i v_k^T R_j R_l]``: ``i = k, j = l`` (``N(N-1)``
  terms) gives ``E[v v^T] E[R^2]``; ``i = k, j != l`` (``N(N-1)(N-2)``) gives ``E[v v^T] m_R^2``; ``i = l, k = j``
  (``N(N-1)``) gives ``E[v R] E[v R]^T``; every other pattern leaves a lone ``v`` with mean 0.

Hence::

    Cov ĝ = [Cov(u) - m_R (E[u v^T] + E[v u^T])] / N
            + [E[v v^T] (E[R^2] + (N - 2) m_R^2) + E[v R] E[v R]^T] / (N (N - 1)).

As ``N -> inf``, ``N Cov ĝ -> Cov(u - m_R v)``: the fixed constant ``c = J``.  At finite ``N`` the extra
``[E[v v^T] Var R + E[vR] E[vR]^T] / (N(N-1))`` is the price of estimating the constant from the batch.
(:func:`enumerate_loo_batches` checks this by listing every batch of ``N`` trajectories.)

Brute force over batches.  A batch statistic with no closed form (a ratio such as the normalised
advantages of :mod:`pgexp.exact.normalization`) is computed exactly by listing batches: every ordered
``N``-tuple of enumerated trajectories (:func:`ordered_batches`, as the leave-one-out check does), or --
for a statistic symmetric in the batch's trajectories -- every multiset of ``N`` of them with its
multinomial probability (:func:`batch_multisets`: ``C(n + N - 1, N)`` batches instead of ``n^N``).

The expected cosine ``E cos(ĝ, grad J)`` has no closed form.  :func:`normal_cosine` gives a *prediction*:
``E cos`` under the normal approximation ``ĝ ~ N(E ĝ, Cov ĝ)`` with the exact mean and covariance,
computed by Monte Carlo over that Gaussian (in the eigenbasis of ``Cov ĝ``: ``O(d)`` per draw) with its
standard error.  It is exact for a Gaussian estimator; for the real (skewed, discrete) estimate it is an
approximation that improves with ``N`` (the central limit theorem) -- the tests measure the gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COSINE_DRAWS = 4_000
COMPILED_DRAWS = 100_000  # standard normals from which normal_cosine draws them compiled (d >= 25 at 4000 draws)


@dataclass(frozen=True, eq=False)
class LooMoments:
    """What the leave-one-out batch covariance needs; matrices are ``(d, d)``, or diagonals ``(d,)``.

    Attributes:
        cov_u: ``Cov(u)``.  Euv: ``E[u v^T]``.  Evv: ``E[v v^T]``.  EvR: ``E[v R]`` ``(d,)``.
        mR: ``E R``.  ER2: ``E[R^2]``.
    """

    cov_u: np.ndarray
    Euv: np.ndarray
    Evv: np.ndarray
    EvR: np.ndarray
    mR: float
    ER2: float

    @property
    def full(self) -> bool:
        return self.cov_u.ndim == 2

    def batch_cov(self, N: int) -> np.ndarray:
        """``Cov ĝ`` of the batch of ``N >= 2`` (module docstring)."""
        if N < 2:
            raise ValueError("the leave-one-out constant needs N >= 2")
        if self.full:
            sym = self.Euv + self.Euv.T
            outer = np.outer(self.EvR, self.EvR)
        else:
            sym = 2.0 * self.Euv
            outer = self.EvR * self.EvR
        return ((self.cov_u - self.mR * sym) / N
                + (self.Evv * (self.ER2 + (N - 2) * self.mR ** 2) + outer) / (N * (N - 1)))

    def limit_cov(self) -> np.ndarray:
        """``lim N Cov ĝ = Cov(u - m_R v)``."""
        sym = (self.Euv + self.Euv.T) if self.full else 2.0 * self.Euv
        return self.cov_u - self.mR * sym + self.mR ** 2 * self.Evv


def quality(mean: np.ndarray, cov_N: np.ndarray, grad: np.ndarray, N: int) -> dict[str, float]:
    """``bias_sq, trace_cov, var_per_traj, mse, rel_mse, snr`` of a batch estimate with mean ``mean`` and
    covariance ``cov_N`` (``(d, d)`` or its diagonal)."""
    bias = np.asarray(mean) - np.asarray(grad)
    bias_sq = float(bias @ bias)
    trace = float(np.trace(cov_N)) if cov_N.ndim == 2 else float(np.sum(cov_N))
    g2 = float(grad @ grad)
    mse = bias_sq + trace
    return {"bias_sq": bias_sq, "trace_cov": trace, "var_per_traj": N * trace, "mse": mse,
            "rel_mse": mse / g2 if g2 > 0 else float("nan"), "snr": g2 / trace if trace > 0 else float("inf")}


def normal_cosine(mean: np.ndarray, cov: np.ndarray, grad: np.ndarray, batch_sizes: list[int],
                  seed: np.random.SeedSequence, *, loo: LooMoments | None = None,
                  draws: int = COSINE_DRAWS) -> list[tuple[float, float]]:
    """Predicted ``E cos(ĝ, grad J)`` and its Monte-Carlo standard error for each ``N``, under
    ``ĝ ~ N(mean, Cov ĝ)`` (``Cov ĝ = cov / N``, or ``loo.batch_cov(N)``); one stream of standard normals
    from ``seed`` serves every ``N``.

    From :data:`COMPILED_DRAWS` numbers on, the normals are drawn by numba's port of numpy's ziggurat and
    ``x = m + root z`` with its row norms formed in one compiled pass (:mod:`pgexp.exact.kernels`): the same
    numbers, bit for bit, ~3x faster; below, numpy alone (a process that needs no other compiled loop -- the LQR
    track's -- then skips numba's start-up, ~0.2 s, for draws that take milliseconds)."""
    gnorm = float(np.linalg.norm(grad))
    if gnorm == 0:
        return [(float("nan"), float("nan"))] * len(batch_sizes)
    e = grad / gnorm
    rng = np.random.default_rng(seed)
    out = []
    chunk = max(1, min(draws, 4_000_000 // max(1, mean.size)))
    shape = [(min(chunk, draws - i), mean.size) for i in range(0, draws, chunk)]
    compiled = draws * mean.size >= COMPILED_DRAWS
    if compiled:
        from pgexp.exact.kernels import shifted_rows, standard_normals

        z_chunks = [np.empty(sh) for sh in shape]
        for z in z_chunks:  # rng.standard_normal(sh), chunk after chunk: the same stream
            standard_normals(rng, z)
        x, nx = np.empty(z_chunks[0].shape), np.empty(z_chunks[0].shape[0])
    else:
        z_chunks = [rng.standard_normal(sh) for sh in shape]
    if loo is None:  # Cov ĝ = cov / N: one eigendecomposition serves every N
        lam1, Q1 = np.linalg.eigh((cov + cov.T) / 2)
    for N in batch_sizes:
        if loo is None:
            lam, Q = lam1 / N, Q1
        else:
            C = loo.batch_cov(N)
            lam, Q = np.linalg.eigh((C + C.T) / 2)
        root = np.sqrt(np.clip(lam, 0.0, None))
        m, ee = Q.T @ mean, Q.T @ e
        cos = []
        for z in z_chunks:
            if compiled:  # numpy's m + root z and np.linalg.norm(x, axis=1), bit for bit
                xz, nz = x[:z.shape[0]], nx[:z.shape[0]]
                shifted_rows(m, root, z, xz, nz)
            else:
                xz = m[None, :] + root[None, :] * z
                nz = np.linalg.norm(xz, axis=1)
            cos.append(np.where(nz > 0, (xz @ ee) / np.where(nz > 0, nz, 1.0), 0.0))
        c = np.concatenate(cos)
        out.append((float(c.mean()), float(c.std(ddof=1) / np.sqrt(c.size))))
    return out


def ordered_batches(probs: np.ndarray, N: int, max_batches: int = 2_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered ``N``-tuple of ``n`` outcomes with probabilities ``probs`` ``(n,)``: member indices
    ``(N, n^N)`` and the tuples' probabilities ``(n^N,)``."""
    n = probs.size
    if n ** N > max_batches:
        raise ValueError(f"{n}^{N} batches: too many to enumerate")
    idx = np.indices((n,) * N).reshape(N, -1)
    return idx, np.prod(probs[idx], axis=0)


def count_multisets(n: int, N: int) -> int:
    """``C(n + N - 1, N)``: the multisets of size ``N`` from ``n`` outcomes."""
    from math import comb

    return comb(n + N - 1, N)


def batch_multisets(probs: np.ndarray, N: int, max_batches: int = 2_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Every multiset of ``N`` outcomes drawn i.i.d. with probabilities ``probs`` ``(n,)``: its members ``(B, N)``
    (int64 outcome indices, each row sorted) and its probability ``(B,)`` (multinomial:
    ``N! / prod c_i! prod p_i^c_i`` with ``c_i`` the multiplicity of outcome ``i``)."""
    from scipy.special import gammaln

    from pgexp.exact.kernels import multisets

    n = probs.size
    B = count_multisets(n, N)
    if B > max_batches:
        raise ValueError(f"C({n} + {N} - 1, {N}) = {B} batches: too many to enumerate")
    # the rows of itertools.combinations_with_replacement(range(n), N) and their log probabilities, listed by a
    # compiled loop (the numbers of np.log(probs)[members].sum(axis=1) + gammaln(N + 1) - np.log(rank).sum(axis=1))
    with np.errstate(divide="ignore"):
        log_probs = np.log(probs)
    members, logp = multisets(n, N, B, np.ascontiguousarray(log_probs, dtype=np.float64),
                              np.log(np.arange(1, N + 1, dtype=np.float64)), float(gammaln(N + 1)))
    return members, np.exp(logp)


def enumerate_loo_batches(probs: np.ndarray, u: np.ndarray, v: np.ndarray, R: np.ndarray,
                          N: int, max_batches: int = 2_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: exact ``(E ĝ, Cov ĝ)`` of the leave-one-out batch estimate by listing every ordered
    ``N``-tuple of enumerated trajectories (``probs`` ``(n,)``, ``u, v`` ``(n, d)``, ``R`` ``(n,)``)."""
    idx, p = ordered_batches(probs, N, max_batches)
    Rs = R[idx]                                            # (N, B)
    loo = (Rs.sum(axis=0)[None, :] - Rs) / (N - 1)         # leave-one-out mean for each member
    g = np.zeros((idx.shape[1], u.shape[1]))
    for i in range(N):
        g += u[idx[i]] - v[idx[i]] * loo[i][:, None]
    g /= N
    mean = p @ g
    gc = g - mean
    return mean, (gc * p[:, None]).T @ gc
