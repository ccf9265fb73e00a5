"""Problems: registry, spec grammar, each family's structure, Gymnasium tables, MDP files and their errors."""

from __future__ import annotations

import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import yaml

from pgexp.errors import UserError
from pgexp.problems import REGISTRY, declared_gamma, make_env
from pgexp.problems.corridor import corridor_arrays
from pgexp.problems.files import load_mdp, save_mdp

SPECS = [
    "garnet", "garnet:states=50,actions=4,branching=5,seed=3", "chain", "chain:length=8,seed=2", "short_corridor",
    "gym:FrozenLake-v1:map_name=4x4,is_slippery=true", "gym:FrozenLake-v1:map_name=8x8,is_slippery=false",
    "gym:CliffWalking-v1", "gym:Taxi-v4",
]


@pytest.mark.parametrize("spec", SPECS)
def test_every_problem_is_a_valid_mdp(spec):
    m = make_env(spec)
    S, A = m.num_states, m.num_actions
    assert m.P.shape == (S * A, S) and m.r.shape == (S, A) and m.mu.shape == (S,)
    np.testing.assert_allclose(m.P.sum(axis=1), 1.0, atol=1e-12)
    assert np.isclose(m.mu.sum(), 1.0) and m.P.data.min() >= 0
    assert m.P.dtype == np.float64 and m.r.dtype == np.float64


def test_registry_lists_all_families():
    assert {"garnet", "chain", "short_corridor", "gym", "file"} <= set(REGISTRY)


@pytest.mark.parametrize("spec", [*SPECS, "bandit", "garnet:gamma=0.5", "chain:gamma=1", "short_corridor:gamma=0.3",
                                  "gym:FrozenLake-v1:gamma=0.7"])
def test_the_declared_discount_is_the_built_problems(spec):
    """The registry answers a problem's discount without building it (the workflow's light checks ask)."""
    assert declared_gamma(spec) == make_env(spec).gamma


def test_reading_the_registry_imports_no_numerics():
    code = ("import sys; from pgexp.problems import REGISTRY, declared_gamma; declared_gamma('garnet'); "
            "print(sorted(m for m in ('numpy', 'scipy', 'gymnasium') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_garnet_is_deterministic_and_has_exact_branching():
    a = make_env("garnet:states=200,actions=3,branching=4,seed=7")
    b = make_env("garnet:seed=7,branching=4,actions=3,states=200")
    assert (a.P != b.P).nnz == 0 and np.array_equal(a.r, b.r)
    assert np.all(np.diff(a.P.indptr) == 4)  # exactly `branching` distinct next states per (s, a)
    c = make_env("garnet:states=200,actions=3,branching=4,seed=8")
    assert not np.array_equal(a.r, c.r)


def test_garnet_scales_sparse():
    m = make_env("garnet:states=100000,actions=4,branching=5,seed=0")
    assert m.P.nnz == 100000 * 4 * 5


def test_corridor_is_sutton_barto_example_13_1():
    m = make_env("short_corridor")
    P = m.dense_P
    LEFT, RIGHT = 0, 1
    assert P[0, RIGHT, 1] == 1 and P[0, LEFT, 0] == 1          # normal state
    assert P[1, RIGHT, 0] == 1 and P[1, LEFT, 2] == 1          # switched state
    assert P[2, RIGHT, 3] == 1 and P[2, LEFT, 1] == 1
    assert np.all(m.r[:3] == -1) and np.all(m.r[3] == 0) and m.mu[0] == 1
    assert m.absorbing_states().tolist() == [False, False, False, True]
    assert np.array_equal(m.phi[:, RIGHT], np.tile([1.0, 0.0], (4, 1)))
    assert np.array_equal(m.phi[:, LEFT], np.tile([0.0, 1.0], (4, 1)))
    assert m.gamma == 1.0 and m.horizon is None


def test_chain_rewards_at_both_ends():
    m = make_env("chain:length=6")
    assert m.r[0, 0] == pytest.approx(0.005) and m.r[5, 1] == pytest.approx(1.0)
    assert np.count_nonzero(m.r) == 2 and m.mu[0] == 1


@pytest.mark.parametrize("env_id,kwargs", [
    ("FrozenLake-v1", {"map_name": "4x4", "is_slippery": True}),
    ("FrozenLake-v1", {"map_name": "8x8", "is_slippery": True}),
    ("CliffWalking-v1", {}),
    ("Taxi-v4", {}),
])
def test_gym_table_is_read_not_retyped(env_id, kwargs):
    spec = f"gym:{env_id}" + (":" + ",".join(f"{k}={str(v).lower()}" for k, v in kwargs.items()) if kwargs else "")
    m = make_env(spec)
    env = gym.make(env_id, **kwargs)
    table, S = env.unwrapped.P, len(env.unwrapped.P)
    assert m.num_states == S + 1 and m.absorbing_states()[S]
    P = m.P.toarray().reshape(S + 1, m.num_actions, S + 1)
    for s in range(S):
        for a in range(m.num_actions):
            expected = np.zeros(S + 1)
            reward = 0.0
            for prob, s2, rew, term in table[s][a]:
                expected[S if term else s2] += prob
                reward += prob * rew
            np.testing.assert_allclose(P[s, a], expected, atol=1e-15)
            assert m.r[s, a] == pytest.approx(reward, abs=1e-15)
    np.testing.assert_allclose(m.mu[:S], env.unwrapped.initial_state_distrib)
    assert m.horizon == env.spec.max_episode_steps and m.gamma == 1.0


def test_gym_terminated_transition_pays_then_absorbs():
    m = make_env("gym:FrozenLake-v1:map_name=4x4,is_slippery=false")
    RIGHT, DOWN = 2, 1
    # state 14 -> right reaches the goal (15): reward 1, then the absorbing state
    assert m.r[14, RIGHT] == 1.0 and m.dense_P[14, RIGHT, 16] == 1.0
    assert m.dense_P[16, DOWN, 16] == 1.0 and np.all(m.r[16] == 0)


@pytest.mark.parametrize("bad,match", [
    ("nosuch", "unknown problem 'nosuch'; allowed:"),
    ("garnet:states=10,colour=red", "unknown key.*colour.*allowed"),
    ("garnet:states=0", "states=0"),
    ("garnet:states=3,branching=5", "branching=5 exceeds states=3"),
    ("garnet:states", "expected key=value"),
    ("chain:length=1", "length=1"),
    ("gym:NoSuchEnv-v0", "gym:NoSuchEnv-v0"),
    ("gym:CartPole-v1", "not a toy-text"),
    ("garnet:gamma=1.5", "gamma"),
    ("garnet:horizon=-3", "horizon"),
    ("file:/nonexistent/mdp.npz", "no such file"),
])
def test_bad_specs_give_clear_errors(bad, match):
    with pytest.raises(UserError, match=match):
        make_env(bad)


# ------------------------------------------------------------------------------------ MDP files

def _fields():
    P, r, mu, phi = corridor_arrays()
    return {"P": P, "r": r, "mu": mu, "phi": phi, "gamma": 1.0, "horizon": "inf"}


@pytest.mark.parametrize("suffix", [".npz", ".yaml", ".json"])
def test_file_roundtrip(tmp_path, suffix):
    path = tmp_path / f"mdp{suffix}"
    f = _fields()
    if suffix == ".npz":
        save_mdp(path, make_env("short_corridor"))
    else:
        data = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in f.items()}
        path.write_text(yaml.safe_dump(data) if suffix == ".yaml" else json.dumps(data))
    m = make_env(f"file:{path}")
    ref = make_env("short_corridor")
    assert np.array_equal(m.dense_P, ref.dense_P) and np.array_equal(m.r, ref.r) and np.array_equal(m.phi, ref.phi)
    assert m.gamma == 1.0 and m.horizon is None


def _write_bad(tmp_path, **changes):
    data = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in _fields().items()}
    data.update(changes)
    data = {k: v for k, v in data.items() if v is not None}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    return path


def _P_with(s, a, s2, value, fix_row=True):
    P = corridor_arrays()[0].copy()
    P[s, a, s2] = value
    return P.tolist()


@pytest.mark.parametrize("changes,match", [
    ({"P": _P_with(1, 0, 2, 0.5)}, r"'P': row \(1, 0, :\) sums to 0.5"),
    ({"P": _P_with(0, 1, 1, 1.5)}, r"'P': value 1.5 at index \(0, 1, 1\).*\[0, 1\]"),
    ({"P": _P_with(0, 1, 2, -0.5)}, r"'P': value -0.5 at index \(0, 1, 2\)"),
    ({"r": [[-1, -1], [-1, "nan"], [-1, -1], [0, 0]]}, "numeric|non-finite"),
    ({"r": [[-1, -1], [-1, -1]]}, r"'P': expected shape \(S, A, S\) = \(2, 2, 2\)"),
    ({"mu": [0.5, 0.5, 0.5, 0.0]}, "'mu': sums to 1.5"),
    ({"mu": [1.0, 0.0, 0.0]}, r"'mu': expected shape \(4,\)"),
    ({"gamma": 2.0}, "'gamma'.*allowed: a number in \\[0, 1\\]"),
    ({"horizon": 0}, "'horizon'.*positive integer"),
    ({"phi": [[[1, 0]]]}, r"'phi': expected shape \(S, A, d\)"),
    ({"P": None}, "missing field.*P"),
    ({"extra": 1}, "unknown field.*extra"),
])
def test_file_validation_names_field_index_and_rule(tmp_path, changes, match):
    path = _write_bad(tmp_path, **changes)
    with pytest.raises(UserError, match=match):
        load_mdp(path)


def test_file_nan_reward_reports_index(tmp_path):
    f = _fields()
    f["r"] = f["r"].copy()
    f["r"][1, 1] = np.nan
    path = tmp_path / "nan.npz"
    np.savez(path, **{k: v for k, v in f.items() if k not in {"gamma", "horizon"}})
    with pytest.raises(UserError, match=r"'r': non-finite value at index \(1, 1\)"):
        load_mdp(path)


def test_cli_user_error_is_one_line_without_traceback(tmp_path):
    path = _write_bad(tmp_path, P=_P_with(1, 0, 2, 0.5))
    proc = subprocess.run([sys.executable, "-m", "pgexp", "exact", "--env", f"file:{path}"], capture_output=True,
                          text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "sums to 0.5" in proc.stderr
