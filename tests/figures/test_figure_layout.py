"""Every registered figure is fit to print: drawn from tables of the default study's shape (11 panels of
environments and θ, ``study_shape.py``), it fits a page's text block, no two texts overlap or run into another
panel, no text prints below 6 pt, no panel is a sliver, and no axis limit is set by a single interval (an
interval the axis cuts ends in a clip marker).  The checks are in ``figure_checks.py``;
``test_figures.py`` runs them on every figure drawn from the small synthetic tables too, and
``test_workflow.py`` on every figure the ``.test`` study builds from its own tables.  To check a study's
real tables: ``python tests/figure_checks.py results/tables [FIGURE ...]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from figure_checks import all_problems, interval_problems, text_problems
from matplotlib.figure import Figure as MplFigure
from study_shape import default_study_tables
from test_figures import small_tables

from pgexp.figures import FIGURES, data, ordered
from pgexp.figures.layout import CLIP_GID, mark_clipped, pack_blocks, robust_limits, wrap_columns
from pgexp.figures.style import new_figure, style


@pytest.fixture(scope="module")
def default_shape() -> dict[str, pd.DataFrame]:
    return {**small_tables(), **default_study_tables()}  # the paper studies' tables have their one shape


def _tables(name: str, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {role: tables[t] for role, t in FIGURES[name].tables.items() if t in tables}


@pytest.mark.parametrize("name", ordered())
def test_figure_is_fit_to_print(name, default_shape):
    problems = all_problems(FIGURES[name].make(_tables(name, default_shape)))
    assert not problems, f"{name} (the default study's shape):\n  " + "\n  ".join(problems)


def test_the_synthetic_shape_is_the_default_study_s():
    """The environments, θ points, estimators, horizons and reference cells of the default study's config
    (``config/config.yaml``), so that a figure that does not fit the real study fails here first."""
    cfg = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "config.yaml").read_text())
    m = default_study_tables()["metrics"]
    assert set(m["env_name"]) == set(cfg["environments"])
    for name, env in cfg["environments"].items():
        sub = m[m["env_name"] == name]
        assert set(sub["theta_name"]) == set(env["thetas"]), name
        assert set(sub["estimator"]) == set(env.get("estimators", cfg["estimators"])), name
        assert set(sub["baseline"]) <= set(env.get("baselines", cfg["baselines"])), name
        assert sorted(sub["horizon"].unique()) == sorted(env.get("horizons", cfg["horizons"])), name
        ref = env.get("reference", cfg["reference"])
        both = sub[sub["sweep"] == "both"]
        assert set(both["horizon"]) == {ref["horizon"]} and set(both["batch_size"]) == {ref["batch_size"]}, name
    assert len(data.panels(m)) == 11


def test_wrap_columns_takes_the_fewest_columns_whose_rows_are_tall_enough():
    def row_in(ncols: int, blocks: int) -> float:  # a 9 in page shared by the blocks' 4 rows each
        return 9.0 / blocks / 4
    assert wrap_columns(11, 5, row_in, 0.5) == 5  # three blocks: 0.75 in
    assert wrap_columns(11, 5, row_in, 1.0) == 6  # two blocks: 1.125 in
    assert wrap_columns(11, 5, row_in, 2.0) == 11  # nothing fits: one block, the tallest rows
    assert wrap_columns(3, 5, row_in, 10.0) == 3


def test_pack_blocks_keeps_panels_with_the_same_rows_together():
    full, rand, small = frozenset("abcdefgh"), frozenset("abcd"), frozenset("ab")
    keys = [full, rand, full, rand, small, full, rand, small, full, rand, frozenset("abe")]
    blocks = pack_blocks(keys, 5)
    assert blocks == [[0, 2, 5, 8, 10], [1, 3, 6, 9], [4, 7]]  # "abe" fits under the full set's block
    assert sorted(i for b in blocks for i in b) == list(range(len(keys)))
    assert pack_blocks([full] * 7, 5) == [[0, 1, 2, 3, 4], [5, 6]]


def test_common_cell_is_the_one_most_panels_share():
    assert data.common_cell(["H = 25, N = 16"] * 10 + ["H = 16, N = 16"]) == "H = 25, N = 16"
    assert data.common_cell(["", "H = 16, N = 16"]) == "H = 16, N = 16"
    assert data.common_cell(["", ""]) == ""


# ----------------------------------------------------------------- the checks catch what they must


def _panel(values, lo, hi, *, log=True) -> MplFigure:
    with style():
        fig = new_figure(4.0, 3.0)
        ax = fig.add_subplot()
        x = np.arange(len(values), dtype=float)
        ax.errorbar(x, values, yerr=np.vstack([values - lo, hi - values]), fmt="o")
        if log:
            ax.set_yscale("log")
    return fig


def test_the_interval_check_catches_an_axis_set_by_one_interval():
    v = np.array([1.0, 2.0, 4.0, 8.0])
    lo, hi = v / 2, v * 2
    hi[1] = 1e40  # what a fitted baseline's variance CI did in the default study
    fig = _panel(v, lo, hi)
    fig.canvas.draw()  # autoscaled: the axis runs to 1e40
    assert any("stretches the axis" in p for p in interval_problems(fig))
    fig = _panel(v, lo, hi)  # cut at robust limits and marked: fine
    fig.axes[0].set_ylim(*robust_limits(v, lo, hi, log=True, pad=1.5))
    mark_clipped(fig)
    assert fig.axes[0].get_ylim()[1] < 1e3
    assert [ln for ln in fig.axes[0].get_lines() if ln.get_gid() == CLIP_GID]
    fig.canvas.draw()
    assert not interval_problems(fig)


def test_the_interval_check_wants_a_cut_interval_marked():
    v = np.array([1.0, 2.0, 4.0, 8.0])
    fig = _panel(v, v / 2, np.array([2.0, 1e40, 8.0, 16.0]))
    fig.axes[0].set_ylim(0.3, 30)  # cut silently
    fig.canvas.draw()
    assert any("without a clip marker" in p for p in interval_problems(fig))


def test_robust_limits_keep_every_point_and_ordinary_intervals():
    v = np.array([1e-3, 1.0, 1e3])
    lo, hi = robust_limits(v, v / 3, v * 3, log=True, pad=1.0)
    assert lo == pytest.approx(1e-3 / 3) and hi == pytest.approx(3e3)  # within a quarter of 6 decades
    lo, hi = robust_limits(v, v / 3, np.array([1.0, 2.0, 1e40]), log=True, pad=1.0)
    assert hi == pytest.approx(10**4.5)  # the 1e40 end is shown a quarter of the points' span beyond them ...
    lo, hi = robust_limits(np.array([5.0, 5.0]), None, np.array([50.0, 6.0]), log=True, pad=1.0)
    assert hi == pytest.approx(5.0 * 10**0.25)  # ... a quarter decade beyond a single value
    lo, hi = robust_limits(np.array([0.99, 1.0]), np.array([0.2, 0.98]), None, log=False, pad=0.0, min_span=0.1)
    assert lo == pytest.approx(0.99 - 0.25 * 0.1) and hi == 1.0  # 0.2 is cut a quarter of min_span below
    assert robust_limits(np.array([np.nan, 0.0]), None, None, log=True, pad=2.0) is None


def test_the_text_check_catches_overlapping_labels():
    with style():
        fig = new_figure(3.0, 2.0)
        ax = fig.add_subplot()
        ax.set_title("a long title printed over another long title")
        ax.text(0.5, 1.02, "another long title printed over it", transform=ax.transAxes, ha="center")
        fig.set_layout_engine("none")
    from figure_checks import draw_and_collect

    texts = draw_and_collect(fig)
    assert any("overlap" in p for p in text_problems(fig, texts))
