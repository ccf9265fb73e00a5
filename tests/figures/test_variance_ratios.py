"""The report's headline figure ``variance_ratios``, read back from its Axes: each mark is the table's ratio
of the pair's per-trajectory variance to REINFORCE's (the comparisons table's paired ratio and interval,
inverted; the metrics' point ratio, without an interval, where there is no paired comparison), rows are
sorted by the median ratio, and oracles are drawn apart, hollow, never among the ranked rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer
from study_shape import default_study_tables
from test_report import make_comparisons, make_metrics

from pgexp.estimators import is_oracle
from pgexp.figures import FIGURES
from pgexp.figures.layout import CLIP_GID
from pgexp.figures.style import pair_label
from pgexp.figures.variance_ratios import ORACLE_TITLE, paired_ratio, ratio_table

REF = ("reinforce", "none")


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    metrics = make_metrics()
    return {"metrics": metrics, "comparisons": make_comparisons(metrics)}


def expected(tables: dict[str, pd.DataFrame]) -> dict[tuple[str, str, str], tuple[float, float, float]]:
    """(env_name, estimator, baseline) -> (ratio, lo, hi) of pair / reinforce~none, from the comparisons table
    directly (there reinforce~none is A: the ratio is 1 / var_ratio, its interval [1 / hi, 1 / lo])."""
    c = tables["comparisons"]
    c = c[(c["estimator_a"] == REF[0]) & (c["baseline_a"] == REF[1])]
    return {(r.env_name, r.estimator_b, r.baseline_b): (1 / r.var_ratio, 1 / r.var_ratio_hi, 1 / r.var_ratio_lo)
            for r in c.itertuples()}


def marks(ax) -> dict[str, list[tuple[float, float, float]]]:
    """Row label -> the marks drawn on its row: ``(x, lo, hi)`` (NaN ends: no interval)."""
    labels = {round(float(y)): t.get_text() for y, t in zip(ax.get_yticks(), ax.get_yticklabels())}
    out: dict[str, list[tuple[float, float, float]]] = {}
    in_bars = set()
    for cont in ax.containers:
        if isinstance(cont, ErrorbarContainer):
            line = cont.lines[0]
            in_bars.add(id(line))
            (x,), (y,) = line.get_xdata(), line.get_ydata()
            (seg,) = cont.lines[2][0].get_segments()
            out.setdefault(labels[round(y)], []).append((float(x), float(min(seg[:, 0])), float(max(seg[:, 0]))))
    for line in ax.get_lines():
        if id(line) in in_bars or line.get_gid() == CLIP_GID or line.get_marker() in ("|", "None", None, ""):
            continue
        if line.get_transform() != ax.transData:
            continue
        for x, y in zip(line.get_xdata(), line.get_ydata()):
            out.setdefault(labels[round(y)], []).append((float(x), np.nan, np.nan))
    return out


def medians(ax) -> dict[str, float]:
    labels = {round(float(y)): t.get_text() for y, t in zip(ax.get_yticks(), ax.get_yticklabels())}
    return {labels[round(line.get_ydata()[0])]: float(line.get_xdata()[0])
            for line in ax.get_lines() if line.get_marker() == "|"}


def row_labels(ax) -> list[str]:
    """The y tick labels, top row first."""
    ticks = sorted(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())), reverse=True)
    return [label for _, label in ticks]


def test_marks_are_the_comparisons_paired_ratios(tables):
    fig = FIGURES["variance_ratios"].make(tables)
    want = expected(tables)
    drawn = {}
    for ax in fig.axes:
        drawn.update(marks(ax))
    pairs = {(e, b) for _, e, b in want}
    assert set(drawn) == {pair_label(*p) for p in pairs}
    for est, base in pairs:
        got = sorted(drawn[pair_label(est, base)])
        ref = sorted(v for (env, e, b), v in want.items() if (e, b) == (est, base))
        assert len(got) == len(ref) == 2  # one mark per environment
        np.testing.assert_allclose(np.array(got), np.array(ref), rtol=1e-9)
    # and those ratios are the metrics' per-trajectory variances divided (the synthetic comparisons say so)
    m = tables["metrics"][tables["metrics"]["sweep"] == "both"].set_index(["env_name", "estimator", "baseline"])
    for (env, e, b), (v, _, _) in want.items():
        assert v == pytest.approx(m.loc[(env, e, b), "var_per_traj"] / m.loc[(env, *REF), "var_per_traj"])


def test_oracles_are_hollow_in_their_own_block_and_never_ranked(tables):
    fig = FIGURES["variance_ratios"].make(tables)
    ranked_ax, oracle_ax = [ax for ax in fig.axes if ax.get_yticklabels()]
    pairs = {(e, b) for _, e, b in expected(tables)}
    oracles = {pair_label(*p) for p in pairs if is_oracle(*p)}
    assert oracles and set(row_labels(oracle_ax)) == oracles
    assert set(row_labels(ranked_ax)) == {pair_label(*p) for p in pairs if not is_oracle(*p)}
    assert oracle_ax.get_title(loc="left") == ORACLE_TITLE
    for cont in oracle_ax.containers:
        assert cont.lines[0].get_markerfacecolor() == "white"
    for cont in ranked_ax.containers:
        assert cont.lines[0].get_markerfacecolor() != "white"


def test_rows_are_sorted_by_the_median_ratio(tables):
    fig = FIGURES["variance_ratios"].make(tables)
    for ax in fig.axes:
        if not ax.get_yticklabels():
            continue
        med = medians(ax)
        rows = row_labels(ax)
        assert [med[r] for r in rows] == sorted(med.values())
        for label, xs in marks(ax).items():
            assert med[label] == pytest.approx(np.median([x for x, _, _ in xs]))


def test_without_comparisons_the_marks_are_point_ratios_without_intervals(tables):
    fig = FIGURES["variance_ratios"].make({"metrics": tables["metrics"]})
    assert not any(ax.containers for ax in fig.axes)  # no error bars at all
    assert any("marks are point ratios: no paired interval" in t.get_text() for t in fig.findobj(
        lambda a: hasattr(a, "get_text")))
    m = tables["metrics"][tables["metrics"]["sweep"] == "both"].set_index(["env_name", "estimator", "baseline"])
    for ax in fig.axes:
        for label, xs in marks(ax).items():
            (est, base), = [(e, b) for _, e, b in m.index if pair_label(e, b) == label][:1]
            ref = sorted(m.loc[(env, est, base), "var_per_traj"] / m.loc[(env, *REF), "var_per_traj"]
                         for env in ("corridor", "garnet"))
            np.testing.assert_allclose(sorted(x for x, _, _ in xs), ref, rtol=1e-12)
            assert all(np.isnan(lo) and np.isnan(hi) for _, lo, hi in xs)


def test_a_pair_missing_from_the_comparisons_is_a_point_ratio_and_said_so(tables):
    c = tables["comparisons"]
    gone = (c["estimator_b"] == "reward_to_go") & (c["baseline_b"] == "none") & (c["env_name"] == "garnet")
    t = ratio_table(tables["metrics"], c[~gone])
    row = t[(t["env_name"] == "garnet") & (t["estimator"] == "reward_to_go") & (t["baseline"] == "none")].iloc[0]
    assert not row["paired"] and np.isnan(row["ratio_lo"]) and np.isnan(row["ratio_hi"])
    assert t.drop(row.name)["paired"].all()
    fig = FIGURES["variance_ratios"].make({"metrics": tables["metrics"], "comparisons": c[~gone]})
    assert any("a mark without a bar: point ratio" in t.get_text() for t in fig.findobj(
        lambda a: hasattr(a, "get_text")))


def test_a_ratio_is_inverted_where_reinforce_is_the_comparisons_b():
    cell = pd.DataFrame([dict(estimator_a="gae", baseline_a="none", estimator_b="reinforce", baseline_b="none",
                              var_ratio=0.1, var_ratio_lo=0.05, var_ratio_hi=0.4),
                         dict(estimator_a="reinforce", baseline_a="none", estimator_b="gae", baseline_b="value_exact",
                              var_ratio=10.0, var_ratio_lo=0.0, var_ratio_hi=20.0)])
    assert paired_ratio(cell, ("gae", "none")) == (0.1, 0.05, 0.4)
    assert paired_ratio(cell, ("gae", "value_exact")) == (0.1, 0.05, np.inf)  # a lower end at 0: no upper end
    assert paired_ratio(cell, ("actor_critic", "none")) is None


def test_one_mark_per_environment_and_theta_in_the_default_study():
    t = default_study_tables()
    table = ratio_table(t["metrics"], t["comparisons"])
    assert table.groupby(["estimator", "baseline"])["panel"].apply(lambda p: p.is_unique).all()
    assert table["panel"].nunique() == 11 and table["paired"].all()
    assert not ((table["estimator"] == REF[0]) & (table["baseline"] == REF[1])).any()


def test_the_default_study_s_figure_reads_on_the_first_screen():
    """At 1400 px the report's text column is 1088 px wide (tests/workflow/test_workflow.py measures it in Chromium);
    the figure of the default study's 19 pairs shown at that width is at most 600 px tall
    (the CSS caps it there too)."""
    t = default_study_tables()
    fig = FIGURES["variance_ratios"].make({"metrics": t["metrics"], "comparisons": t["comparisons"]})
    width, height = fig.get_size_inches()
    assert height / width * 1088 <= 600


def test_a_missing_interval_end_draws_no_bar_on_that_side():
    cell = pd.DataFrame([dict(estimator_a="reinforce", baseline_a="none", estimator_b="gae", baseline_b="none",
                              var_ratio=10.0, var_ratio_lo=np.nan, var_ratio_hi=20.0)])
    v, lo, hi = paired_ratio(cell, ("gae", "none"))
    assert (v, lo) == (0.1, 0.05) and np.isnan(hi)
