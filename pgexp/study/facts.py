"""What only a build knows about a spec, asked by the light half of config checking.

Reading a config's sections needs two facts the spec string alone may not give: the discount of a problem
the config gives none (the objective at ``H = inf`` is discounted or episodic) and a continuous-state
Gymnasium task's time limit (the deep section's horizon).  Each is answered, cheapest first:

1. from the registry's metadata, without building (:func:`pgexp.problems.registry.declared_gamma`: every
   built-in problem declares its default discount);
2. from the facts of an earlier full check of the same config (:mod:`pgexp.study.record` keeps them), when a
   :func:`session` was seeded with them;
3. by building the problem (numpy; gymnasium for a task), noting the answer in the session, so that the
   record of this check keeps it for the next ``snakemake`` call.

Outside a session nothing is remembered: each question builds again (as a single ``load_study`` call did).
Facts are plain JSON values keyed by their spec (``"gamma <env>"``, ``"task <env>"``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from pgexp.errors import UserError

if TYPE_CHECKING:
    from pgexp.problems.continuous import GymTask

_SESSION: dict[str, Any] | None = None  # the facts of the running session (None: none is running)


@contextmanager
def session(known: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Remember facts for the duration of the ``with`` block, starting from ``known``; yields the facts (those
    given and those learnt), which the caller may record."""
    global _SESSION
    outer, _SESSION = _SESSION, dict(known or {})
    try:
        yield _SESSION
    finally:
        _SESSION = outer


def _recall(key: str) -> Any:
    return None if _SESSION is None else _SESSION.get(key)


def _note(key: str, value: Any) -> None:
    if _SESSION is not None:
        _SESSION[key] = value


def problem_gamma(env: str) -> float:
    """The discount of the tabular problem ``env`` when the config sets none (raises :func:`make_env`'s
    :class:`~pgexp.errors.UserError` for a bad spec)."""
    from pgexp.problems import declared_gamma

    declared = declared_gamma(env)
    if declared is not None:
        return declared
    key = f"gamma {env}"
    gamma = _recall(key)
    if gamma is None:
        from pgexp.problems import make_env

        gamma = float(make_env(env).gamma)
        _note(key, gamma)
    return float(gamma)


def continuous_task(env: str) -> GymTask | None:
    """The continuous-state Gymnasium task ``env`` names (``gym:CartPole-v1``), or ``None`` when it names none
    (not ``gym:...``, not registered, or not a flat ``Box`` observation with ``Discrete`` actions)."""
    from pgexp.problems.continuous import GymTask, gym_task

    if not env.strip().startswith("gym:"):
        return None
    key = f"task {env}"
    known = _recall(key)
    if known is not None:
        return GymTask(**known)
    try:
        task = gym_task(env)
    except UserError:
        return None
    _note(key, {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(task).items()})  # plain JSON
    return task


__all__ = ["continuous_task", "problem_gamma", "session"]
