"""Figures: the registry, every registered figure on synthetic tables, empty and wrong tables, the look,
the save helper, and a figure registered from outside built through ``pgexp plot``.

The synthetic tables are those of the report tests (two environments, seven estimator~baseline pairs,
a horizon sweep and a batch sweep meeting at the reference cell H = 20, N = 32; the training track's
curves, summary and checkpoints), plus the work-normalised variance and exact batch-size curves.
"""

from __future__ import annotations

import os
import stat

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from docutils.core import publish_parts
from figure_checks import all_problems
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure as MplFigure
from matplotlib.patches import Rectangle
from test_audit import make_audit_tables
from test_mirage_study import make_mirage_tables
from test_plots_training import make_training_tables
from test_report import ENVS, PAIRS, make_comparisons, make_exact, make_metrics, make_slopes
from test_studies import make_study_tables

from pgexp.cli import main
from pgexp.errors import UserError
from pgexp.estimators import BASELINE_SPECS, BASELINES, ESTIMATORS
from pgexp.figures import FIGURES, Figure, figures_for, ordered, register_figure, section_enabled
from pgexp.figures import style as st
from pgexp.figures.bias_variance import draw as bias_variance
from pgexp.figures.quality_vs_batch_size import best_baselines, quality_figure
from pgexp.figures.variance_vs_horizon import draw as variance_vs_horizon
from pgexp.io import figure_paths, file_mode, save_figure, write_frame

BUILTIN = list(ordered())


def _with_wnv(metrics: pd.DataFrame) -> pd.DataFrame:
    """Add ``work_normalized_variance`` = ``trace_cov × env_steps_mean`` with its interval (the report stream's)."""
    w = metrics["trace_cov"] * metrics["env_steps_mean"] * metrics["batch_size"]
    return metrics.assign(work_normalized_variance=w, work_normalized_variance_lo=0.8 * w,
                          work_normalized_variance_hi=1.25 * w)


def _exact_batch(metrics: pd.DataFrame) -> pd.DataFrame:
    """Exact curves through the batch sweep: rel_mse_exact = rel_mse (the synthetic truth), on a finer N grid."""
    rows = []
    for (env, est, base), g in metrics[metrics["sweep"].isin(["batch", "both"])].groupby(
            ["env_name", "estimator", "baseline"]):
        g = g.sort_values("batch_size")
        for n in np.geomspace(g["batch_size"].min(), g["batch_size"].max(), 9):
            rows.append(dict(env_name=env, estimator=est, baseline=base, horizon=20, batch_size=n,
                             rel_mse_exact=float(np.interp(np.log(n), np.log(g["batch_size"]), g["rel_mse"]))))
    return pd.DataFrame(rows)


def _exact_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """One exact table for both figures, as ``pgexp exact-curves`` writes it (a row per horizon x batch size): the
    variance curves at each environment's reference N, and the batch-size curves at the reference horizon."""
    ref = metrics[metrics["sweep"] == "both"].groupby("env_name")["batch_size"].agg(lambda s: s.mode().iloc[0])
    curves = make_exact(metrics)
    return pd.concat([curves.assign(batch_size=curves["env_name"].map(ref)), _exact_batch(metrics)],
                     ignore_index=True)


def _tradeoff() -> pd.DataFrame:
    """A GAE lambda trade-off table (``pgexp lambda-tradeoff``): bias falls and variance rises with lambda."""
    rows = []
    for env in ("corridor", "garnet"):
        for value, b0 in (("none", 1.0), ("perturbed", 0.5), ("exact", 0.0)):
            for n in (1, 16):
                cells = [dict(env_name=env, theta_name="init", horizon=20, estimator="gae", value=value, lam=lam,
                              batch_size=n, bias_sq=b0 * (1 - lam) ** 2, trace_cov=(1 + 4 * lam**4) / n)
                         for lam in np.linspace(0, 1, 11)]
                for c in cells:
                    c["mse"] = c["bias_sq"] + c["trace_cov"]
                best = min(range(len(cells)), key=lambda i: cells[i]["mse"])
                rows += [{**c, "best": i == best} for i, c in enumerate(cells)]
    return pd.DataFrame(rows)


def small_tables() -> dict[str, pd.DataFrame]:
    """Table name (as in ``results/tables/<name>.parquet``) -> a small synthetic table of that kind.

    A figure registered with a new table name needs its synthetic table here.
    """
    metrics = _with_wnv(make_metrics())
    training = make_training_tables()
    return {"metrics": metrics, "slopes": make_slopes(metrics), "exact_variance": _exact_table(metrics),
            "comparisons": make_comparisons(metrics),
            "gae_lambda_tradeoff": _tradeoff(), "learning_curves": training["curves"],
            "training_summary": training["summary"], "variance_along_training": training["training_variance"],
            "performance_profiles": training["profiles"],
            "deep_quality": metrics, "deep_learning_curves": training["curves"],
            "deep_training_summary": training["summary"], **make_study_tables(), **make_audit_tables(),
            **make_mirage_tables()}


@pytest.fixture(scope="module")
def synthetic() -> dict[str, pd.DataFrame]:
    return small_tables()


def tables_for(name: str, synthetic: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    spec = FIGURES[name]
    missing = [t for t in spec.tables.values() if t not in synthetic]
    assert not missing, f"figure {name}: add synthetic tables {missing} to the `synthetic` fixture"
    return {role: synthetic[table] for role, table in spec.tables.items()}


def texts(fig: MplFigure) -> str:
    """Every text of a figure (titles, labels, tick labels, legends), joined."""
    return "\n".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text") and a.get_text()))


def _is_no_data(fig: MplFigure) -> bool:
    return "no data:" in texts(fig)


def _check_files(pdf_path) -> None:
    pdf, png = figure_paths(pdf_path)
    assert pdf.read_bytes()[:4] == b"%PDF" and pdf.stat().st_size > 1000
    img = mpimg.imread(png)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert img.std() > 0.01  # not a blank canvas
    assert not [p for p in pdf.parent.iterdir() if ".tmp" in p.name]


# -------------------------------------------------------------------------------- every figure


@pytest.mark.parametrize("name", BUILTIN)
def test_every_figure_draws_from_synthetic_tables(name, synthetic, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fig = FIGURES[name].make(tables_for(name, synthetic))
    assert isinstance(fig, MplFigure) and not _is_no_data(fig)
    assert not list(tmp_path.iterdir())  # drawing writes nothing
    save_figure(fig, tmp_path / "out" / f"{name}.pdf")
    _check_files(tmp_path / "out" / f"{name}.pdf")
    problems = all_problems(fig)  # fit to print, as saved (test_figure_layout.py: the default study's shape)
    assert not problems, f"{name}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("name", BUILTIN)
def test_tables_without_rows_give_a_no_data_figure(name, synthetic):
    tables = {role: df.iloc[:0] for role, df in tables_for(name, synthetic).items()}
    fig = FIGURES[name].make(tables)
    assert _is_no_data(fig)
    assert FIGURES[name].make({role: pd.DataFrame() for role in tables}) is not None  # no columns either


@pytest.mark.parametrize("name", BUILTIN)
def test_a_missing_required_table_is_a_clear_error(name, synthetic):
    spec = FIGURES[name]
    tables = tables_for(name, synthetic)
    for role in spec.required:
        with pytest.raises(UserError, match=f"figure {name} needs the {spec.tables[role]} table: give --"):
            spec.make({r: df for r, df in tables.items() if r != role})
    spec.make({r: tables[r] for r in spec.required})  # optional tables are optional


@pytest.mark.parametrize("name", BUILTIN)
def test_a_table_of_the_wrong_kind_is_a_clear_error(name, synthetic):
    spec = FIGURES[name]
    tables = tables_for(name, synthetic)
    role, needed = next(iter(spec.columns.items()))
    with pytest.raises(UserError, match=f"not a {spec.tables[role]} table .*no column {needed[-1]}"):
        spec.make({**tables, role: tables[role].drop(columns=[needed[-1]])})


def test_rows_of_another_sweep_give_a_no_data_figure(synthetic):
    metrics = synthetic["metrics"].assign(sweep="other")
    for name in ("variance_vs_horizon", "quality_vs_batch_size", "bias_variance"):
        assert _is_no_data(FIGURES[name].make({"metrics": metrics}))


def test_estimation_metrics_are_not_checkpoints(synthetic):
    """The estimation metrics (no checkpoint column, θ 'init') draw no training figure."""
    assert _is_no_data(FIGURES["variance_along_training"].make({"metrics": synthetic["metrics"]}))


# ------------------------------------------------------------------------------------ registry


def test_registry_is_light_and_lazy():
    import subprocess
    import sys

    code = "import sys, pgexp.figures; assert 'matplotlib' not in sys.modules, 'registry imports matplotlib'"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert all(isinstance(FIGURES[n].draw, str) for n in BUILTIN)  # "module:function", imported on use


def test_sections_decide_the_figures_of_a_config():
    base = {"environments": {"a": {"env": "short_corridor"}}}
    assert figures_for(base) == ["variance_ratios", "variance_vs_horizon", "quality_vs_batch_size", "bias_variance",
                                 "gae_lambda_tradeoff"]
    full = {**base, "training": {"environments": {"a": {}}}, "deep": {"environments": {}, "training": {"x": 1}},
            "practice_audit": {"environments": {"g": {}}}}
    assert figures_for(full) == [n for n in BUILTIN if FIGURES[n].section != "study"]  # paper studies: their own
    assert set(figures_for({"study": {"name": "x"}})) == {n for n in BUILTIN if FIGURES[n].section == "study"}
    assert "deep_learning_curves" not in figures_for({**full, "deep": {"environments": {}}})
    assert figures_for({**full, "figures": ["bias_variance", "learning_curves"]}) == ["bias_variance",
                                                                                        "learning_curves"]
    with pytest.raises(UserError, match="unknown figure 'nope'; allowed: variance_ratios, variance_vs_horizon"):
        figures_for({**base, "figures": ["nope"]})
    with pytest.raises(UserError, match="figures: learning_curves needs the 'training' section"):
        figures_for({**base, "figures": ["learning_curves"]})
    assert section_enabled("deep.training", full) and not section_enabled("deep.training", base)


def test_spec_refuses_roles_it_does_not_declare():
    with pytest.raises(ValueError, match="not in tables"):
        Figure(name="x", draw=lambda t: None, tables={"a": "a"}, caption="", optional=("b",))
    with pytest.raises(ValueError, match="cannot be"):
        Figure(name="x", draw=lambda t: None, tables={"output": "a"}, caption="")


@pytest.mark.parametrize("name", BUILTIN)
def test_captions_are_valid_restructuredtext(name):
    caption = FIGURES[name].caption
    assert len(caption) > 100
    html = publish_parts(caption, writer_name="html", settings_overrides={"report_level": 1, "halt_level": 1})["body"]
    assert "system-message" not in html


# --------------------------------------------------------------------------------- what is drawn


def test_variance_facet_grid(synthetic):
    fig = variance_vs_horizon({"metrics": synthetic["metrics"], "slopes": synthetic["slopes"],
                               "exact": synthetic["exact_variance"]})
    axes = [ax for ax in fig.subfigs[0].axes if ax.get_visible()]
    estimators = st.ordered_estimators(e for e, _ in PAIRS)
    assert len(axes) == len(ENVS) * len(estimators)  # rows = environments, columns = estimators
    assert [ax.get_title() for ax in axes[:len(estimators)]] == [ESTIMATORS[e].label for e in estimators]
    assert all(ax.get_xscale() == "log" and ax.get_yscale() == "log" for ax in axes)
    seen: dict[str, tuple] = {}  # one fixed colour per baseline marker, in every panel
    for ax in axes:
        for c in ax.containers:
            assert seen.setdefault(c.lines[0].get_marker(), to_rgb(c.lines[0].get_color())) == \
                to_rgb(c.lines[0].get_color())
    assert seen["o"] == to_rgb(BASELINE_SPECS["none"].color)
    for ax in axes:  # fitted lines (dashed) and the lecture's H^3 (dotted) in every panel
        assert {"--", ":"} <= {line.get_linestyle() for line in ax.lines}
    assert any(line.get_linestyle() == "-" for line in axes[0].lines)  # exact curve for reinforce
    legend = texts(fig.subfigs[1])
    for label in ("no baseline", "exact V", "∝ H³ (lecture)", "exact", "log-log fit (N = 32)"):
        assert label in legend


def test_variance_zero_variance_and_missing_slopes(synthetic):
    metrics = synthetic["metrics"].copy()
    corridor = metrics["env_name"] == "corridor"
    metrics.loc[corridor & (metrics["horizon"] == 5), ["var_per_traj", "var_per_traj_lo", "var_per_traj_hi"]] = 0.0
    slopes = synthetic["slopes"][synthetic["slopes"]["env_name"] != "corridor"]
    fig = variance_vs_horizon({"metrics": metrics, "slopes": slopes})
    axes = [ax for ax in fig.subfigs[0].axes if ax.get_visible()]
    top, bottom = axes[:len(axes) // 2], axes[len(axes) // 2:]
    assert all("--" not in [line.get_linestyle() for line in ax.lines] for ax in top)
    assert all("--" in [line.get_linestyle() for line in ax.lines] for ax in bottom)
    for ax in top:  # zero variances are left out (no log of 0), the rest is drawn
        xs = np.concatenate([c.lines[0].get_xdata() for c in ax.containers])
        assert xs.size and xs.min() > 5 * 1.3


def test_quality_one_line_per_estimator_and_work_normalised_rows(synthetic):
    metrics = synthetic["metrics"]
    fig = quality_figure(metrics)
    axes = fig.subfigs[0].axes
    assert len(axes) == 4 * len(ENVS)  # cosine, relative MSE, per-trajectory and work-normalised variance
    n_est = len({e for e, _ in PAIRS})
    for ax in axes:
        assert len([ln for ln in ax.lines if ln.get_marker() not in (None, "None", "")]) <= n_est + 1
    labels = texts(fig)
    for text in ("cos(ĝ, ∇J)", "‖ĝ−∇J‖²/‖∇J‖²", "tr Cov[g]", "work-norm.\nvariance",
                 "lowest-MSE baseline at the reference cell (H = 20, N = 32)", "(for comparison)"):
        assert text in labels
    two = quality_figure(metrics.drop(columns=[c for c in metrics if c.startswith("work_normalized")]))
    assert len(two.subfigs[0].axes) == 2 * len(ENVS)  # without the column: the two quality rows only
    ref = metrics[(metrics["sweep"] == "both") & (metrics["env_name"] == "corridor")]
    r = ref[ref["estimator"] == "reinforce"]
    assert best_baselines(ref)["reinforce"] == r.loc[r["mse"].idxmin(), "baseline"]


def test_quality_draws_exact_curves_when_given(synthetic):
    def thin_solid(fig):
        return sum(1 for ax in fig.subfigs[0].axes for ln in ax.lines
                   if ln.get_linestyle() == "-" and ln.get_marker() in (None, "None", "") and len(ln.get_xdata()) == 9)

    assert thin_solid(quality_figure(synthetic["metrics"])) == 0
    with_exact = quality_figure(synthetic["metrics"], synthetic["exact_variance"])
    drawn_pairs = sum(1 for ax in with_exact.subfigs[0].axes[len(ENVS):2 * len(ENVS)] for ln in ax.lines
                      if ln.get_marker() not in (None, "None", ""))
    assert thin_solid(with_exact) == drawn_pairs  # one exact curve per drawn pair, in the relative-MSE row
    assert "exact" in texts(with_exact.subfigs[1])


def test_neural_figures_name_the_monte_carlo_reference(synthetic):
    fig = FIGURES["deep_gradient_quality"].make({"metrics": synthetic["deep_quality"]})
    labels = [ax.get_ylabel() for ax in fig.subfigs[0].axes if ax.get_ylabel()]
    assert any("cosine to the\nMC reference" in lab for lab in labels)
    assert not any("∇J" in lab for lab in labels)
    assert "cosine to the Monte-Carlo reference" in FIGURES["deep_gradient_quality"].caption
    assert "∇J" not in FIGURES["deep_gradient_quality"].caption


def test_labels_and_captions_agree():
    """The definitions on the page: the captions say what the axes show, in the figures' own words."""
    quality = FIGURES["quality_vs_batch_size"].caption
    for text in ("mean over batches of cos(ĝ, ∇J)", "depends on N", "SNR = ‖∇J‖²/tr Cov[ĝ] of the batch mean",
                 "work-normalised variance", "per-trajectory variance", "for comparison"):
        assert text in quality
    assert "mean over batches of cos(ĝ, ∇J)" in FIGURES["variance_along_training"].caption
    for name in ("variance_vs_horizon", "quality_vs_batch_size", "bias_variance"):
        assert f"“{BASELINE_SPECS['optimal'].label}”" in FIGURES[name].caption
        assert "fitted" in FIGURES[name].caption and "Greensmith" in FIGURES[name].caption
    assert "fitted" in BASELINE_SPECS["optimal"].label


def test_bias_variance_draws_mse_and_resolved_squared_bias_on_log_axes(synthetic):
    metrics = synthetic["metrics"].copy()
    both = metrics["sweep"] == "both"
    unbiased = both & (metrics["estimator"] == "reinforce")
    metrics.loc[unbiased, "bias_sq_lo"] = -1.0  # an interval that includes 0: no squared-bias point
    fig = bias_variance({"metrics": metrics})
    axes = [ax for ax in fig.get_axes() if ax.get_visible() and ax.has_data()]
    assert len(axes) == len(ENVS) and all(ax.get_xscale() == "log" for ax in axes)
    assert not any(isinstance(p, Rectangle) for ax in axes for p in ax.patches)  # no bars on a log axis
    ref = metrics[both & (metrics["env_name"] == "corridor")].set_index(["estimator", "baseline"])
    pairs = sorted(ref.index, key=lambda p: st.pair_sort_key(*p))
    filled, hollow = {}, {}
    for c in axes[0].containers:  # one errorbar per point: filled = MSE, white face = squared bias
        line = c.lines[0]
        x, y = float(line.get_xdata()[0]), float(line.get_ydata()[0])
        (hollow if line.get_markerfacecolor() == "white" else filled)[round(y)] = x
    for j, pair in enumerate(pairs):
        row, y = ref.loc[pair], len(pairs) - 1 - j
        assert filled[y] == pytest.approx(row["mse"], rel=1e-12)
        if row["bias_sq_lo"] > 0:
            assert hollow[y] == pytest.approx(row["bias_sq"], rel=1e-12)
        else:
            assert y not in hollow
    assert any(pair[0] != "reinforce" for pair in pairs if ref.loc[pair, "bias_sq_lo"] > 0)


def test_learning_curves_draw_the_selected_step_sizes(synthetic):
    fig = FIGURES["learning_curves"].make({"curves": synthetic["learning_curves"],
                                           "summary": synthetic["training_summary"]})
    labels = texts(fig)
    s = synthetic["training_summary"]
    chosen = s[s["selected"] & (s["estimator"] != "exact") & (s["env_name"] == "corridor")]
    for _, row in chosen.iterrows():
        assert f"{st.pair_label(row['estimator'], row['baseline'])}, η = {row['step_size']:.3g}" in labels
    assert "last seed stopped (all η diverged)" in labels  # rollin_rollout~none on garnet
    assert "exact" not in [ln.get_label() for ax in fig.axes for ln in ax.lines]


def test_variance_along_training_reads_checkpoints_from_theta_names(synthetic):
    tv = synthetic["variance_along_training"].drop(columns="checkpoint")
    fig = FIGURES["variance_along_training"].make({"metrics": tv[tv["env_name"] == "corridor"]})
    assert [t.get_text() for t in fig.subfigs[0].axes[1].get_xticklabels()] == ["0", "50", "100", "200"]


# -------------------------------------------------------------------------------------- look


def test_colours_labels_and_order_come_from_the_registries():
    assert set(BASELINE_SPECS) == set(BASELINES)
    for name, spec in ESTIMATORS.items():
        assert st.estimator_color(name) == pytest.approx(to_rgb(spec.color))
        assert st.estimator_label(name) == spec.label
    for name, spec in BASELINE_SPECS.items():
        assert st.baseline_style(name) == {"color": pytest.approx(to_rgb(spec.color)), "marker": spec.marker}
    assert st.ordered_estimators(reversed(list(ESTIMATORS))) == sorted(ESTIMATORS, key=lambda e: ESTIMATORS[e].order)
    assert st.pair_label("optimal_thing", "mystery") == "optimal_thing, mystery"  # unknown names: as they are


def test_styles_fixed_and_distinct():
    styles = {b: st.baseline_style(b) for b in BASELINES}
    assert len({s["color"] for s in styles.values()}) == len({s["marker"] for s in styles.values()}) == len(styles)
    pairs = {p: st.pair_style(*p) for p in PAIRS}
    assert len({s["color"] for s in pairs.values()}) == len(PAIRS)
    assert st.pair_style("brand_new", "mystery") == st.pair_style("brand_new", "mystery")  # stable for plug-ins


def test_the_drawn_look_survives_saving_outside_the_style(synthetic, tmp_path):
    """Tick labels are created at save time; the figure keeps the print-scaled sizes it was drawn with."""
    fig = variance_vs_horizon({"metrics": synthetic["metrics"], "slopes": synthetic["slopes"]})
    scale = st.print_scale(fig.get_figwidth())
    assert scale > 1
    save_figure(fig, tmp_path / "v.pdf")
    sizes = [t.get_fontsize() for ax in fig.get_axes() for t in ax.get_yticklabels() + ax.get_xticklabels()]
    assert sizes and all(size == pytest.approx(8.0 * scale) for size in sizes)


# ------------------------------------------------------------------------------------ save helper


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_figures_and_tables_get_the_same_permissions_from_the_umask(umask, tmp_path):
    old = os.umask(umask)
    try:
        assert file_mode() == 0o666 & ~umask
        fig = st.no_data("t", "n")
        pdf, png = save_figure(fig, tmp_path / "f.pdf")
        write_frame(pd.DataFrame({"a": [1]}), tmp_path / "t.parquet", {})
    finally:
        os.umask(old)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in (pdf, png, tmp_path / "t.parquet")}
    assert modes == {0o666 & ~umask}


def test_a_failed_save_leaves_nothing(tmp_path):
    class Broken(MplFigure):
        def savefig(self, *args, **kwargs):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        save_figure(Broken(), tmp_path / "f.pdf")
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------------- pgexp plot


@pytest.fixture
def widget_figure():
    """A figure registered from outside pgexp, with a table role pgexp has never heard of."""

    def draw(tables):
        fig = st.new_figure(3, 2)
        fig.add_subplot().bar(tables["widgets"]["name"], tables["widgets"]["count"])
        return fig

    register_figure(name="widget_counts", draw=draw, tables={"widgets": "widget_table"}, section="widgets",
                    columns={"widgets": ("name", "count")}, caption="Widgets per name.")
    yield FIGURES["widget_counts"]
    del FIGURES["widget_counts"]


def test_a_registered_figure_is_buildable_with_pgexp_plot(widget_figure, tmp_path, capsys):
    write_frame(pd.DataFrame({"name": ["a", "b"], "count": [3, 5]}), tmp_path / "w.parquet", {})
    (tmp_path / "out").mkdir()  # pgexp refuses an --output in a missing directory (tests/cli/test_bad_inputs.py)
    assert main(["plot", "widget_counts", "--widgets", str(tmp_path / "w.parquet"),
                 "--output", str(tmp_path / "out" / "w.pdf")]) == 0
    _check_files(tmp_path / "out" / "w.pdf")
    assert figures_for({"environments": {"a": {}}, "widgets": {"on": True}})[-1] == "widget_counts"


@pytest.mark.parametrize("args,message", [
    (["--metrics", "MISSING"], "--metrics MISSING: no such file"),
    (["--metrics", "NOTPARQUET"], "not a parquet table"),
    (["--metrics", "WRONG"], "--metrics WRONG: not a metrics table (figure bias_variance): no column sweep"),
    (["--metrics", "GOOD", "--curves", "GOOD"], "--curves: not a table of figure bias_variance; it takes --metrics"),
    ([], "figure bias_variance needs the metrics table: give --metrics PATH"),
])
def test_pgexp_plot_refuses_bad_tables_in_one_line(args, message, synthetic, tmp_path, capsys):
    write_frame(synthetic["metrics"], tmp_path / "good.parquet", {})
    write_frame(synthetic["learning_curves"], tmp_path / "wrong.parquet", {})
    (tmp_path / "notparquet.parquet").write_text("env_name,estimator\n")
    paths = {"MISSING": tmp_path / "missing.parquet", "NOTPARQUET": tmp_path / "notparquet.parquet",
             "WRONG": tmp_path / "wrong.parquet", "GOOD": tmp_path / "good.parquet"}
    args = [str(paths.get(a, a)) for a in args]
    message = message.replace("MISSING", str(paths["MISSING"])).replace("WRONG", str(paths["WRONG"]))
    assert main(["plot", "bias_variance", *args, "--output", str(tmp_path / "out" / "b.pdf")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_performance_profiles_draw_every_arm_with_its_band_on_one_environment():
    """One training environment (the ``.test`` study's): every arm drawn, its band filled, the axes the
    fraction's whole range [0, 1] and τ's; fit to print."""
    prof = make_training_tables(envs=("corridor",))["profiles"]
    fig = FIGURES["performance_profiles"].make({"profiles": prof})
    ax = fig.get_axes()[0]
    arms = prof.groupby(["estimator", "baseline"]).ngroups
    assert len(ax.collections) == arms  # one band each
    assert ax.get_xlim() == (0.0, 1.0) and ax.get_ylim()[0] < 0 < 1 < ax.get_ylim()[1]
    assert "one environment" in ax.get_title()
    assert not all_problems(fig)
