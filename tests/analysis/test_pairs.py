"""An estimate table may hold several estimator~baseline pairs (one job running them all on common random numbers):
``pgexp metrics``, ``slopes``, ``compare`` and ``practice-audit`` then give exactly the rows that one table per pair
gives, whatever the order of its rows; pairs that differ only in a hyperparameter or a practice option stay apart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pgexp.analysis.metrics import metrics_frame
from pgexp.analysis.slopes import fit_slopes
from pgexp.audit.table import audit_table
from pgexp.audit.variants import variants
from pgexp.cli import main
from pgexp.errors import UserError
from pgexp.estimators import hyperparameters
from pgexp.estimators.practice import PLAIN
from pgexp.problems.problem import build_problem
from pgexp.runs.estimate import run_estimate, run_estimate_grid
from pgexp.tables import NULLABLE_INTEGER_COLUMNS, PAIR_COLUMNS

ENV = "garnet:states=5,actions=2,branching=2,seed=2"
PAIRS = (("reinforce", "none", None), ("reward_to_go", "value_learned", None), ("gae", "value_exact", 0.9),
         ("actor_critic", "none", None), ("reward_to_go", "optimal", None))


def _job(estimator: str, baseline: str, lam: float | None, **kw) -> pa.Table:
    return run_estimate_grid(lambda h: build_problem(ENV, theta="random:seed=1,scale=0.7", horizon=h), [3, 6],
                             [2, 8], estimator, baseline, params=None if lam is None else {"lam": lam},
                             replicates=40, seed=0, progress=False, tags={"env_name": "g", "theta_name": "t"}, **kw)


@pytest.fixture(scope="module")
def pair_tables() -> list[pa.Table]:
    return [_job(*p) for p in PAIRS]


def _cell_major(table: pa.Table) -> pa.Table:
    """The rows regrouped cell by cell (every pair of a cell together), replicates in order within each pair."""
    order = pc.sort_indices(pa.table({"h": table["horizon"], "n": table["batch_size"],
                                      "i": pa.array(np.arange(table.num_rows))}),
                            sort_keys=[("h", "ascending"), ("n", "ascending"), ("i", "ascending")])
    return table.take(order)


def test_the_pair_columns_are_the_registry_hyperparameters_and_the_practice_options(pair_tables):
    assert set(hyperparameters()) <= set(PAIR_COLUMNS)
    assert set(PLAIN.columns()) <= set(PAIR_COLUMNS)
    assert {"estimator", "baseline"} <= set(PAIR_COLUMNS)
    # the integer columns that are null for some pairs: pandas reads them as float64 in a table of several pairs
    t = run_estimate(build_problem(ENV, horizon=3), "reinforce", "none", batch_size=2, replicates=2, seed=0,
                     progress=False)
    nullable_ints = {f.name for f in t.schema if pa.types.is_integer(f.type) and t[f.name].null_count}
    assert nullable_ints == set(NULLABLE_INTEGER_COLUMNS)


@pytest.mark.parametrize("layout", ["pair_major", "cell_major"])
def test_one_table_of_several_pairs_gives_the_rows_of_one_table_per_pair(tmp_path, pair_tables, layout):
    """The commands on one file per pair and on the same rows in one file (pairs one after the other, or
    interleaved cell by cell): identical tables (every column, bit for bit; the same row order)."""
    separate = []
    for i, t in enumerate(pair_tables):
        separate.append(str(tmp_path / f"pair{i}.parquet"))
        pq.write_table(t, separate[-1])
    combined = pa.concat_tables(pair_tables)
    combined = _cell_major(combined) if layout == "cell_major" else combined
    one = str(tmp_path / "all.parquet")
    pq.write_table(combined, one)
    for command, extra in (("metrics", ["--reference-horizon", "6", "--reference-batch-size", "8"]),
                           ("slopes", []), ("compare", [])):
        outs = []
        for name, inputs in (("separate", separate), ("one", [one])):
            out = str(tmp_path / f"{command}-{name}.parquet")
            assert main([command, *inputs, "--resamples", "50", *extra, "--output", out]) == 0
            outs.append(pd.read_parquet(out))
        assert len(outs[0]) > 0
        pd.testing.assert_frame_equal(outs[1], outs[0], check_exact=True, obj=command)
    metrics = pd.read_parquet(tmp_path / "metrics-one.parquet")
    assert len(metrics) == len(PAIRS) * 4 and metrics.groupby(["estimator", "baseline"]).size().eq(4).all()


def test_pairs_that_differ_in_lambda_stay_apart(pair_tables):
    """Two GAE lambdas in one table: two metrics rows and two slopes per cell (each lambda's own numbers, as from its
    own table); comparisons, which name a pair by estimator~baseline, refuse them by name."""
    other = _job("gae", "value_exact", 0.5)
    both = pa.concat_tables([pair_tables[2], other]).to_pandas()
    m = metrics_frame([both], n_resamples=50, confirm=False)
    alone = pd.concat([metrics_frame([t.to_pandas()], n_resamples=50, confirm=False)
                       for t in (pair_tables[2], other)], ignore_index=True)
    pd.testing.assert_frame_equal(m, alone, check_exact=True)
    assert sorted(m["lam"].unique()) == [0.5, 0.9]
    s = fit_slopes(both, n_resamples=50)
    assert len(s) == 2 * 2 and sorted(s["lam"].unique()) == [0.5, 0.9]
    one = fit_slopes(pair_tables[2].to_pandas(), n_resamples=50)
    pd.testing.assert_frame_equal(s[s["lam"] == 0.9].reset_index(drop=True), one, check_exact=True)
    from pgexp.analysis.compare import paired_comparisons

    with pytest.raises(UserError, match="has gae~value_exact twice"):
        paired_comparisons([both], n_resamples=50)


def test_the_practice_audit_of_one_table_is_that_of_one_table_per_variant():
    """Variants that share estimator~baseline and differ in their practice options, in one table or one per
    variant: the same audit."""
    tables = []
    for v in variants(("common", "normalize"), "value_exact", None):
        tables.append(run_estimate_grid(lambda h: build_problem(ENV, gamma=0.8, theta="random:seed=1,scale=0.7",
                                                                horizon=h), [4], [2, 8], v.estimator, v.baseline,
                                        replicates=40, seed=0, practice=v.practice, progress=False,
                                        tags={"env_name": "g", "theta_name": "t"}))
    assert len({(t["estimator"][0].as_py(), t["baseline"][0].as_py()) for t in tables}) < len(tables)
    separate = audit_table([t.to_pandas() for t in tables], resamples=50)
    one = audit_table([_cell_major(pa.concat_tables(tables)).to_pandas()], resamples=50)
    assert len(separate) == 2 * len(tables)
    pd.testing.assert_frame_equal(one, separate, check_exact=True)
