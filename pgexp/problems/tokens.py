r"""Sequence MDPs: a tiny language model answering prompts, ``tokens:vocab=2,length=5,needs=1;2;3``.

An episode is one *response* to one *prompt*.  The prompt ``k`` (one of ``K``) is the initial state, drawn
uniformly; each action emits a token: ``0`` is the end-of-sequence token ``<eos>`` (written ``.``), ``1 .. V``
the content tokens (written ``a, b, c, ...``).  The state is the prompt and the prefix emitted so far, so the
MDP is a *tree*: every state has one parent, the exact machinery applies unchanged, and a response's
probability is the product of its tokens' probabilities.  The episode ends on ``<eos>`` or when the response
reaches ``length = L`` actions; the response length ``|o|`` counts every action taken, ``<eos>`` included
(``1 <= |o| <= L``).  The default horizon is ``H = L`` and ``gamma = 1``: the objective is the expected reward
of a response, ``J = sum_k mu_k P(correct | k)`` for 0/1 rewards.

**The reward** arrives with the last action only (a verifiable reward), computed from the response's content
tokens ``y`` (the ``<eos>`` excluded) by a documented rule:

* ``rule=count`` (default): prompt ``k`` needs ``needs_k`` copies of the token ``a`` ("a correct step"); the
  response is correct (reward 1) when ``count_a(y) >= needs_k``, else 0.  The other tokens are filler, so
  **correctness depends on length** -- a longer response is more often correct, and a wrong answer can be
  padded with filler -- which gives a length bias something to act on; ``needs_k`` is the prompt's
  difficulty.  ``partial=true`` gives partial credit ``min(count_a(y), needs_k) / needs_k``.
* ``rule=first``: the first content token is the answer; prompt ``k``'s correct answer is token
  ``1 + (k mod V)``; everything after it is padding, so the length of a response is free while its
  correctness is fixed by its first token.

**Policies.**  ``--features tabular`` is the tabular softmax (one logit per prefix and token: nothing is
shared between prefixes).  ``--features native`` (the default) is a *shared-parameter* softmax, a tiny language
model: ``pi(a | s) ∝ exp(theta . phi(s, a))`` with one-hot features of the prompt, the position ``t`` (the
prefix length) and the last token (``<bos>`` at ``t = 0``), each crossed with the action::

    phi(s, a) = [e_prompt(s) ⊗ e_a,  e_position(s) ⊗ e_a,  e_last(s) ⊗ e_a],     d = (K + L + V + 1) (V + 1),

so ``theta`` has blocks ``(K, A)``, ``(L, A)``, ``(V + 1, A)`` in that order (row-major) with ``A = V + 1``: the
logit of ``<eos>`` at position ``t`` is shared by every prefix of that length, so the length of a response is
something a gradient step changes everywhere at once.

States: for each prompt the prefixes of length ``0 .. L - 1`` (``sum_{t<L} V^t`` of them), in order of length
and then lexicographically, prompt after prompt, then one absorbing state that every ending action enters
(pgexp's own: no parameters, dropped from reports).  ``state_labels`` name them ``p0:``, ``p0:ab``, ...
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from pgexp.errors import UserError
from pgexp.problems.mdp import FiniteMDP, make_mdp
from pgexp.problems.registry import apply_common
from pgexp.specs import Spec

EOS = 0
RULES = ("count", "first")
MAX_STATES = 200_000
TOKEN_NAMES = string.ascii_lowercase


@dataclass(frozen=True)
class TokenTask:
    """The validated options of a ``tokens:`` spec.

    Attributes:
        vocab: ``V`` content tokens (actions ``1..V``; action 0 is ``<eos>``).
        length: ``L``, the longest response (actions, ``<eos>`` included).
        rule: ``count`` or ``first`` (module docstring).
        needs: per prompt, the copies of token ``a`` a correct answer needs (``count``), else ``()``.
        prompts: ``K``.
        partial: partial credit (``count`` only).
    """

    vocab: int
    length: int
    rule: str
    needs: tuple[int, ...]
    prompts: int
    partial: bool

    @property
    def num_actions(self) -> int:
        return self.vocab + 1

    @property
    def per_prompt(self) -> int:
        """``M = sum_{t<L} V^t``: the prefixes of one prompt (its states)."""
        return sum(self.vocab ** t for t in range(self.length))

    @property
    def num_states(self) -> int:
        return self.prompts * self.per_prompt + 1

    def reward(self, k: int, content: tuple[int, ...]) -> float:
        """The reward of prompt ``k``'s response with content tokens ``content`` (``<eos>`` excluded)."""
        if self.rule == "first":
            return float(bool(content) and content[0] == 1 + k % self.vocab)
        need = self.needs[k]
        hits = sum(1 for y in content if y == 1)
        if self.partial:
            return min(hits, need) / need
        return float(hits >= need)


def _int(value: Any, key: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UserError(f"--env tokens: {key}={value!r}; allowed: an integer in [{low}, {high}]")
    return int(value)


def parse_task(o: dict[str, Any]) -> TokenTask:
    """The options of a ``tokens:`` spec, checked (one-line errors naming the key)."""
    vocab = _int(o["vocab"], "vocab", 1, len(TOKEN_NAMES))
    length = _int(o["length"], "length", 1, 64)
    rule = o["rule"]
    if rule not in RULES:
        raise UserError(f"--env tokens: rule={rule!r}; allowed: {', '.join(RULES)}")
    if not isinstance(o["partial"], bool):
        raise UserError(f"--env tokens: partial={o['partial']!r}; allowed: true or false")
    prompts = None if o["prompts"] is None else _int(o["prompts"], "prompts", 1, 10_000)
    needs: tuple[int, ...] = ()
    if rule == "count":
        if o["needs"] is None:
            needs = tuple(range(1, (prompts or 3) + 1))
        else:
            try:
                needs = tuple(int(x) for x in str(o["needs"]).split(";"))
            except ValueError:
                needs = ()
            if not needs or any(n < 1 or n > length for n in needs) or len(needs) > 10_000:
                raise UserError(f"--env tokens: needs={o['needs']!r}; allowed: integers in [1, length = {length}] "
                                "separated by ';', one per prompt (e.g. 1;2;3)")
        if prompts is not None and prompts != len(needs):
            raise UserError(f"--env tokens: prompts={prompts} but needs lists {len(needs)} prompts; give one of them")
        prompts = len(needs)
    else:
        if o["needs"] is not None or o["partial"]:
            raise UserError("--env tokens: needs and partial belong to rule=count; rule=first takes prompts=K")
        prompts = prompts or 3
    task = TokenTask(vocab, length, str(rule), needs, int(prompts), bool(o["partial"]) and rule == "count")
    if task.num_states > MAX_STATES:
        raise UserError(f"--env tokens: {task.prompts} prompts x {task.per_prompt} prefixes = {task.num_states} states "
                        f"(> {MAX_STATES}); give a smaller vocab, length or fewer prompts")
    return task


def prefixes(task: TokenTask) -> list[tuple[int, ...]]:
    """One prompt's prefixes (content tokens ``1..V``) of length ``0 .. L-1``, in state order."""
    out: list[tuple[int, ...]] = [()]
    level: list[tuple[int, ...]] = [()]
    for _ in range(task.length - 1):
        level = [(*p, y) for p in level for y in range(1, task.vocab + 1)]
        out.extend(level)
    return out


def token_arrays(task: TokenTask) -> tuple[sp.csr_array, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """``(P (S*A, S) CSR, r (S, A), mu (S,), phi (S, A, d), labels)`` of the tree MDP (module docstring)."""
    V, L, K, A = task.vocab, task.length, task.prompts, task.num_actions
    pre = prefixes(task)
    M = len(pre)
    index = {p: i for i, p in enumerate(pre)}
    S = K * M + 1
    end = S - 1
    rows, cols = [], []
    r = np.zeros((S, A))
    d = (K + L + V + 1) * A
    phi = np.zeros((S, A, d))
    labels = []
    eye = np.eye(A)
    for k in range(K):
        for i, p in enumerate(pre):
            s = k * M + i
            t = len(p)
            labels.append(f"p{k}:" + "".join(TOKEN_NAMES[y - 1] for y in p))
            last = p[-1] if p else 0
            phi[s, :, k * A:(k + 1) * A] = eye
            phi[s, :, (K + t) * A:(K + t + 1) * A] = eye
            phi[s, :, (K + L + last) * A:(K + L + last + 1) * A] = eye
            for a in range(A):
                ends = a == EOS or t + 1 == L
                content = p if a == EOS else (*p, a)
                rows.append(s * A + a)
                cols.append(end if ends else k * M + index[content])
                if ends:
                    r[s, a] = task.reward(k, content)
    for a in range(A):
        rows.append(end * A + a)
        cols.append(end)
    labels.append("end")
    P = sp.csr_array((np.ones(len(rows)), (np.asarray(rows), np.asarray(cols))), shape=(S * A, S))
    mu = np.zeros(S)
    mu[np.arange(K) * M] = 1.0 / K
    return P, r, mu, phi, tuple(labels)


def build(o: dict[str, Any], spec: Spec) -> FiniteMDP:
    task = parse_task(o)
    P, r, mu, phi, labels = token_arrays(task)
    mdp = make_mdp(P, r, mu, phi=phi, name=spec.canonical(), state_labels=labels, num_internal=1)
    return apply_common(mdp, o, gamma=1.0, horizon=task.length)


def task_of(mdp: FiniteMDP) -> TokenTask | None:
    """The :class:`TokenTask` a ``tokens:`` MDP was built from (read back from its name), else ``None``."""
    from pgexp.problems.registry import env_options, env_spec

    if not mdp.name.startswith("tokens"):
        return None
    return parse_task(env_options(env_spec(mdp.name)))
