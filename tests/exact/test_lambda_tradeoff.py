"""GAE's exact lambda trade-off: the table's invariants, its figure and its generated findings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from pgexp.errors import UserError
from pgexp.exact.model import make_setup
from pgexp.exact.tradeoff import lambda_tradeoff, perturbed_values
from pgexp.figures.gae_lambda_tradeoff import draw
from pgexp.problems.problem import build_problem
from pgexp.report.lambda_tradeoff import lambda_tradeoff_findings

LAMS = (0.0, 0.25, 0.5, 0.75, 0.95, 1.0)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    frames = []
    for name, env, gamma, H in (("garnet", "garnet:states=6,actions=3,branching=2,seed=1", 0.95, 10),
                                ("chain", "chain:length=4", None, "inf")):
        prob = build_problem(env, gamma=gamma, horizon=H, theta="random:seed=2,scale=0.5")
        df = pd.DataFrame(lambda_tradeoff(prob, LAMS, (1, 8, 64)))
        frames.append(df.assign(env_name=name, theta_name="t", horizon=-1 if H == "inf" else H))
    return pd.concat(frames, ignore_index=True)


def test_invariants_of_the_exact_table(table):
    scale = table["mse"].max()
    assert np.allclose(table["mse"], table["bias_sq"] + table["trace_cov"], rtol=1e-13)
    assert (table[table["value"] == "exact"]["bias_sq"] <= 1e-20 * scale).all()     # V^pi: unbiased at every lambda
    fin = table[(table["env_name"] == "garnet") & (table["lam"] == 1.0)]            # GAE(1) = reward-to-go - V
    assert (fin["bias_sq"] <= 1e-20 * scale).all()
    for (_, _value, n), cell in table.groupby(["env_name", "value", "batch_size"]):
        assert cell["best"].sum() == 1
        assert cell[cell["best"]]["mse"].iloc[0] == cell["mse"].min()
        assert np.allclose(cell["trace_cov"] * n, cell["var_per_traj"], rtol=1e-14)
    one, many = (table[(table["value"] == "none") & (table["batch_size"] == n)].set_index(["env_name", "lam"])
                 for n in (1, 64))
    assert np.allclose(one["bias_sq"], many["bias_sq"], rtol=1e-14)                 # bias does not shrink with N


def test_perturbed_values_keep_the_semantics():
    st = make_setup(build_problem("short_corridor", horizon=5, theta="zeros"))
    V = perturbed_values(st, 0.5, seed=3)
    assert V.shape == (6, 4) and np.all(V[-1] == 0) and np.all(V[:, st.absorbing] == 0)
    assert not np.allclose(V[:-1], st.value_steps[:-1])
    np.testing.assert_array_equal(V, perturbed_values(st, 0.5, seed=3))
    with pytest.raises(UserError, match="lambdas in"):
        lambda_tradeoff(build_problem("short_corridor", horizon=5), [0.5, 1.5])


def test_figure_and_findings_come_from_the_table(table):
    fig = draw({"tradeoff": table})
    assert isinstance(fig, Figure) and len([a for a in fig.axes if a.get_visible()]) == 2 * 3
    assert isinstance(draw({}), Figure)
    sentences = lambda_tradeoff_findings(table)
    assert len(sentences) == 2 * 3
    best = table[table["best"] & (table["env_name"] == "garnet") & (table["value"] == "none")]
    s = next(x for x in sentences if x.startswith("garnet") and "V = 0" in x)
    for row in best.itertuples():
        assert f"N = {row.batch_size}: λ = {row.lam:g} (MSE {row.mse:.3g}" in s
    assert all("unbiased" in x for x in sentences if "with V^π" in x)
    assert lambda_tradeoff_findings(None) == []
