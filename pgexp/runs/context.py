"""The two tracks: a problem at ``theta``, ready to sample batches and turn step weights into gradients.

A track differs from the other only in

* where the truth comes from -- the exact gradient (tabular: linear algebra, :mod:`pgexp.exact`) or a
  Monte-Carlo reference (continuous states: :mod:`pgexp.runs.reference`);
* how trajectories are sampled -- the compiled tabular sampler (and the lecture's roll-in/roll-out) or a
  ``gymnasium.vector`` environment;
* how weights become gradients -- one accumulation onto ``(s, a)`` cells and one score pull-back, or
  ``torch.func`` per-sample gradients of the MLP over observations;
* the ``value_learned`` model -- the per-state mean, or a ridge regression on Fourier features.

Everything else (estimators, baselines, the replicate grid, the training loop, the tables) is shared
and reaches a track only through the methods below: ``sample``, ``gradients``, ``fit_values``,
``exact_state_values``, ``truth``, ``objective``,
``best_return`` and ``at``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

from pgexp import exact
from pgexp.errors import UserError
from pgexp.estimators.batch import Batch
from pgexp.problems.mdp import objective_kind
from pgexp.problems.problem import Problem
from pgexp.runs.truth import Truth
from pgexp.sampling.rng import Streams, as_streams

# a value model: V at (states, times), each row in its replicate's fit (``blocks``: the rows' replicates in a
# stack, broadcast like ``states``; ``None`` for a batch of one replicate)
ValueModel = Callable[..., np.ndarray]


def set_threads(threads: int | None) -> None:
    """Respect a job's thread count (torch intra-op threads, for neural policies); ``None`` leaves the default."""
    if threads is not None:
        if isinstance(threads, bool) or int(threads) < 1:
            raise UserError(f"--threads: {threads}; allowed: a positive integer")
        import torch

        torch.set_num_threads(int(threads))


def time_lookup(table: np.ndarray, states: np.ndarray, times: np.ndarray) -> np.ndarray:
    """``table[min(times, H'), states]`` for a time-indexed ``(H' + 1, S, ...)`` table (one row: stationary)."""
    if table.shape[0] == 1:
        return table[0][states]
    return table[np.minimum(times, table.shape[0] - 1), states]


@dataclass(eq=False)
class TabularContext:
    """A tabular problem at ``theta``: ``pi``, the sampler's alias tables and the exact values, computed once."""

    track: ClassVar[str] = "tabular"
    problem: Problem
    power_cache: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    @property
    def mdp(self):
        return self.problem.mdp

    @property
    def kind(self) -> str:
        return objective_kind(self.mdp)

    @property
    def gamma(self) -> float:
        return float(self.mdp.gamma)

    def at(self, theta: np.ndarray) -> TabularContext:
        return TabularContext(dataclasses.replace(self.problem, theta=np.asarray(theta, dtype=np.float64)))

    @cached_property
    def pi(self) -> np.ndarray:
        return self.problem.policy.probs(self.problem.theta)

    @cached_property
    def tables(self):
        from pgexp.sampling.tabular import make_tables

        return make_tables(self.mdp, self.pi)

    def powers(self, length: int) -> np.ndarray:
        """``gamma ** arange(length)`` as numpy computes it (``Batch.discount``; the fused kernels take it), cached."""
        if self.power_cache.shape[0] < length:
            self.power_cache = self.gamma ** np.arange(length, dtype=np.float64)
        return self.power_cache[:length]

    @cached_property
    def evaluation(self) -> exact.Evaluation:
        return exact.evaluate(self.mdp, self.pi)

    @cached_property
    def value_table(self) -> np.ndarray:
        """Exact ``V_h(s)``: ``(H+1, S)`` for a finite horizon (``V_H = 0``), else ``(1, S)``."""
        ev = self.evaluation
        if ev.V_steps is not None:
            return ev.V_steps
        return np.nan_to_num(ev.V, nan=0.0)[None, :]

    @cached_property
    def advantage_table(self) -> np.ndarray:
        """Exact ``A_h(s, a)``: ``(H, S, A)`` for a finite horizon, else ``(1, S, A)``."""
        ev = self.evaluation
        if ev.V_steps is not None:
            H = ev.V_steps.shape[0] - 1
            return np.stack([ev.Q_step(self.mdp, h) - ev.V_steps[h][:, None] for h in range(H)])
        return np.nan_to_num(ev.A, nan=0.0)[None, :, :]

    # ------------------------------------------------------------------ sampling
    def sample(self, scheme: str, source: np.random.SeedSequence | Streams, n: int, *, uniform_action: bool = False,
               steps: int | None = None) -> Batch:
        """``n`` trajectories (``scheme = "trajectories"``) or roll-in/roll-out samples from the stream ``source``;
        a :class:`~pgexp.sampling.rng.Streams` stack gives ``n`` per replicate, all in one compiled call (a batch
        of ``blocks = source.count``).  ``steps`` cuts an infinite-horizon problem's episodes after that many steps
        (``--truncate``)."""
        from pgexp.sampling.rng import trajectory_seeds
        from pgexp.sampling.tabular import rollin_rollout, sample

        mdp, tables = self.mdp, self.tables
        stack = as_streams(source)
        seeds = stack.trajectory_seeds(n) if stack is not None else trajectory_seeds(source, n)  # type: ignore[arg-type]
        blocks = 1 if stack is None else stack.count
        total = seeds.shape[0]
        if scheme == "rollin_rollout":
            if getattr(self.problem, "group_size", 1) > 1:
                raise UserError("--group-size: the roll-in/roll-out scheme samples single steps, not responses")
            s, a, h, y, cost = rollin_rollout(tables, seeds, mdp.gamma, mdp.horizon, uniform_action=uniform_action)
            live = (~tables.absorbing[s]).astype(np.int64)  # a roll-in absorbed before step h scores nothing
            return Batch(s[:, None], a[:, None], y[:, None], live, mdp.gamma, mdp.horizon, s[:, None],
                         np.ones(total, bool), np.zeros(total, bool), self.track, times=h[:, None], context=self,
                         env_steps=int(cost.sum()), given_returns=y[:, None], exact=self.exact_on, blocks=blocks,
                         costs=cost)
        G = int(getattr(self.problem, "group_size", 1))
        if G > 1:  # G responses per prompt: pgexp.sampling.groups (same trajectory streams, prompts of their own)
            from pgexp.sampling.groups import prompt_seeds, sample_groups

            t = sample_groups(mdp, tables, seeds, prompt_seeds(source, n // G), G, steps=steps)
        else:
            t = sample(mdp, tables, seeds, steps=steps)

        def successors() -> np.ndarray:
            nxt = np.zeros_like(t.states)  # padding stays a valid state index
            nxt[:, :-1] = t.states[:, 1:]
            rows = np.flatnonzero(t.lengths > 0)
            nxt[rows, t.lengths[rows] - 1] = t.final_states[rows]
            return nxt

        ended = tables.absorbing[t.final_states]
        if mdp.horizon is not None:  # the finite horizon ends the objective: V_H = 0
            ended = ended | (t.lengths == mdp.horizon)
        batch = Batch(t.states, t.actions, t.rewards, t.lengths, mdp.gamma, mdp.horizon, successors, ended,
                      t.truncated, self.track, context=self, exact=self.exact_on, blocks=blocks,
                      final_states=t.final_states, group_size=G)
        batch.__dict__["first_returns"] = t.first_returns  # the sampler summed G_0 already (a cached property)
        return batch

    # ------------------------------------------------------------------ values
    def exact_state_values(self, states: np.ndarray, times: np.ndarray, blocks: np.ndarray | None = None) -> np.ndarray:
        """Exact ``V_t(s)`` at ``states`` and ``times`` (time-indexed for a finite horizon; ``V_H = 0``); a value
        model's signature (``blocks``, the rows' replicates in a stack, is not needed: one ``V`` for all)."""
        return time_lookup(self.value_table, states, times)

    def exact_on(self, batch: Batch) -> dict[str, np.ndarray]:
        """The exact ``V``, ``Q``, ``A`` at a batch's steps, each ``(N, L)``."""
        V = self.exact_state_values(batch.states, batch.times)
        A = time_lookup(self.advantage_table, batch.states, batch.times)
        A = A[np.arange(batch.shape[0])[:, None], np.arange(batch.shape[1])[None, :], batch.actions]
        return {"V": V, "A": A, "Q": V + A}

    def fit_values(self, aux: Batch, seq: Any) -> ValueModel:
        """``value_learned``: the per-state mean of the return on ``aux`` (stationary), one table per replicate of
        a stack, as ``f(states, times, blocks)`` (``blocks``: each row's replicate, broadcast like ``states``)."""
        from pgexp.estimators.baselines import fit_state_values

        table = fit_state_values(aux.states, aux.returns, aux.mask, self.mdp.num_states,
                                 aux.block_ids if aux.blocks > 1 else None, aux.blocks)

        def model(states: np.ndarray, times: np.ndarray, blocks: np.ndarray | None = None) -> np.ndarray:
            return table[0][states] if blocks is None or table.shape[0] == 1 else table[blocks, states]

        return model

    # ------------------------------------------------------------------ gradients and truth
    def gradients(self, batch: Batch, weights: np.ndarray, *, per_trajectory: bool) -> np.ndarray:
        """``g_i = sum_h w_ih score(s_ih, a_ih)``: ``(N, d)``, or the mean over the whole batch ``(d,)``."""
        g = self.pulled(batch, weights, 1 if per_trajectory else batch.num)
        return g if per_trajectory else g[0] / max(batch.num, 1)

    def block_gradients(self, batch: Batch, weights: np.ndarray) -> np.ndarray:
        """Each replicate's batch estimate ``(1/n) sum_{i in block} g_i``: ``(blocks, d)``."""
        return self.pulled(batch, weights, batch.block_size) / max(batch.block_size, 1)

    def pulled(self, batch: Batch, weights: np.ndarray, group: int) -> np.ndarray:
        """``sum_i sum_h w_ih score(s_ih, a_ih)`` over each run of ``group`` consecutive trajectories: one
        accumulation onto ``(s, a)`` cells and one score pull-back, ``(ceil(N / group), d)`` (``weights`` may be
        :class:`~pgexp.estimators.correction.Corrected`: its correction adds weights on every cell of a visited
        state)."""
        from pgexp.estimators.correction import Corrected, cell_weights
        from pgexp.estimators.kernels import accumulate

        S, A = self.mdp.num_states, self.mdp.num_actions
        score = weights.score if isinstance(weights, Corrected) else weights
        W = accumulate(batch.states, batch.actions, np.ascontiguousarray(score, dtype=np.float64), batch.lengths, S,
                       A, group).reshape(-1, S, A)
        if isinstance(weights, Corrected):  # sum_a k(a) grad pi(a|s): weights pi(a|s) k(a) on every cell of s
            W = W + cell_weights(batch.states, batch.lengths, weights.correction, self.pi, group)
        return self.problem.policy.score_pullback(self.problem.theta, W, pi=self.pi)

    @cached_property
    def exact_gradient(self) -> tuple[float, np.ndarray]:
        """``(J, grad J)`` at ``theta``, exactly."""
        J, grad, _ = exact.gradient(self.mdp, self.problem.policy, self.problem.theta)
        return float(J), np.asarray(grad, dtype=np.float64)

    def truth(self, seed: int = 0, **_: Any) -> Truth:
        """The exact gradient, ``J`` and the best return ``J*`` of any policy."""
        J, grad = self.exact_gradient
        return Truth(grad, {"J_exact": J, "J_star": self.best_return()})

    def objective(self, seq: np.random.SeedSequence | None = None, episodes: int = 0) -> tuple[float, dict[str, float]]:
        """The exact ``J`` at ``theta`` (what training records; no sampling)."""
        return self.exact_gradient[0], {}

    def best_return(self) -> float:
        """``J*``, the best return of any policy (value iteration)."""
        return float(exact.optimal(self.mdp).J_star)


@dataclass(eq=False)
class ContinuousContext:
    """A continuous-state task at ``theta``: episodes from a vector environment, ``torch.func`` gradients."""

    track: ClassVar[str] = "continuous"
    problem: Any  # pgexp.problems.continuous.ContinuousProblem
    # the last few batches by stream: estimators compared in one process on common random numbers share
    # their episodes instead of re-simulating them (simulation dominates here)
    recent: dict[tuple, Batch] = field(default_factory=dict, repr=False)

    @property
    def kind(self) -> str:
        return "finite"  # termination, the time limit or the cap: a finite-horizon objective

    @property
    def gamma(self) -> float:
        return float(self.problem.gamma)

    def at(self, theta: np.ndarray) -> ContinuousContext:
        return ContinuousContext(self.problem.at(theta))

    def sample(self, scheme: str, source: np.random.SeedSequence | Streams, n: int, *, uniform_action: bool = False,
               steps: int | None = None) -> Batch:
        """``n`` episodes (every end -- termination, time limit, cap -- is an end of the objective); a
        :class:`~pgexp.sampling.rng.Streams` stack of one replicate is its SeedSequence (the engine draws
        continuous-state replicates one at a time: simulation dominates, not Python)."""
        from pgexp.sampling.vector_env import sample_episodes

        stack = as_streams(source)
        if stack is not None:
            if stack.count != 1:
                raise ValueError("continuous-state tasks sample one replicate at a time")
            source = stack.seq(0)
        seq: np.random.SeedSequence = source  # type: ignore[assignment]
        if steps is not None:
            raise UserError("--truncate: continuous-state tasks end at their own time limit (a finite horizon)")
        if scheme != "trajectories":
            raise UserError(f"sampling scheme {scheme!r}: continuous-state tasks sample whole episodes only")
        key = (seq.entropy, tuple(seq.spawn_key), int(n))
        if key in self.recent:
            return self.recent[key]
        p = self.problem
        if p.task.continuous_actions:  # a Gaussian policy: actions as sampled (the environment clips them)
            ep = sample_episodes(p.task, None, n, seq, p.horizon, gaussian_fn=p.policy.mean_std_fn(p.theta))
        else:
            ep = sample_episodes(p.task, p.policy.probs_fn(p.theta), n, seq, p.horizon)
        nxt = np.empty_like(ep.obs)
        nxt[:, :-1] = ep.obs[:, 1:]
        nxt[:, -1] = ep.obs[:, -1]  # never used: the value after the last step is zero
        batch = Batch(ep.obs, ep.actions, ep.rewards, ep.lengths, p.gamma, p.horizon, nxt, np.ones(n, bool),
                      ep.truncated, self.track, context=self)
        if len(self.recent) >= 4:
            self.recent.pop(next(iter(self.recent)))
        self.recent[key] = batch
        return batch

    def exact_state_values(self, states: np.ndarray, times: np.ndarray) -> np.ndarray:
        raise UserError("value_exact: continuous-state tasks have no exact value; use value_learned")

    def fit_values(self, aux: Batch, seq: np.random.SeedSequence) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """``value_learned``: ridge regression on random Fourier features of (observation, time), fitted on ``aux``."""
        from pgexp.estimators.value_models import fit_fourier_value

        return fit_fourier_value(aux, self.problem.horizon, seq)

    def block_gradients(self, batch: Batch, weights: np.ndarray) -> np.ndarray:
        """The batch estimate of each replicate, ``(blocks, d)`` (one replicate per batch here)."""
        from pgexp.estimators.correction import Corrected

        def rows(k: int) -> Any:
            sl = slice(k * batch.block_size, (k + 1) * batch.block_size)
            return weights.rows(sl) if isinstance(weights, Corrected) else weights[sl]

        return np.stack([self.gradients(batch.block(k), rows(k), per_trajectory=False) for k in range(batch.blocks)])

    def gradients(self, batch: Batch, weights: np.ndarray, *, per_trajectory: bool) -> np.ndarray:
        """``g_i``: ``(N, d)``, or their mean ``(d,)``; ``weights`` may carry an analytic correction
        (:class:`~pgexp.estimators.correction.Corrected`), pulled back through the policy's distribution."""
        from pgexp.estimators.correction import Corrected

        p = self.problem
        if isinstance(weights, Corrected):
            w = np.where(batch.mask, weights.score, 0.0)
            k = np.where(batch.mask[..., None], weights.correction, 0.0)
            g = p.policy.trajectory_gradients(p.theta, batch.states, batch.actions, w) + \
                p.policy.distribution_pullback(p.theta, batch.states, k)
            return g if per_trajectory else g.mean(axis=0)
        w = np.where(batch.mask, weights, 0.0)  # the surrogate sums every column: padding must weigh nothing
        if per_trajectory:
            return p.policy.trajectory_gradients(p.theta, batch.states, batch.actions, w)
        return p.policy.batch_gradient(p.theta, batch.states, batch.actions, w)

    def truth(self, seed: int = 0, *, reference_batch: int = 2000, tick: Callable[[int], Any] | None = None,
              **_: Any) -> Truth:
        """The Monte-Carlo reference gradient (:func:`pgexp.runs.reference.reference_gradient`); ``tick(n)``
        after every chunk of ``n`` episodes (a progress bar's ``update``)."""
        from pgexp.runs.reference import reference_gradient

        return reference_gradient(self, reference_batch, seed, tick).truth()

    def objective(self, seq: np.random.SeedSequence, episodes: int) -> tuple[float, dict[str, float]]:
        """The evaluation return: the mean undiscounted return of ``episodes`` fresh episodes, and its SE."""
        r = self.sample("trajectories", seq, episodes).rewards.sum(axis=1)
        J = float(r.mean())
        se = float(r.std(ddof=1) / np.sqrt(r.size)) if r.size > 1 else float("nan")
        return J, {"eval_return": J, "eval_return_se": se}

    def best_return(self) -> float:
        """The largest possible undiscounted return where it is known (CartPole: one per step up to the cap)."""
        return float(self.problem.horizon) if self.problem.task.env_id.startswith("CartPole") else float("nan")


def make_context(problem: Any) -> TabularContext | ContinuousContext:
    """The track context of a problem (tabular :class:`~pgexp.problems.problem.Problem`, continuous, or
    linear-quadratic: :class:`~pgexp.runs.lqr_context.LQRContext`)."""
    if getattr(problem, "track", "tabular") == "lqr":
        from pgexp.runs.lqr_context import LQRContext

        return LQRContext(problem)  # type: ignore[return-value]
    if getattr(problem, "track", "tabular") == "continuous":
        return ContinuousContext(problem)
    return TabularContext(problem)
