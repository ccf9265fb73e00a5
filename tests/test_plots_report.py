"""The HTML report (pgexp.report.html) on a synthetic study, with its figures drawn from the registry.

The fixture mimics a real study: two environments, seven estimator~baseline pairs, a horizon sweep
at N = 32 and a batch sweep at H = 20 meeting at the reference cell (H = 20, N = 32, sweep "both").
Per-trajectory variance grows as H^3 for REINFORCE, H^2 for reward-to-go, about H for the
advantage-based estimators; GAE and actor-critic are biased (and claimed so).
"""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest

from pgexp.figures import FIGURES
from pgexp.io import read_frame, save_figure, write_frame
from pgexp.report import html as report

HORIZONS = (5, 10, 20, 40, 80)
BATCHES = (8, 32, 128, 512)
REF_H, REF_N = 20, 32
ENVS = {  # env_name -> (spec, dim, scale)
    "corridor": ("short_corridor", 2, 1.0),
    "garnet": ("garnet:actions=4,branching=3,seed=0,states=20", 80, 4.0),
}
# (estimator, baseline) -> (variance exponent, constant, unbiased, bias_sq per step)
PAIRS = {
    ("reinforce", "none"): (3.0, 0.5, True, 0.0),
    ("reinforce", "value_exact"): (2.7, 0.2, True, 0.0),
    ("reward_to_go", "none"): (2.0, 0.6, True, 0.0),
    ("reward_to_go", "value_exact"): (1.8, 0.15, True, 0.0),
    ("advantage_exact", "none"): (1.0, 0.3, True, 0.0),
    ("gae", "value_exact"): (1.1, 0.08, False, 0.002),
    ("actor_critic", "none"): (1.0, 0.05, False, 0.004),
}
REPLICATES = 200


def _row(env_name: str, est: str, base: str, H: int, N: int, sweep: str, rng: np.random.Generator) -> dict:
    spec, dim, scale = ENVS[env_name]
    p, c, unbiased, b = PAIRS[(est, base)]
    var = scale * c * H**p * float(np.exp(rng.normal(0, 0.04)))
    tc = var / N
    bias = b * H * scale + (rng.normal(0, 0.3) * tc / np.sqrt(REPLICATES))
    g2 = 0.05 * H * scale  # ||grad J||^2
    mse = max(bias, 0.0) + tc
    rel = mse / g2
    cos = float(1 / np.sqrt(1 + rel))
    z = abs(rng.normal(0, 1)) + 1.0 if b == 0 else 6.0 + 40 * np.sqrt(b * H * scale / (tc / REPLICATES)) / 10
    row = dict(env=spec, env_name=env_name, theta_name="init", features="onehot", policy="softmax_linear",
               theta="random:seed=0,scale=0.5", gamma=1.0, horizon=H, dim=dim, estimator=est, baseline=base,
               lam=0.95 if est == "gae" else np.nan, batch_size=N, replicates=REPLICATES, seed=0, unbiased=unbiased,
               J_exact=-3.2, J_star=-1.1, env_steps_mean=0.8 * H, batch_return_mean=-3.3, bias_max_z=float(z),
               grad_norm_exact=float(np.sqrt(g2)), mean_grad_norm=float(np.sqrt(g2 + tc)), confidence=0.95,
               sweep=sweep)
    w = 1.96 * np.sqrt(2 / REPLICATES)  # relative CI half-width of a variance
    for m, v, rel_w in (("bias_sq", bias, None), ("trace_cov", tc, w), ("var_per_traj", var, w), ("mse", mse, w),
                        ("rel_mse", rel, w), ("cosine", cos, None), ("snr", g2 / tc, w)):
        row[m] = v
        if m == "bias_sq":
            half = 2.0 * tc / np.sqrt(REPLICATES)
            row[f"{m}_lo"], row[f"{m}_hi"] = v - half, v + half
        elif m == "cosine":
            half = 0.02 * (1 - cos) + 0.002
            row[f"{m}_lo"], row[f"{m}_hi"] = max(-1.0, cos - half), min(1.0, cos + half)
        else:
            row[f"{m}_lo"], row[f"{m}_hi"] = v * (1 - rel_w), v * (1 + rel_w)
    return row


def make_metrics(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for env_name in ENVS:
        for est, base in PAIRS:
            for H in HORIZONS:
                rows.append(_row(env_name, est, base, H, REF_N, "both" if H == REF_H else "horizon", rng))
            for N in BATCHES:
                if N != REF_N:
                    rows.append(_row(env_name, est, base, REF_H, N, "batch", rng))
    return pd.DataFrame(rows)


def make_slopes(metrics: pd.DataFrame) -> pd.DataFrame:
    rows = []
    hs = metrics[metrics["sweep"].isin(["horizon", "both"])]
    for (env_name, est, base), g in hs.groupby(["env_name", "estimator", "baseline"], sort=False):
        x, y = np.log(g["horizon"].to_numpy(float)), np.log(g["var_per_traj"].to_numpy(float))
        slope, intercept = np.polyfit(x, y, 1)
        resid = y - (intercept + slope * x)
        se = np.sqrt(resid @ resid / (len(x) - 2) / ((x - x.mean()) @ (x - x.mean())))
        half = max(4.3 * se, 0.04)  # t_{0.975, 3} ~ 3.18, widened a little
        rows.append(dict(env_name=env_name, env=g["env"].iloc[0], theta_name="init", estimator=est, baseline=base,
                         batch_size=REF_N, seed=0, slope=slope, slope_lo=slope - half, slope_hi=slope + half,
                         intercept=intercept, n_horizons=len(x), h_min=int(g["horizon"].min()),
                         h_max=int(g["horizon"].max())))
    return pd.DataFrame(rows)


def make_exact(metrics: pd.DataFrame) -> pd.DataFrame:
    hs = metrics[metrics["sweep"].isin(["horizon", "both"]) & (metrics["estimator"] == "reinforce")]
    rows = []
    for (env_name, est, base), _ in hs.groupby(["env_name", "estimator", "baseline"]):
        _, _, scale = ENVS[env_name]
        p, c, _, _ = PAIRS[(est, base)]
        for H in np.geomspace(HORIZONS[0], HORIZONS[-1], 9):
            rows.append(dict(env_name=env_name, estimator=est, baseline=base, horizon=float(H),
                             var_per_traj_exact=scale * c * H**p))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """The synthetic tables, round-tripped through parquet like the pipeline's outputs."""
    d = tmp_path_factory.mktemp("tables")
    metrics = make_metrics()
    write_frame(metrics, d / "metrics.parquet", {"kind": "metrics"})
    write_frame(make_slopes(metrics), d / "slopes.parquet", {"kind": "slopes"})
    metrics = read_frame(d / "metrics.parquet")
    return {"metrics": metrics, "slopes": read_frame(d / "slopes.parquet"), "exact": make_exact(metrics)}


@pytest.fixture(scope="module")
def figures(tables, tmp_path_factory) -> dict[str, str]:
    """The estimation figures, drawn from the registry and saved (PDF + PNG)."""
    d = tmp_path_factory.mktemp("figures")
    out = {}
    for name, spec in FIGURES.items():
        if spec.section == "estimation":
            save_figure(spec.make(tables), d / f"{name}.pdf")
            out[name] = str(d / f"{name}.pdf")
    return out


# ---------------------------------------------------------------------------------------- report

PROVENANCE = {"pgexp_version": "0.1.0", "libraries": {"numpy": "1.26.4", "pandas": "2.2.0"},
              "config_hash": "cafef00d1234", "created": "2024-05-01T12:00:00"}
CONFIG = {"study": "synthetic", "envs": {n: {"env": s} for n, (s, _, _) in ENVS.items()},
          "horizons": list(HORIZONS), "batch_sizes": list(BATCHES), "note": "<script>alert(1)</script>"}


def _build(tmp_path, tables, figures, **kw) -> str:
    out = tmp_path / "report.html"
    report.build_report(config=CONFIG, metrics=tables["metrics"], slopes=tables["slopes"], figures=figures,
                        provenance=PROVENANCE, output=out, **kw)
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
    return out.read_text(encoding="utf-8")


def test_findings_content(tables):
    text = report.findings(tables["metrics"], tables["slopes"])
    joined = "\n".join(text)
    for env in ENVS:
        assert f"{env}: REINFORCE (reinforce~none) variance slope" in joined
        assert any(s.startswith(f"{env}: at the reference cell (H = 20, N = 32) the lowest per-trajectory variance is")
                   for s in text)
        assert any(f"{env}: at the largest batch size (N = 512" in s for s in text)
    assert joined.count("consistent with H³") >= 2
    assert "actor_critic~none" in joined and "as expected" in joined  # biased and claimed biased
    assert "WARNING" not in joined
    # the lowest-variance pair and the factor versus reinforce~none come from the table
    ref = tables["metrics"][(tables["metrics"]["sweep"] == "both") & (tables["metrics"]["env_name"] == "corridor")]
    best = ref.loc[ref["var_per_traj"].idxmin()]
    base = ref[(ref["estimator"] == "reinforce") & (ref["baseline"] == "none")].iloc[0]
    line = next(s for s in text if s.startswith("corridor: at the reference cell"))
    assert f"{best['estimator']}~{best['baseline']}" in line
    assert f"{report._fmt(base['var_per_traj'] / best['var_per_traj'])}×" in line
    assert "(biased by construction)" in line  # actor-critic is the lowest-variance pair in the fixture
    assert any(s.startswith("corridor: among the estimators claimed unbiased, the lowest per-trajectory variance at the "
                            "reference cell is advantage_exact~none") for s in text)


def test_findings_disagreement_and_warning(tables):
    slopes = tables["slopes"].copy()
    i = slopes.index[(slopes["env_name"] == "garnet") & (slopes["estimator"] == "reinforce")
                     & (slopes["baseline"] == "none")][0]
    slopes.loc[i, ["slope", "slope_lo", "slope_hi"]] = [2.1, 2.0, 2.2]
    metrics = tables["metrics"].copy()
    j = metrics.index[(metrics["env_name"] == "corridor") & (metrics["estimator"] == "reward_to_go")
                      & (metrics["baseline"] == "none") & (metrics["horizon"] == 40)][0]
    metrics.loc[j, "bias_max_z"] = 57.0
    text = report.findings(metrics, slopes)
    assert "garnet: REINFORCE (reinforce~none) disagrees with the lecture's H³ claim: measured 2.10 [2.00, 2.20]" \
        in "\n".join(text)
    warn = [s for s in text if s.startswith("WARNING")]
    assert len(warn) == 1 and "reward_to_go~none" in warn[0] and "claimed unbiased" in warn[0] and "57" in warn[0]


def test_findings_empty_tables():
    assert report.findings(pd.DataFrame(), pd.DataFrame()) == []


def test_report(tables, figures, tmp_path):
    extra = [("Notes & caveats", "<p>hand-written <em>note</em></p>")]
    page = _build(tmp_path, tables, figures, extra_sections=extra)
    assert page.startswith("<!DOCTYPE html>")
    # every figure embedded as a base64 PNG, with its caption
    imgs = re.findall(r'<img[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(imgs) == len(figures)
    for name in figures:
        assert f'id="fig-{name}"' in page
    assert html.escape(FIGURES["bias_variance"].caption[:40]) in page
    # findings sentences (escaped), slope numbers, tables, provenance, extra section before provenance
    for sentence in report.findings(tables["metrics"], tables["slopes"]):
        assert html.escape(sentence) in page
    s = tables["slopes"]
    r = s[(s["env_name"] == "corridor") & (s["estimator"] == "reinforce") & (s["baseline"] == "none")].iloc[0]
    assert f"{r['slope']:.2f} [{r['slope_lo']:.2f}, {r['slope_hi']:.2f}]" in page
    assert "cafef00d1234" in page and "1.26.4" in page and "2024-05-01" in page and "0.1.0" in page
    assert page.index("Notes &amp; caveats") < page.index("Provenance")
    assert "<p>hand-written <em>note</em></p>" in page
    assert "<script>" not in page and "&lt;script&gt;" in page  # config text is escaped
    assert "garnet:actions=4,branching=3,seed=0,states=20" in page
    # self-contained: no external resources in src/href
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert "<link" not in page and "@import" not in page and "url(" not in page


def test_report_follows_the_tables(tables, figures, tmp_path):
    before = _build(tmp_path, tables, figures)
    slopes = tables["slopes"].copy()
    i = slopes.index[(slopes["env_name"] == "corridor") & (slopes["estimator"] == "reinforce")
                     & (slopes["baseline"] == "none")][0]
    slopes.loc[i, ["slope", "slope_lo", "slope_hi"]] = [1.23, 1.11, 1.35]
    metrics = tables["metrics"].copy()
    metrics.loc[metrics["estimator"] == "reinforce", "bias_max_z"] = 1e3
    after = _build(tmp_path, {**tables, "slopes": slopes, "metrics": metrics}, figures)
    assert before != after
    assert "1.23 [1.11, 1.35]" in after and "1.23 [1.11, 1.35]" not in before
    assert "disagrees with the lecture&#x27;s H³ claim: measured 1.23 [1.11, 1.35]" in after
    assert "WARNING corridor: reinforce~none is claimed unbiased" in after
    assert 'class="warning"' in after and 'class="warning"' not in before


def test_report_missing_png_raises(tables, tmp_path):
    with pytest.raises(FileNotFoundError):
        _build(tmp_path, tables, {"variance_vs_horizon": tmp_path / "nope.pdf"})
